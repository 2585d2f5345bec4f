"""Scores: likelihood bounds, information terms and representation metrics."""

from optprior.evaluation.bounds import elbo, log_marginal_likelihood
from optprior.evaluation.calibration import calibration_points, discriminator_calibration
from optprior.evaluation.dependence import task_dependence
from optprior.evaluation.information import (
    mixture_log_density,
    rate_decomposition,
    task_mutual_information,
)
from optprior.evaluation.invariance import kernel_dependence
from optprior.evaluation.metrics import downstream_accuracy, task_probe

__all__ = [
    "calibration_points",
    "discriminator_calibration",
    "downstream_accuracy",
    "elbo",
    "kernel_dependence",
    "log_marginal_likelihood",
    "mixture_log_density",
    "rate_decomposition",
    "task_dependence",
    "task_mutual_information",
    "task_probe",
]
