"""Scores: likelihood bounds, information terms and representation metrics."""

from optprior.evaluation.bounds import elbo, log_marginal_likelihood
from optprior.evaluation.calibration import discriminator_calibration
from optprior.evaluation.information import (
    mixture_log_density,
    rate_decomposition,
    task_mutual_information,
)

__all__ = [
    "discriminator_calibration",
    "elbo",
    "log_marginal_likelihood",
    "mixture_log_density",
    "rate_decomposition",
    "task_mutual_information",
]
