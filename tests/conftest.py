"""Shared fixtures: tiny two-task binary data, the usps-mnist data root; torch on one thread."""

import numpy as np
import pytest
import torch
from helpers import DATA_ROOT

from optprior import CVAE

# The tests' tensors are tiny: a second thread gains nothing there, and where other busy
# processes share the cores its waits make small ops a hundred times slower (a permutation
# test of 120 codes: 0.14 s on one thread, 19 s on two beside three busy processes).
torch.set_num_threads(1)


#: The files of the USPS and MNIST readers' usps-mnist setting.
DIGITS = ("usps/usps.h5", "mnist/train-images-idx3-ubyte.gz", "mnist/t10k-images-idx3-ubyte.gz")


@pytest.fixture
def digits_root() -> str:
    """The data root holding the usps-mnist setting's files (skips where they are absent)."""
    missing = [f for f in DIGITS if not (DATA_ROOT / f).is_file()]
    if missing:
        pytest.skip(f"staged data {missing} absent under {DATA_ROOT} (set OPTPRIOR_DATA)")
    return str(DATA_ROOT)


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
