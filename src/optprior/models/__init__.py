"""The user-facing estimators (one per method) and their architecture settings."""

from optprior.models.base import BaseModel, ModelFileError, NotFittedError
from optprior.models.config import ModelConfig
from optprior.models.methods import (
    CVAE,
    HSICCVAE,
    METHODS,
    MMDCVAE,
    PAPER_METHODS,
    VAE,
    AdversarialCVAE,
    InvariantCVAE,
    OptimalPriorCVAE,
    PostHocOptimalPriorCVAE,
    VampPriorCVAE,
)

__all__ = [
    "BaseModel",
    "ModelConfig",
    "ModelFileError",
    "NotFittedError",
    "VAE",
    "CVAE",
    "InvariantCVAE",
    "HSICCVAE",
    "MMDCVAE",
    "AdversarialCVAE",
    "VampPriorCVAE",
    "OptimalPriorCVAE",
    "PostHocOptimalPriorCVAE",
    "METHODS",
    "PAPER_METHODS",
]
