"""Fitting a ``VAEModule``: the training configuration and the trainer."""

from optprior.training.config import TrainingConfig
from optprior.training.trainer import CheckpointError, Trainer

__all__ = ["CheckpointError", "TrainingConfig", "Trainer"]
