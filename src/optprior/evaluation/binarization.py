"""One fixed binarisation of [0, 1] data, so that Bernoulli scores of grey-level data are
comparable across models and runs."""

from __future__ import annotations

import numpy as np

#: Seed of the fixed binarisation of Bernoulli validation and test data (the same for
#: every model and run).
BINARIZATION_SEED = 12345


def binarized(x: np.ndarray, seed: int = BINARIZATION_SEED) -> np.ndarray:
    """One fixed Bernoulli draw per entry of [0, 1] data: (N, D) -> (N, D) float32 in
    {0, 1}. Binary data come back unchanged."""
    return (np.random.default_rng(seed).random(x.shape) < x).astype(np.float32)
