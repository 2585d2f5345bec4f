"""Representation metrics on arrays whose answer is known."""

import math

import numpy as np
import pytest

from optprior.evaluation.metrics import downstream_accuracy, task_probe


def test_task_probe_on_invariant_and_revealing_codes():
    rng = np.random.default_rng(0)
    s = np.repeat([0, 1], 300)
    z = rng.normal(size=(600, 5))
    invariant = task_probe(z, s)
    assert abs(invariant["balanced_accuracy"] - 0.5) < 0.08
    assert invariant["information"] < 0.02
    z[:, 0] += 8.0 * s  # the task shifts one coordinate far
    revealing = task_probe(z, s)
    assert revealing["balanced_accuracy"] > 0.99
    assert abs(revealing["information"] - math.log(2)) < 0.02


def test_downstream_accuracy():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    z = rng.normal(size=(200, 4)) + 5.0 * np.eye(4)[y]
    assert downstream_accuracy(z[:100], y[:100], z[100:], y[100:]) > 0.95
    assert downstream_accuracy(z[:100], y[:100], z[100:], y[100:], "knn") > 0.95
    with pytest.raises(ValueError, match="unknown classifier"):
        downstream_accuracy(z, y, z, y, "forest")
