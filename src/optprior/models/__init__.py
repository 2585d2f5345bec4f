"""Models: the shared ``VAEModule``, its configuration and the user-facing methods."""

from optprior.models.base import BaseModel, ModelFileError, NotFittedError
from optprior.models.config import ModelConfig
from optprior.models.methods import (
    CVAE,
    METHODS,
    PAPER_METHODS,
    VAE,
    InvariantCVAE,
    OptimalPriorCVAE,
    PostHocOptimalPriorCVAE,
)
from optprior.models.module import VAEModule

__all__ = [
    "BaseModel",
    "ModelConfig",
    "ModelFileError",
    "NotFittedError",
    "VAE",
    "CVAE",
    "InvariantCVAE",
    "OptimalPriorCVAE",
    "PostHocOptimalPriorCVAE",
    "METHODS",
    "PAPER_METHODS",
    "VAEModule",
]
