"""Scores: likelihood bounds, information terms and representation metrics."""

from optprior.evaluation.bounds import elbo, log_marginal_likelihood
from optprior.evaluation.calibration import calibration_points, discriminator_calibration
from optprior.evaluation.information import (
    mixture_log_density,
    rate_decomposition,
    task_mutual_information,
)

__all__ = [
    "calibration_points",
    "discriminator_calibration",
    "elbo",
    "log_marginal_likelihood",
    "mixture_log_density",
    "rate_decomposition",
    "task_mutual_information",
]
