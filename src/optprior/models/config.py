"""Architecture and objective settings shared by the methods."""

from __future__ import annotations

import math
from dataclasses import dataclass

from optprior._validation import as_given, layer_widths, plain_numbers_, whole_number

LIKELIHOODS = ("bernoulli", "gaussian")
GAUSSIAN_VARIANCES = ("per_pixel", "from_z")
ESTIMATORS = ("discriminator", "mixture")
DROPOUT_LAYERS = ("every", "last")
PSEUDO_INPUTS = ("per_task", "shared")


@dataclass
class ModelConfig:
    """Network sizes and likelihood. Encoder and decoder defaults follow ``paper.md`` (the
    AAAI 2019 setting); the discriminator is smaller (see docs/experiments.md).

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
        estimator: how the optimal prior's q(z) is computed: ``"discriminator"`` (the
            paper's N(z; 0, I) e^T(z) with a density-ratio discriminator T) or
            ``"mixture"`` (the exact mixture of the training posteriors; no T). Read by
            the optimal-prior methods only.
        discriminator_hidden_sizes: widths of the optimal prior's T(z) MLP.
        discriminator_dropout: dropout rate inside T(z) while it is trained.
        discriminator_dropout_layers: where T's dropout acts: ``"every"`` (after each
            hidden layer) or ``"last"`` (only before the output layer, as in vae_iop).
        invariance_weight: lambda, the weight of the penalty on I(z; s) of
            ``InvariantCVAE`` (Moyer et al. 2018); the other methods do not read it.
        vamp_components: the VampPrior's pseudo-inputs per task (``VampPriorCVAE``
            only); its mixture has this many components per task.
        vamp_pseudo_inputs: ``"shared"`` (the same pseudo-inputs, encoded under every
            task; chosen on validation, docs/results.md) or ``"per_task"`` (each task
            has pseudo-inputs of its own).
    """

    likelihood: str = "bernoulli"
    latent_dim: int = 40
    hidden_sizes: tuple[int, ...] = (500, 500, 500)
    activation: str = "tanh"
    gaussian_logvar_bounds: tuple[float, float] = (-9.0, 2.0)
    gaussian_variance: str = "per_pixel"
    estimator: str = "discriminator"
    discriminator_hidden_sizes: tuple[int, ...] = (256, 256)
    discriminator_dropout: float = 0.2
    discriminator_dropout_layers: str = "every"
    invariance_weight: float = 1.0
    vamp_components: int = 100
    vamp_pseudo_inputs: str = "shared"

    def __post_init__(self) -> None:
        plain_numbers_(self)
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"unknown likelihood {self.likelihood!r}; choose one of {LIKELIHOODS}")
        for name, choices in (
            ("gaussian_variance", GAUSSIAN_VARIANCES),
            ("discriminator_dropout_layers", DROPOUT_LAYERS),
            ("estimator", ESTIMATORS),
            ("vamp_pseudo_inputs", PSEUDO_INPUTS),
        ):
            if getattr(self, name) not in choices:
                raise ValueError(f"unknown {name} {getattr(self, name)!r}; choose one of {choices}")
        self.latent_dim = whole_number(self.latent_dim, "latent_dim", 1)
        self.vamp_components = whole_number(self.vamp_components, "vamp_components", 1)
        self.hidden_sizes = as_given(
            layer_widths(self.hidden_sizes, "hidden_sizes"), self.hidden_sizes
        )
        self.discriminator_hidden_sizes = as_given(
            layer_widths(self.discriminator_hidden_sizes, "discriminator_hidden_sizes"),
            self.discriminator_hidden_sizes,
        )
        bounds = tuple(float(b) for b in self.gaussian_logvar_bounds)
        if len(bounds) != 2 or not bounds[0] < bounds[1]:
            raise ValueError(
                f"gaussian_logvar_bounds must be (low, high) with low < high, got {bounds}"
            )
        self.gaussian_logvar_bounds = as_given(bounds, self.gaussian_logvar_bounds)
        if not 0.0 <= self.discriminator_dropout < 1.0:
            raise ValueError("discriminator_dropout must lie in [0, 1)")
        weight = self.invariance_weight
        if not (isinstance(weight, int | float) and weight >= 0.0 and math.isfinite(weight)):
            raise ValueError(f"invariance_weight must be a finite number >= 0, got {weight!r}")
        self.invariance_weight = float(weight)
