"""Shared fixtures: tiny two-task binary data."""

import numpy as np
import pytest


@pytest.fixture(scope="session")
def two_tasks():
    """(X, s): 240 binary 12-pixel points in two tasks, the second with flipped pixels."""
    rng = np.random.default_rng(0)
    s = np.repeat([0, 1], 120)
    x = (rng.random((240, 12)) < 0.3).astype(np.float32)
    x[s == 1] = 1.0 - x[s == 1]
    return x, s
