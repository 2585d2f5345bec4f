"""scripts/pixel_baseline.py: the independent-pixel yardstick against its closed form."""

import importlib.util
import math

import numpy as np
from helpers import REPO

spec = importlib.util.spec_from_file_location("pixel_baseline", REPO / "scripts/pixel_baseline.py")
pixel_baseline = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pixel_baseline)


def test_independent_pixels_match_the_smoothed_bernoulli_closed_form():
    train = np.array([[1, 0, 0], [1, 1, 0]], dtype=np.float32)  # smoothed means 3/4, 1/2, 1/4
    test = np.array([[1, 0, 0], [0, 0, 1]], dtype=np.float32)
    first = math.log(3 / 4) + math.log(1 / 2) + math.log(3 / 4)
    second = math.log(1 / 4) + math.log(1 / 2) + math.log(1 / 4)
    got = pixel_baseline.independent_pixels_log_likelihood(train, test)
    assert math.isclose(got, (first + second) / 2, rel_tol=1e-6)
