"""Fitting a ``VAEModule``: the training configuration and the trainer."""

from optprior.training.config import TrainingConfig
from optprior.training.trainer import Trainer

__all__ = ["TrainingConfig", "Trainer"]
