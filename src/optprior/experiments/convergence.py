"""How far runs had converged when they stopped, read from the validation ELBO they logged
each epoch (``curves.csv``): the epoch-to-epoch noise of that curve, its slope, and the
curves of two methods compared at equal epochs. Pure functions of arrays, in nats per
validation point."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from optprior.models.base import BaseModel

CURVES_FILE = "curves.csv"


def read_validation_curve(folder: Path) -> np.ndarray:
    """The validation ELBO of each epoch, shape (epochs,), from ``folder/curves.csv``."""
    with open(folder / CURVES_FILE, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    if not rows or "val_elbo" not in rows[0]:
        raise ValueError(f"{folder / CURVES_FILE}: no val_elbo column")
    return np.array([float(row["val_elbo"]) for row in rows])


def trailing_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the ``window`` values ending at each index from ``window - 1`` on, shape
    (n - window + 1,): entry i averages ``values[i : i + window]``."""
    if not 1 <= window <= len(values):
        raise ValueError(f"window {window} must be between 1 and the {len(values)} values")
    return np.convolve(values, np.ones(window) / window, mode="valid")


def noise_std(values: np.ndarray, window: int = 51) -> float:
    """Standard deviation of the curve's epoch-to-epoch noise: the residuals around the
    centred mean of ``window`` (odd) values, divided by sqrt(1 - 1/window). For white
    noise on a curve that is linear over each window this is unbiased in the variance:
    a residual is e_i (1 - 1/w) minus the mean of the w - 1 other errors, of variance
    sigma^2 (1 - 1/w)."""
    if window % 2 == 0:
        raise ValueError(f"window {window} must be odd, so that the mean is centred")
    half = window // 2
    residuals = values[half : len(values) - half] - trailing_mean(values, window)
    return float(np.sqrt(np.mean(residuals**2) / (1 - 1 / window)))


def slope(values: np.ndarray) -> float:
    """Least-squares slope of ``values`` against their index (nats per epoch)."""
    return float(np.polyfit(np.arange(len(values)), values, 1)[0])


def estimate_noise_std(model: BaseModel, x: np.ndarray, s: np.ndarray, draws: int = 20) -> float:
    """Standard deviation of the mean ELBO of points ``x`` (N, D) with tasks ``s`` (N,)
    over ``draws`` independent draws of z, for one fitted model: the part of a validation
    curve's epoch-to-epoch noise that is the estimate's, not the model's (nats)."""
    if draws < 2:
        raise ValueError(f"draws must be at least 2, got {draws}")
    means = [model.elbo(x, s, random_state=draw).mean() for draw in range(draws)]
    return float(np.std(means, ddof=1))
