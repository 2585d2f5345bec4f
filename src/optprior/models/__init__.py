"""The user-facing estimators (one per method) and their settings (one class per method)."""

from optprior.models.base import (
    BaseModel,
    IgnoredSettingsWarning,
    ModelFileError,
    NotFittedError,
)
from optprior.models.config import (
    MixturePriorConfig,
    NetworkConfig,
    OptimalPriorConfig,
    PenalisedCVAEConfig,
    PostHocPenalisedConfig,
    PostHocPriorConfig,
    VampPriorCVAEConfig,
)
from optprior.models.methods import (
    CVAE,
    HSICCVAE,
    METHODS,
    MMDCVAE,
    PAPER_METHODS,
    VAE,
    AdversarialCVAE,
    InvariantCVAE,
    MixturePriorCVAE,
    OptimalPriorCVAE,
    PostHocInvariantCVAE,
    PostHocOptimalPriorCVAE,
    VampPriorCVAE,
)

__all__ = [
    "BaseModel",
    "NetworkConfig",
    "PenalisedCVAEConfig",
    "VampPriorCVAEConfig",
    "PostHocPriorConfig",
    "PostHocPenalisedConfig",
    "OptimalPriorConfig",
    "MixturePriorConfig",
    "ModelFileError",
    "NotFittedError",
    "IgnoredSettingsWarning",
    "VAE",
    "CVAE",
    "InvariantCVAE",
    "HSICCVAE",
    "MMDCVAE",
    "AdversarialCVAE",
    "VampPriorCVAE",
    "OptimalPriorCVAE",
    "MixturePriorCVAE",
    "PostHocOptimalPriorCVAE",
    "PostHocInvariantCVAE",
    "METHODS",
    "PAPER_METHODS",
]
