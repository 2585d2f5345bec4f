"""Shared fixtures: tiny two-task binary data."""

import numpy as np
import pytest

from optprior import CVAE


@pytest.fixture(scope="session")
def two_tasks():
    """(X, s): 240 binary 12-pixel points in two tasks, the second with flipped pixels."""
    rng = np.random.default_rng(0)
    s = np.repeat([0, 1], 120)
    x = (rng.random((240, 12)) < 0.3).astype(np.float32)
    x[s == 1] = 1.0 - x[s == 1]
    return x, s


@pytest.fixture(scope="session")
def trained_prototype_cvae():
    """(X, s, CVAE): 300 binary 20-pixel points from 3 prototypes per task and a CVAE
    trained on them, whose aggregated posterior q(z) is far from N(0, I)."""
    rng = np.random.default_rng(0)
    s = rng.integers(0, 2, 300)
    patterns = rng.random((2, 3, 20)) < 0.5
    x = patterns[s, rng.integers(0, 3, 300)].astype(np.float32)
    cvae = CVAE(
        latent_dim=3,
        hidden_sizes=(32,),
        epochs=30,
        learning_rate=3e-3,
        warmup_epochs=0,
        progress=False,
    ).fit(x, s)
    return x, s, cvae
