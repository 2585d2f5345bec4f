"""Models: the shared ``VAEModule``, its configuration and the three user-facing methods."""

from optprior.models.base import BaseModel, ModelFileError, NotFittedError
from optprior.models.config import ModelConfig
from optprior.models.methods import CVAE, METHODS, VAE, OptimalPriorCVAE
from optprior.models.module import VAEModule

__all__ = [
    "BaseModel",
    "ModelConfig",
    "ModelFileError",
    "NotFittedError",
    "VAE",
    "CVAE",
    "OptimalPriorCVAE",
    "METHODS",
    "VAEModule",
]
