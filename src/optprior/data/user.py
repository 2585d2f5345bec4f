"""A user's own multi-task data in one ``.npz`` file (``X`` and optional ``s``), and a
validation split that keeps every task in training."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np


def read_npz(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """``(X, s)`` from ``path``; images (N, H, W[, C]) are flattened to (N, D).

    ``s`` (task indices) is None where the file lacks it; other arrays are not read.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no data file at {path}")
    try:
        arrays = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise ValueError(f"{path} is not a readable .npz file ({error})") from None
    if not isinstance(arrays, np.lib.npyio.NpzFile):
        raise ValueError(f"{path} holds a single array, not an .npz file with X and s")
    with arrays:
        if "X" not in arrays:
            raise ValueError(f"{path} has no array 'X' (found: {sorted(arrays.files)})")
        x = arrays["X"]
        s = arrays["s"] if "s" in arrays else None
    if x.ndim > 2:
        x = x.reshape(len(x), -1)
    return x, s


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
