"""Fitting a ``VAEModule``: the training configuration, the training plans (what a
method optimises and how) and the generic loop that runs them."""

from optprior.training.config import TrainingConfig
from optprior.training.density_ratio import DensityRatioPlan, PriorFitPlan
from optprior.training.plans import ELBOPlan, PenalisedELBOPlan, TrainingPlan
from optprior.training.stopping import TrainingStopped, stop_at, stop_on_sigterm
from optprior.training.trainer import (
    Checkpoint,
    CheckpointError,
    History,
    Trainer,
)

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "DensityRatioPlan",
    "ELBOPlan",
    "History",
    "PenalisedELBOPlan",
    "PriorFitPlan",
    "TrainingConfig",
    "Trainer",
    "TrainingPlan",
    "TrainingStopped",
    "stop_at",
    "stop_on_sigterm",
]
