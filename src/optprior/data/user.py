"""A user's own multi-task data in one ``.npz`` file (``X``, optional ``s`` and ``y``), its
validation split that keeps every task in training, and its train/val/test splits for
``optprior compare``."""

from __future__ import annotations

import inspect
import os
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from sklearn.preprocessing import StandardScaler

from optprior._validation import check_data, check_tasks, fraction, non_whole, whole_number
from optprior.data.integrity import remembered_digests
from optprior.data.settings import MultiTaskData, TaskSplit

#: Seed of the test split of ``own_data_setting``: the same test points for every run.
TEST_SPLIT_SEED = 0


class NpzArrays(NamedTuple):
    """``X`` (N, D), task indices ``s`` (N,) or None, labels ``y`` (N,) or None, and the
    shape of one row before flattening (``(D,)`` for vectors, ``(H, W[, C])`` for images)."""

    X: np.ndarray
    s: np.ndarray | None
    y: np.ndarray | None
    shape: tuple[int, ...]


class UnreadArraysWarning(UserWarning):
    """An .npz file holds arrays that ``read_npz`` does not read (a misnamed ``s``?)."""


def read_npz(path: str | os.PathLike) -> NpzArrays:
    """The arrays of ``path``; images (N, H, W[, C]) are flattened to (N, D).

    ``s`` (task indices) and ``y`` (class labels) are None where the file lacks them;
    other arrays are not read, with a warning naming them (a misnamed ``s`` or ``y``
    would otherwise leave one task, or no labels, without a word).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no data file at {path}")
    try:
        arrays = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        try:
            with path.open("rb") as head:
                zipped = head.read(4) == b"PK\x03\x04"  # numpy's own guess: pickled data
        except OSError:
            zipped = True  # unreadable: numpy's error says why
        if not zipped:
            raise ValueError(
                f"{path} is not an .npz file: numpy.savez(path, X=..., s=...) writes one"
            ) from None
        raise ValueError(f"{path} is not a readable .npz file ({error})") from None
    if not isinstance(arrays, np.lib.npyio.NpzFile):
        raise ValueError(f"{path} holds a single array, not an .npz file with X and s")
    with arrays:
        if "X" not in arrays:
            raise ValueError(f"{path} has no array 'X' (found: {sorted(arrays.files)})")
        x = _array(arrays, "X", path)
        s = _array(arrays, "s", path) if "s" in arrays else None
        y = _array(arrays, "y", path) if "y" in arrays else None
        others = sorted(set(arrays.files) - {"X", "s", "y"})
    if others:
        warnings.warn(
            f"{path}: arrays {others} are not read; task indices go in an array named 's' "
            "and class labels in 'y'",
            UnreadArraysWarning,
            stacklevel=2,
        )
    if x.ndim == 0 or len(x) == 0:
        raise ValueError(f"{path}: X of shape {x.shape} holds no points (one row per point)")
    shape = tuple(x.shape[1:])
    if x.ndim > 2:
        x = x.reshape(len(x), -1)
    return NpzArrays(x, s, y, shape)


def _array(arrays: np.lib.npyio.NpzFile, name: str, path: Path) -> np.ndarray:
    """Array ``name`` of the open file; one that only pickle could read (an array of
    Python objects), or whose bytes are damaged (a CRC or zlib error), is refused by name."""
    try:
        return arrays[name]
    except ValueError as error:
        raise ValueError(
            f"{path}: array {name!r} cannot be read ({error}); store numbers, not objects"
        ) from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as error:
        raise ValueError(
            f"{path}: array {name!r} is damaged ({type(error).__name__}: {error}); write "
            "the file again (numpy.savez) or restore a good copy"
        ) from None


def file_tasks(arrays: NpzArrays, n_points: int, file: str | os.PathLike) -> np.ndarray:
    """The task indices (n_points,) of a file's arrays (all 0 without ``s``), checked
    (``check_tasks``) and numbered 0..K-1 without a gap: ``ValueError`` names the
    indices skipped."""
    if arrays.s is None:
        return np.zeros(n_points, np.int64)
    s = check_tasks(arrays.s, n_points)
    used = np.unique(s)
    if used.size and used[-1] + 1 > used.size:  # the first 10 gaps lie below used.size + 10
        skipped = np.setdiff1d(np.arange(min(used[-1], used.size + 10)), used)
        count = used[-1] + 1 - used.size
        listed = skipped[:10].tolist() + (["..."] if count > 10 else [])
        raise ValueError(
            f"s in {file} skips {count} task indices {listed} of 0..{used[-1]}: number the "
            f"{used.size} tasks 0..{used.size - 1}, e.g. with np.unique(s, return_inverse=True)[1]"
        )
    return s


def split_by_task(s: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train, validation) indices: a seeded ``val_fraction`` of each task's points
    held out, but never a task's last training point, so every task is seen in training."""
    rng = np.random.default_rng(seed)
    held_out = []
    for task in np.unique(s):
        members = rng.permutation(np.flatnonzero(s == task))
        held_out.append(members[: min(round(val_fraction * len(members)), len(members) - 1)])
    val = np.sort(np.concatenate(held_out)) if held_out else np.zeros(0, dtype=np.int64)
    return np.setdiff1d(np.arange(len(s)), val), val


def sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of the bytes of ``path`` (hashed once per path, size and modification
    time in a process)."""
    return remembered_digests(Path(path))[1]


def _labels(y: np.ndarray, n_points: int) -> np.ndarray:
    """Class labels ``y`` as int64 (N,), -1 for unlabelled points; whole floats and
    booleans (0 and 1) are taken."""
    if y.dtype.kind == "b":
        y = y.astype(np.int64)
    numeric = y.dtype.kind in "iuf" and y.shape == (n_points,)
    if not numeric or non_whole(y).any() or y.min() < -1:
        raise ValueError(
            f"y must hold a whole class label per point ({n_points},), -1 where a point has "
            f"none; got dtype {y.dtype}, shape {y.shape}"
            + (
                " (number named labels, e.g. with np.unique(y, return_inverse=True)[1])"
                if y.dtype.kind in "USO"
                else ""
            )
        )
    if y.size and y.max() >= 2**63:  # would wrap round to a negative int64: unlabelled
        row = int(np.argmax(y))
        raise ValueError(
            f"y holds {y[row].item()!r} in row {row}, too large for a class label: number "
            "the classes 0..C-1, e.g. with np.unique(y, return_inverse=True)[1]"
        )
    return y.astype(np.int64)


def standardized(x: np.ndarray, fitted_on: np.ndarray) -> np.ndarray:
    """``x`` (N, D) with each feature shifted and scaled to mean 0 and standard deviation
    1 over the rows ``fitted_on`` (``StandardScaler``: a constant feature only shifted),
    float32."""
    scaler = StandardScaler().fit(x[fitted_on].astype(np.float64))
    return scaler.transform(x.astype(np.float64)).astype(np.float32)


#: Test points each task needs: the task probe is cross-validated over 5 folds.
MIN_TEST_POINTS = 5


def own_data_setting(
    name: str,
    seed: int,
    *,
    file: str,
    sha256_digest: str | None = None,
    likelihood: str = "bernoulli",
    test_fraction: float = 0.2,
    val_fraction: float = 0.1,
    target_task: int | None = None,
    standardize: bool = False,
) -> MultiTaskData:
    """The data of ``file`` (``read_npz``) as a setting named ``name``.

    A ``test_fraction`` of each task is the test split, drawn with ``TEST_SPLIT_SEED`` so
    that every seed and method is scored on the same points; a ``val_fraction`` of each
    task's rest, drawn with ``seed``, is the validation split (0: none). Neither ever
    takes a task's last point, and each task needs ``MIN_TEST_POINTS`` test points. ``y``
    (-1: unlabelled) feeds the downstream accuracy. ``target_task``: the one task scored
    (default: every task). ``sha256_digest``, if given, must match the file (the runs of a
    folder were made from it). ``standardize`` (Gaussian likelihood only): each feature
    to mean 0 and standard deviation 1 over the points outside the test split (the same
    for every seed; the test points are not looked at), a constant feature centred only;
    ln p(x|s) is then of the standardised data, Σ_d ln σ_d above that in the file's units
    for every method and seed alike.
    """
    seed = whole_number(seed, "seed", 0)
    if sha256_digest is not None and sha256(file) != sha256_digest:
        raise ValueError(
            f"the data file {file} has changed since these runs were planned (SHA-256 "
            f"{sha256_digest} expected): restore it or write the runs to a new --out folder"
        )
    if not isinstance(standardize, bool | np.bool_):
        raise ValueError(f"standardize must be true or false, got {standardize!r}")
    if standardize and likelihood != "gaussian":
        raise ValueError(
            "standardize (--standardize) goes with the Gaussian likelihood: Bernoulli data "
            "stay in [0, 1]"
        )
    test_fraction = fraction(test_fraction, "test_fraction (--test-fraction)", False)
    val_fraction = fraction(val_fraction, "val_fraction (--val-fraction)")
    arrays = read_npz(file)
    x = check_data(arrays.X, "X", bernoulli=likelihood == "bernoulli")
    s = file_tasks(arrays, len(x), file)
    y = np.full(len(x), -1, np.int64) if arrays.y is None else _labels(arrays.y, len(x))
    counts = np.bincount(s)
    if target_task is not None:
        target_task = whole_number(target_task, "target_task (--target-task)", 0)
        if target_task >= len(counts):
            raise ValueError(
                f"target_task {target_task} is not a task of {file} (0..{len(counts) - 1})"
            )
    rest, test = split_by_task(s, test_fraction, TEST_SPLIT_SEED)
    short = np.bincount(s[test], minlength=len(counts)) < MIN_TEST_POINTS
    if short.any():
        raise ValueError(
            f"task(s) {np.flatnonzero(short).tolist()} of {file} get fewer than "
            f"{MIN_TEST_POINTS} test points at test_fraction {test_fraction} (task sizes "
            f"{counts.tolist()}): raise --test-fraction, or give those tasks more points"
        )
    train, val = (rest[i] for i in split_by_task(s[rest], val_fraction, seed))
    if standardize:
        x = standardized(x, rest)

    def split(index: np.ndarray) -> TaskSplit:
        return TaskSplit(x[index], s[index], y[index], index)

    return MultiTaskData(
        name=name,
        seed=seed,
        train=split(train),
        val=split(val),
        test=split(test),
        tasks=tuple(f"task-{k}" for k in range(len(counts))),
        image_shape=arrays.shape,
        likelihood=likelihood,
        target_task=target_task,
    )


def own_data_options() -> dict[str, Any]:
    """The data options of ``own_data_setting`` with their defaults (None for ``file``);
    ``likelihood`` is the model's."""
    parameters = inspect.signature(own_data_setting).parameters.values()
    return {
        p.name: None if p.default is inspect.Parameter.empty else p.default
        for p in parameters
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name != "likelihood"
    }
