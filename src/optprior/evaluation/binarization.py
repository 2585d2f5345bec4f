"""Fixed binarisations of [0, 1] data, so that Bernoulli scores of grey-level data are
comparable across models and runs: one draw over a whole data set (``binarized``, as the
reproduction binarises its validation and test sets once), or one draw per point that
depends on the point alone (``binarized_points``, as the estimators score)."""

from __future__ import annotations

import hashlib

import numpy as np

#: Seed of the fixed binarisation of Bernoulli validation and test data (the same for
#: every model and run).
BINARIZATION_SEED = 12345


def binarized(x: np.ndarray, seed: int = BINARIZATION_SEED) -> np.ndarray:
    """One fixed Bernoulli draw per entry of [0, 1] data: (N, D) -> (N, D) float32 in
    {0, 1}. Binary data come back unchanged. A row's draw depends on its position in
    ``x``; ``binarized_points`` does not."""
    return (np.random.default_rng(seed).random(x.shape) < x).astype(np.float32)


def binarized_points(x: np.ndarray, seed: int = BINARIZATION_SEED) -> np.ndarray:
    """One fixed Bernoulli draw per entry of [0, 1] data, each row's drawn from a stream
    keyed by ``seed`` and the row's float32 values, so that a point takes the same draw
    whatever it comes with: (N, D) -> (N, D) float32 in {0, 1}. Binary data come back
    unchanged."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if np.all((x == 0.0) | (x == 1.0)):
        return x.copy()
    out = np.empty_like(x)
    for i, row in enumerate(x):
        key = int.from_bytes(hashlib.blake2b(row.tobytes(), digest_size=8).digest(), "little")
        out[i] = np.random.default_rng([seed, key]).random(row.shape) < row
    return out
