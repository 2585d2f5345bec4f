"""Shared fixtures: tiny two-task binary data and fast model settings."""

import numpy as np
import pytest

FAST = {
    "latent_dim": 3,
    "hidden_sizes": (16,),
    "discriminator_hidden_sizes": (16,),
    "epochs": 3,
    "batch_size": 50,
    "progress": False,
}


@pytest.fixture(scope="session")
def two_tasks():
    """(X, s): 240 binary 12-pixel points in two tasks, the second with flipped pixels."""
    rng = np.random.default_rng(0)
    s = np.repeat([0, 1], 120)
    x = (rng.random((240, 12)) < 0.3).astype(np.float32)
    x[s == 1] = 1.0 - x[s == 1]
    return x, s
