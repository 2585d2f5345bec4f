"""Parsers for the dataset files in the formats in which they are distributed.

Every reader returns ``(images, labels)``:

- ``images``: the stored pixel values, either uint8 in 0..255 or float32 in [0, 1], shape
  (N, H, W) for grey images or (N, H, W, 3) for RGB, upright (row 0 is the top of the image);
- ``labels``: int64 (N,): digits 0..9, subjects 0..K-1, or -1 where there are none (Frey).

A file that cannot be parsed or has an unexpected layout raises :class:`CorruptDatasetError`
naming it; no raw numpy/scipy/h5py exception escapes.
"""

from __future__ import annotations

import bz2
import gzip
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np
import scipy.io

from optprior._validation import non_whole
from optprior.data.errors import CorruptDatasetError

Arrays = tuple[np.ndarray, np.ndarray]

_PARSE_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    NotImplementedError,
    OverflowError,
    MemoryError,  # a corrupt header announcing an array of terabytes (MAT v4)
    scipy.io.matlab.MatReadError,
    struct.error,
    zlib.error,
)
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_IMAGES, _IDX_LABELS = 2051, 2049


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn low-level parse failures into a CorruptDatasetError naming ``path``."""
    try:
        yield
    except CorruptDatasetError:
        raise
    except _PARSE_ERRORS as exc:
        raise CorruptDatasetError(path, f"{type(exc).__name__}: {exc}") from exc


def _check(condition: bool, path: Path, reason: str) -> None:
    if not condition:
        raise CorruptDatasetError(path, reason)


def _mat_vars(path: Path, *names: str) -> dict[str, np.ndarray]:
    """The variables ``names`` of the MATLAB v4-v7.2 file ``path``."""
    with _reading(path):
        content = scipy.io.loadmat(path, variable_names=names)
    missing = [n for n in names if n not in content]
    _check(not missing, path, f"missing MATLAB variable(s) {missing}")
    return {n: content[n] for n in names}


def _whole_numbers(raw: np.ndarray, path: Path, what: str) -> np.ndarray:
    """``raw`` flattened as int64, where every value is a whole number (a label of 3.7 or
    inf is refused, not truncated)."""
    values = np.asarray(raw).ravel()
    if values.dtype.kind == "f":
        bad = non_whole(values) | (np.abs(values) >= 2**62)
        _check(not bad.any(), path, f"{what} must be whole numbers")
    return values.astype(np.int64)


def _digit_labels(raw: np.ndarray, n: int, path: Path, ten_is_zero: bool = False) -> np.ndarray:
    """Digit labels as int64 0..9; with ``ten_is_zero`` (SVHN's convention), 10 is
    digit 0."""
    labels = _whole_numbers(raw, path, "labels")
    _check(labels.size == n, path, f"{labels.size} labels for {n} images")
    if ten_is_zero:
        labels[labels == 10] = 0
    stored = "0..9 (10 meaning 0)" if ten_is_zero else "0..9"
    _check(bool(np.all((labels >= 0) & (labels <= 9))), path, f"digit labels outside {stored}")
    return labels


def _one_based(raw: np.ndarray, n: int, path: Path) -> np.ndarray:
    """Labels 1..K as int64 0..K-1."""
    labels = _whole_numbers(raw, path, "labels") - 1
    _check(labels.size == n, path, f"{labels.size} labels for {n} images")
    _check(labels.size == 0 or int(labels.min()) >= 0, path, "labels must start at 1")
    return labels


def _uint8(array: np.ndarray, path: Path, name: str) -> np.ndarray:
    _check(array.dtype == np.uint8, path, f"{name} has dtype {array.dtype}, expected uint8")
    return array


def read_idx(path: Path) -> np.ndarray:
    """The array of the gzip-compressed IDX file ``path``, validated against its header."""
    with _reading(path), gzip.open(path, "rb") as f:
        raw = f.read()
    _check(len(raw) >= 4 and raw[:2] == b"\0\0", path, "not an IDX file (bad magic number)")
    dtype, ndim = raw[2], raw[3]
    _check(dtype in _IDX_TYPES, path, f"unknown IDX data type 0x{dtype:02x}")
    header = 4 + 4 * ndim
    _check(len(raw) >= header, path, "IDX header truncated")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    itemsize = np.dtype(_IDX_TYPES[dtype]).itemsize
    expected = header + int(np.prod(shape, dtype=np.int64)) * itemsize
    _check(
        len(raw) == expected, path, f"IDX size {len(raw)} bytes, header {shape} implies {expected}"
    )
    return np.frombuffer(raw, _IDX_TYPES[dtype], offset=header).reshape(shape)


def _idx_magic(path: Path) -> int:
    with _reading(path), gzip.open(path, "rb") as f:
        head = f.read(4)
    _check(len(head) == 4, path, "IDX header truncated")
    return struct.unpack(">I", head)[0]


def read_mnist(images_path: Path, labels_path: Path) -> Arrays:
    """MNIST from its IDX files: uint8 (N, 28, 28) images 0..255, labels 0..9."""
    _check(
        _idx_magic(images_path) == _IDX_IMAGES,
        images_path,
        f"magic number is not {_IDX_IMAGES} (IDX uint8 images)",
    )
    _check(
        _idx_magic(labels_path) == _IDX_LABELS,
        labels_path,
        f"magic number is not {_IDX_LABELS} (IDX uint8 labels)",
    )
    images, labels = read_idx(images_path), read_idx(labels_path)
    _check(images.shape[1:] == (28, 28), images_path, f"images of shape {images.shape[1:]}")
    return images, _digit_labels(labels, len(images), labels_path)


def read_usps_h5(path: Path, split: str) -> Arrays:
    """USPS from ``usps.h5`` (group ``split``): float32 (N, 16, 16) in [0, 1], labels 0..9."""
    with _reading(path), h5py.File(path, "r") as f:
        data = np.asarray(f[split]["data"], dtype=np.float32)
        target = np.asarray(f[split]["target"])
    _check(data.ndim == 2 and data.shape[1] == 256, path, f"data of shape {data.shape}")
    _check(bool(np.all((data >= 0) & (data <= 1))), path, "values outside [0, 1]")
    return data.reshape(-1, 16, 16), _digit_labels(target, len(data), path)


def read_usps_libsvm(path: Path) -> Arrays:
    """USPS from libsvm ``usps.bz2``/``usps.t.bz2``: float32 (N, 16, 16) in [0, 1], labels 0..9.

    Stored values in [-1, 1] (absent features are 0) map to (x + 1) / 2; labels 1..10 to 0..9.
    """
    with _reading(path), bz2.open(path, "rt", encoding="ascii") as f:
        lines = [line.split() for line in f if line.strip()]
    values = np.zeros((len(lines), 256), dtype=np.float32)
    labels = np.empty(len(lines), dtype=np.float64)
    with _reading(path):
        for row, (label, *features) in enumerate(lines):
            labels[row] = float(label)
            pairs = np.array([token.split(":") for token in features], dtype=np.float64)
            if len(pairs):
                index = _whole_numbers(pairs[:, 0], path, f"line {row + 1}: feature indices")
                _check(
                    bool(np.all((index >= 1) & (index <= 256)))
                    and len(np.unique(index)) == len(index),
                    path,
                    f"line {row + 1}: feature indices must be distinct and within 1..256",
                )
                values[row, index - 1] = pairs[:, 1]
    _check(bool(np.all(np.abs(values) <= 1 + 1e-6)), path, "values outside [-1, 1]")
    images = np.clip((values + 1) / 2, 0, 1).reshape(-1, 16, 16)
    digits = _whole_numbers(labels, path, "labels") - 1
    _check(bool(np.all((digits >= 0) & (digits <= 9))), path, "labels outside 1..10")
    return images, digits


def read_svhn_mat(path: Path) -> Arrays:
    """SVHN-layout MAT file (SVHN, SynthDigits ``synth_*_32x32.mat``).

    ``X`` uint8 (32, 32, 3, N), ``y`` (N, 1) with 10 meaning digit 0. Returns uint8
    (N, 32, 32, 3) images 0..255 and labels 0..9.
    """
    content = _mat_vars(path, "X", "y")
    x = _uint8(content["X"], path, "X")
    _check(x.ndim == 4 and x.shape[:3] == (32, 32, 3), path, f"X of shape {x.shape}")
    images = np.ascontiguousarray(x.transpose(3, 0, 1, 2))
    return images, _digit_labels(content["y"], len(images), path, ten_is_zero=True)


def read_syn_number(path: Path, split: str) -> Arrays:
    """SynthDigits subset ``syn_number.mat`` (Digit-Five): uint8 (N, 32, 32, 3), labels 0..9.

    Variables ``<split>_data`` and ``<split>_label``. Assumed layout, as read by public
    Digit-Five loaders: images (N, 32, 32, 3); the SVHN layout (32, 32, 3, N) is accepted too.
    Labels (N,) or (N, 1), digits 0..9; 10 is read as 0 as in SVHN.
    """
    content = _mat_vars(path, f"{split}_data", f"{split}_label")
    x = _uint8(content[f"{split}_data"], path, f"{split}_data")
    if x.ndim == 4 and x.shape[1:] == (32, 32, 3):
        images = x
    elif x.ndim == 4 and x.shape[:3] == (32, 32, 3):
        images = np.ascontiguousarray(x.transpose(3, 0, 1, 2))
    else:
        raise CorruptDatasetError(path, f"{split}_data of shape {x.shape}")
    return images, _digit_labels(content[f"{split}_label"], len(images), path, ten_is_zero=True)


def read_frey(path: Path) -> Arrays:
    """Frey faces ``frey_rawface.mat``: uint8 (N, 28, 20) images, labels all -1 (none).

    ``ff`` is uint8 (560, N), one 28x20 frame per column in row-major order.
    """
    ff = _uint8(_mat_vars(path, "ff")["ff"], path, "ff")
    _check(ff.ndim == 2 and ff.shape[0] == 28 * 20, path, f"ff of shape {ff.shape}")
    images = np.ascontiguousarray(ff.T).reshape(-1, 28, 20)
    return images, np.full(len(images), -1, dtype=np.int64)


def read_olivetti(path: Path) -> Arrays:
    """Olivetti faces ``olivettifaces.mat``: uint8 (N, 64, 64) images, subject labels 0..N/10-1.

    ``faces`` is uint8 (4096, N), one column-major 64x64 image per column, 10 per subject in
    subject order. Values are 0..242 in the official file and are not rescaled.
    """
    faces = _uint8(_mat_vars(path, "faces")["faces"], path, "faces")
    _check(
        faces.ndim == 2 and faces.shape[0] == 64 * 64 and faces.shape[1] % 10 == 0,
        path,
        f"faces of shape {faces.shape}, expected (4096, 10 * subjects)",
    )
    images = np.ascontiguousarray(faces.T.reshape(-1, 64, 64).transpose(0, 2, 1))
    return images, np.repeat(np.arange(len(images) // 10, dtype=np.int64), 10)


def read_umist_cropped(path: Path) -> Arrays:
    """Original UMist ``umist_cropped.mat``: uint8 (N, 112, 92) images, subject labels 0..19.

    ``facedat`` is a 1 x K cell array; cell k is a uint8 112 x 92 x N_k stack of subject k.
    """
    cells = _mat_vars(path, "facedat")["facedat"]
    _check(cells.dtype == object and cells.size > 0, path, "facedat is not a cell array")
    stacks = []
    for cell in cells.ravel():
        stack = _uint8(np.asarray(cell), path, "facedat cell")
        if stack.ndim == 2:  # MATLAB drops the trailing singleton of a one-image stack
            stack = stack[:, :, None]
        _check(
            stack.ndim == 3 and stack.shape[:2] == (112, 92),
            path,
            f"facedat cell of shape {stack.shape}",
        )
        stacks.append(stack.transpose(2, 0, 1))
    labels = np.repeat(np.arange(len(stacks), dtype=np.int64), [len(s) for s in stacks])
    return np.ascontiguousarray(np.concatenate(stacks)), labels


def read_umist_32(path: Path) -> Arrays:
    """UMist downsampled to 32x32 (``UMIST.mat``): uint8 (N, 32, 32), subject labels 0..19.

    ``X`` is uint8 (N, 1024), each row a column-major 32x32 image; ``Y`` holds subjects 1..20.
    """
    content = _mat_vars(path, "X", "Y")
    x = _uint8(content["X"], path, "X")
    _check(x.ndim == 2 and x.shape[1] == 32 * 32, path, f"X of shape {x.shape}")
    images = np.ascontiguousarray(x.reshape(-1, 32, 32).transpose(0, 2, 1))
    return images, _one_based(content["Y"], len(images), path)
