"""A user's own multi-task data in one ``.npz`` file: ``X``, optional ``s`` and ``y``."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np


def read_npz(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``(X, s, y)`` from ``path``; images (N, H, W[, C]) are flattened to (N, D).

    ``s`` (task indices) and ``y`` (labels) are None where the file lacks them.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no data file at {path}")
    try:
        arrays = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise ValueError(f"{path} is not a readable .npz file ({error})") from None
    if not isinstance(arrays, np.lib.npyio.NpzFile):
        raise ValueError(f"{path} holds a single array, not an .npz file with X, s and y")
    with arrays:
        if "X" not in arrays:
            raise ValueError(f"{path} has no array 'X' (found: {sorted(arrays.files)})")
        x = arrays["X"]
        s = arrays["s"] if "s" in arrays else None
        y = arrays["y"] if "y" in arrays else None
    if x.ndim > 2:
        x = x.reshape(len(x), -1)
    return x, s, y
