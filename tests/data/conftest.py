"""Fixtures of the data tests: the staged real data, no network, and writers of small files
in each distributed format."""

from __future__ import annotations

import bz2
import gzip
import struct
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
from helpers import DATA_ROOT


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Never download in tests, unless a test passes ``download=True`` itself."""
    monkeypatch.setenv("OPTPRIOR_NO_DOWNLOAD", "1")


@pytest.fixture(scope="session")
def shared() -> Path:
    """The real data root (``helpers.DATA_ROOT``: $OPTPRIOR_DATA, else the user cache)."""
    return DATA_ROOT


def need(*relative: str) -> None:
    """Skip the test unless every staged file ``relative`` (to the shared root) exists."""
    for rel in relative:
        if not (DATA_ROOT / rel).is_file():
            pytest.skip(f"staged file {DATA_ROOT / rel} is absent (set OPTPRIOR_DATA to add it)")


@pytest.fixture(scope="session")
def require() -> Callable[..., None]:
    """``require("mnist/t10k-labels-idx1-ubyte.gz", ...)`` skips unless those files exist."""
    return need


class Fakes:
    """Writers of small files in the exact formats of the real ones."""

    @staticmethod
    def idx(path: Path, array: np.ndarray, magic: int | None = None) -> Path:
        """A gzip IDX file of a uint8 array (magic 0x0800 | ndim unless given)."""
        magic = 0x0800 | array.ndim if magic is None else magic
        header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wb") as f:
            f.write(header + array.astype(np.uint8).tobytes())
        return path

    @staticmethod
    def mnist(directory: Path, n: int = 6, prefix: str = "t10k") -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(1)
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 10
        Fakes.idx(directory / f"{prefix}-images-idx3-ubyte.gz", images)
        Fakes.idx(directory / f"{prefix}-labels-idx1-ubyte.gz", labels)
        return images, labels

    @staticmethod
    def mat(path: Path, **variables: object) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        scipy.io.savemat(path, variables)
        return path

    @staticmethod
    def svhn(path: Path, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """SVHN layout: X (32, 32, 3, N) uint8, y (N, 1) in 1..10. Returns (N,32,32,3), 0..9."""
        rng = np.random.default_rng(seed)
        images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        digits = np.arange(n) % 10
        y = np.where(digits == 0, 10, digits).astype(np.uint8)[:, None]
        Fakes.mat(path, X=images.transpose(1, 2, 3, 0), y=y)
        return images, digits

    @staticmethod
    def syn_number(path: Path, n_train: int, n_test: int, svhn_layout: bool = False) -> dict:
        """Digit-Five ``syn_number.mat``: <split>_data (N, 32, 32, 3), <split>_label (N, 1)."""
        rng = np.random.default_rng(2)
        content, expected = {}, {}
        for split, n in (("train", n_train), ("test", n_test)):
            images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
            labels = (np.arange(n) % 10).astype(np.uint8)
            content[f"{split}_data"] = images.transpose(1, 2, 3, 0) if svhn_layout else images
            content[f"{split}_label"] = labels[:, None]
            expected[split] = (images, labels)
        Fakes.mat(path, **content)
        return expected

    @staticmethod
    def usps_h5(path: Path, n_train: int = 30, n_test: int = 12) -> dict:
        rng = np.random.default_rng(3)
        expected = {}
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "w") as f:
            for split, n in (("train", n_train), ("test", n_test)):
                data = rng.random((n, 256), dtype=np.float32)
                target = (np.arange(n) % 10).astype(np.int32)
                f.create_dataset(f"{split}/data", data=data)
                f.create_dataset(f"{split}/target", data=target)
                expected[split] = (data.reshape(-1, 16, 16), target)
        return expected

    @staticmethod
    def libsvm(path: Path, values: np.ndarray, labels: np.ndarray) -> Path:
        """bz2 libsvm text; zero features are omitted as libsvm does."""
        lines = []
        for row, label in zip(values, labels, strict=True):
            features = " ".join(f"{i + 1}:{v:.6f}" for i, v in enumerate(row) if v != 0)
            lines.append(f"{label} {features}\n")
        path.parent.mkdir(parents=True, exist_ok=True)
        with bz2.open(path, "wt") as f:
            f.writelines(lines)
        return path

    @staticmethod
    def frey(path: Path, n: int = 20) -> np.ndarray:
        """``ff`` (560, N): one row-major 28x20 frame per column. Returns (N, 28, 20)."""
        frames = np.random.default_rng(4).integers(0, 256, (n, 28, 20), dtype=np.uint8)
        Fakes.mat(path, ff=frames.reshape(n, -1).T)
        return frames

    @staticmethod
    def olivetti(path: Path, subjects: int = 3) -> np.ndarray:
        """``faces`` (4096, N): one column-major 64x64 image per column. Returns (N, 64, 64)."""
        n = 10 * subjects
        images = np.random.default_rng(5).integers(0, 243, (n, 64, 64), dtype=np.uint8)
        Fakes.mat(path, faces=np.stack([im.ravel(order="F") for im in images], axis=1))
        return images

    @staticmethod
    def umist_cropped(path: Path, counts: tuple[int, ...] = (3, 1, 2)) -> np.ndarray:
        """``facedat`` 1 x K cell array of uint8 112 x 92 x N_k stacks. Returns (N, 112, 92)."""
        rng = np.random.default_rng(6)
        images = rng.integers(0, 256, (sum(counts), 112, 92), dtype=np.uint8)
        cells = np.empty((1, len(counts)), dtype=object)
        start = 0
        for k, count in enumerate(counts):
            stack = images[start : start + count].transpose(1, 2, 0)
            cells[0, k] = stack[:, :, 0] if count == 1 else stack  # as MATLAB saves it
            start += count
        Fakes.mat(path, facedat=cells)
        return images

    @staticmethod
    def umist_32(path: Path, counts: tuple[int, ...] = (3, 2)) -> np.ndarray:
        """``X`` (N, 1024) column-major 32x32 rows, ``Y`` (N, 1) subjects 1..K."""
        n = sum(counts)
        images = np.random.default_rng(7).integers(0, 256, (n, 32, 32), dtype=np.uint8)
        y = np.repeat(np.arange(1, len(counts) + 1), counts).astype(np.uint8)[:, None]
        Fakes.mat(path, X=np.stack([im.ravel(order="F") for im in images]), Y=y)
        return images


@pytest.fixture(scope="session")
def fakes() -> type[Fakes]:
    return Fakes
