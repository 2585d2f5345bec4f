"""The prior interface every model holds."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import nn

from optprior.nn.encoder import GaussianEncoder, gaussian_log_prob


class Prior(nn.Module, ABC):
    """A prior density over ``latent_dim``-dimensional z. Scores take ``log_prob`` as a
    normalised density (``log_normalizer`` is 0), except where ``has_discriminator``: the
    optimal prior's N(z; 0, I) e^T, whose normaliser Z is estimated."""

    #: Whether the prior has a density-ratio discriminator that the trainer must fit.
    has_discriminator: bool = False

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim

    @abstractmethod
    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """ln p(z) in nats: (..., D) -> (...)."""

    @abstractmethod
    def sample(self, n: int) -> torch.Tensor:
        """n draws from the prior: (n, D)."""

    def attach(self, encoder: GaussianEncoder) -> None:
        """Called once by the module that holds the prior, with its encoder: a prior made
        of the encoder's posteriors (``VampPrior``) keeps it; others ignore it."""

    def start(self, x: torch.Tensor, s: torch.Tensor) -> None:
        """Called by the training plan with the training data (N, D), (N,) before the
        first epoch (a ``VampPrior`` starts its pseudo-inputs there); nothing by default.
        The optimiser exists by then, and only parameters and buffers are saved with a
        model: set their values in place (``with torch.no_grad(): self.mean.copy_(...)``),
        not new ``nn.Parameter`` objects or plain attributes."""

    def elbo_parameters(self) -> list[nn.Parameter]:
        """The parameters the ELBO trains alongside encoder and decoder: all of them by
        default; a prior fitted by an objective of its own (T of ``OptimalPrior``, which
        ``DensityRatioPlan`` trains) returns only those the ELBO should move ([] there)."""
        return list(self.parameters())

    def kl(self, z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """KL(q(z|x) || p(z)) per point, (B,). Default: the one-sample estimate at ``z``.

        ``z`` (..., B, D) are reparameterised draws from q = N(mu, diag(exp(logvar))).
        Leading sample axes are averaged.
        """
        log_p = checked_shape(self.log_prob(z), z.shape[:-1], self, "log_prob")
        estimate = gaussian_log_prob(z, mu, logvar) - log_p
        return estimate.reshape(-1, mu.shape[0]).mean(0)

    def device(self) -> torch.device:
        for tensor in self.parameters():
            return tensor.device
        for buffer in self.buffers():
            return buffer.device
        return torch.device("cpu")


def checked_shape(
    values: torch.Tensor, shape: torch.Size, prior: Prior, method: str
) -> torch.Tensor:
    """``values``, which ``prior.<method>`` returned, where it has ``shape``; else a
    ``ValueError`` naming the method (a prior's wrong shape would broadcast into wrong
    numbers, or fail deep in the library)."""
    if not isinstance(values, torch.Tensor) or values.shape != shape:
        got = tuple(values.shape) if isinstance(values, torch.Tensor) else type(values).__name__
        raise ValueError(
            f"{type(prior).__name__}.{method} returned {got} for z of its inputs' shape: "
            f"it must return one value a point, a tensor of shape {tuple(shape)}"
        )
    return values
