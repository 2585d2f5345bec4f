"""optprior: task-invariant representations with VAEs and the optimal prior.

>>> from optprior import OptimalPriorCVAE
>>> model = OptimalPriorCVAE(epochs=50).fit(X, s, X_val, s_val)
>>> z = model.transform(X_test, s_test)
>>> log_lik = model.score_samples(X_test, s_test, n_samples=1000)
"""

from optprior.models import (
    CVAE,
    HSICCVAE,
    MMDCVAE,
    VAE,
    AdversarialCVAE,
    BaseModel,
    IgnoredSettingsWarning,
    InvariantCVAE,
    MixturePriorConfig,
    MixturePriorCVAE,
    ModelFileError,
    NetworkConfig,
    NotFittedError,
    OptimalPriorConfig,
    OptimalPriorCVAE,
    PenalisedCVAE,
    PenalisedCVAEConfig,
    PostHocInvariantCVAE,
    PostHocOptimalPriorCVAE,
    PostHocPenalisedConfig,
    PostHocPriorConfig,
    VampPriorCVAE,
    VampPriorCVAEConfig,
    register_method,
)
from optprior.training import CheckpointError, TrainingConfig
from optprior.training.config import DiscriminatorConfig, DiscriminatorSchedule, MixtureConfig

__version__ = "0.1.0"

load_model = BaseModel.load

__all__ = [
    "VAE",
    "CVAE",
    "InvariantCVAE",
    "HSICCVAE",
    "MMDCVAE",
    "AdversarialCVAE",
    "PenalisedCVAE",
    "VampPriorCVAE",
    "OptimalPriorCVAE",
    "MixturePriorCVAE",
    "PostHocOptimalPriorCVAE",
    "PostHocInvariantCVAE",
    "register_method",
    "BaseModel",
    "NetworkConfig",
    "PenalisedCVAEConfig",
    "VampPriorCVAEConfig",
    "PostHocPriorConfig",
    "PostHocPenalisedConfig",
    "OptimalPriorConfig",
    "MixturePriorConfig",
    "DiscriminatorConfig",
    "DiscriminatorSchedule",
    "MixtureConfig",
    "TrainingConfig",
    "CheckpointError",
    "ModelFileError",
    "NotFittedError",
    "IgnoredSettingsWarning",
    "load_model",
    "__version__",
]
