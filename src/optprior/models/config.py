"""One settings dataclass per method: a method's settings are the fields of its class.

Every method reads ``NetworkConfig`` (encoder, decoder, likelihood) and a
``TrainingConfig``; the optimal prior adds its discriminator T (a nested
``DiscriminatorConfig``), T's schedule and the exact mixture's settings, a penalised CVAE
its weight, the VampPrior its pseudo-inputs. Users pass every setting by its flat name
(``latent_dim``, ``discriminator_dropout``, ``mixture_components``): ``_settings.flatten``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from optprior._validation import as_given, layer_widths, one_of, plain_numbers_, whole_number
from optprior.nn.mlp import ACTIVATIONS
from optprior.training.config import (
    TASK_WEIGHTS,
    DiscriminatorConfig,
    DiscriminatorSchedule,
    MixtureConfig,
)

LIKELIHOODS = ("bernoulli", "gaussian")
GAUSSIAN_VARIANCES = ("per_pixel", "from_z")
ESTIMATORS = ("discriminator", "mixture")
PSEUDO_INPUTS = ("per_task", "shared")


@dataclass
class NetworkConfig:
    """Network sizes and likelihood, read by every method (VAE and CVAE read nothing
    else). Encoder and decoder defaults follow ``paper.md`` (the AAAI 2019 setting).

    Attributes:
        likelihood: ``"bernoulli"`` (x in [0, 1], logits) or ``"gaussian"``.
        latent_dim: size of z.
        hidden_sizes: widths of the encoder and decoder MLP hidden layers.
        activation: hidden activation name (``tanh``, ``relu``, ``elu``, ...).
        gaussian_logvar_bounds: range of the Gaussian decoder's per-pixel ln sigma^2.
        gaussian_variance: where the Gaussian decoder's ln sigma^2 comes from:
            ``"per_pixel"`` (one learned value per pixel, shared by all z and tasks) or
            ``"from_z"`` (a second output of the decoder network, so it depends on z and
            s, as in the first author's vae_iop); either way inside the bounds.
    """

    likelihood: str = "bernoulli"
    latent_dim: int = 40
    hidden_sizes: tuple[int, ...] = (500, 500, 500)
    activation: str = "tanh"
    gaussian_logvar_bounds: tuple[float, float] = (-9.0, 2.0)
    gaussian_variance: str = "per_pixel"

    def __post_init__(self) -> None:
        plain_numbers_(self)
        one_of(self.likelihood, "likelihood", LIKELIHOODS)
        one_of(self.gaussian_variance, "gaussian_variance", GAUSSIAN_VARIANCES)
        one_of(self.activation, "activation", ACTIVATIONS)  # now, not at fit
        self.latent_dim = whole_number(self.latent_dim, "latent_dim", 1)
        self.hidden_sizes = as_given(
            layer_widths(self.hidden_sizes, "hidden_sizes"), self.hidden_sizes
        )
        bounds = tuple(float(b) for b in self.gaussian_logvar_bounds)
        if len(bounds) != 2 or not bounds[0] < bounds[1]:
            raise ValueError(
                f"gaussian_logvar_bounds must be (low, high) with low < high, got {bounds}"
            )
        self.gaussian_logvar_bounds = as_given(bounds, self.gaussian_logvar_bounds)


@dataclass
class PenalisedCVAEConfig(NetworkConfig):
    """A CVAE with a penalty on task information.

    Attributes:
        invariance_weight: lambda, the weight of the penalty in the loss (0: the CVAE).
    """

    invariance_weight: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        weight = self.invariance_weight
        if not (isinstance(weight, int | float) and weight >= 0.0 and math.isfinite(weight)):
            raise ValueError(f"invariance_weight must be a finite number >= 0, got {weight!r}")
        self.invariance_weight = float(weight)


@dataclass
class VampPriorCVAEConfig(NetworkConfig):
    """A CVAE with a VampPrior.

    Attributes:
        vamp_components: pseudo-inputs per task; the mixture has this many components
            per task.
        vamp_pseudo_inputs: ``"shared"`` (the same pseudo-inputs, encoded under every
            task; chosen on validation, docs/results.md) or ``"per_task"`` (each task
            has pseudo-inputs of its own).
    """

    vamp_components: int = 100
    vamp_pseudo_inputs: str = "shared"

    def __post_init__(self) -> None:
        super().__post_init__()
        one_of(self.vamp_pseudo_inputs, "vamp_pseudo_inputs", PSEUDO_INPUTS)
        self.vamp_components = whole_number(self.vamp_components, "vamp_components", 1)


_DISCRIMINATOR = {"prefix": "discriminator_"}


@dataclass
class PostHocPriorConfig(NetworkConfig):
    """A CVAE given the optimal prior afterwards: T, fitted by passes of its own.

    Attributes:
        discriminator: T's network and its fit (keywords ``discriminator_*``).
    """

    discriminator: DiscriminatorConfig = field(
        default_factory=DiscriminatorConfig, metadata=_DISCRIMINATOR
    )


@dataclass
class PostHocPenalisedConfig(PostHocPriorConfig, PenalisedCVAEConfig):
    """A penalised CVAE given the optimal prior afterwards: ``invariance_weight`` for the
    first stage, T's settings for the second."""


@dataclass
class OptimalPriorConfig(PostHocPriorConfig):
    """The optimal prior trained jointly with the model.

    Attributes:
        estimator: how q(z) is computed: ``"discriminator"`` (the paper's
            N(z; 0, I) e^T(z)) or ``"mixture"`` (the exact mixture of the training
            posteriors; no T). Both read ``discriminator_task_weights``.
        schedule: when T is fitted (keywords ``discriminator_schedule``,
            ``discriminator_epochs``, ...).
        mixture: the exact mixture's estimate during training (keywords ``mixture_*``).
    """

    estimator: str = "discriminator"
    schedule: DiscriminatorSchedule = field(
        default_factory=DiscriminatorSchedule, metadata={**_DISCRIMINATOR, "section": "training"}
    )
    mixture: MixtureConfig = field(
        default_factory=MixtureConfig, metadata={"prefix": "mixture_", "section": "training"}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        one_of(self.estimator, "estimator", ESTIMATORS)


@dataclass
class MixturePriorConfig(NetworkConfig):
    """The optimal prior computed exactly: the mixture of the training posteriors, no T.

    Attributes:
        mixture: its estimate of the KL during training (keywords ``mixture_*``).
        discriminator_task_weights: which mixture of the tasks' posteriors the prior is
            (``"data"`` or ``"balanced"``); the name it shares with the optimal prior,
            whose T estimates the same mixture.
    """

    mixture: MixtureConfig = field(
        default_factory=MixtureConfig, metadata={"prefix": "mixture_", "section": "training"}
    )
    discriminator_task_weights: str = field(default="data", metadata={"section": "training"})

    def __post_init__(self) -> None:
        super().__post_init__()
        one_of(self.discriminator_task_weights, "discriminator_task_weights", TASK_WEIGHTS)
