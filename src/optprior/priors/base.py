"""The prior interface every model holds."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import nn

from optprior.nn.encoder import GaussianEncoder, gaussian_log_prob


class Prior(nn.Module, ABC):
    """A (possibly unnormalised) prior density over ``latent_dim``-dimensional z."""

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
        first epoch (a ``VampPrior`` starts its pseudo-inputs there); nothing by default."""

    def elbo_parameters(self) -> list[nn.Parameter]:
        """The parameters the ELBO trains alongside encoder and decoder (all of them, by
        default); a prior fitted otherwise returns those it keeps out of the model steps'
        optimiser."""
        return list(self.parameters())

    def kl(self, z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """KL(q(z|x) || p(z)) per point, (B,). Default: the one-sample estimate at ``z``.

        ``z`` (..., B, D) are reparameterised draws from q = N(mu, diag(exp(logvar))).
        Leading sample axes are averaged.
        """
        estimate = gaussian_log_prob(z, mu, logvar) - self.log_prob(z)
        return estimate.reshape(-1, mu.shape[0]).mean(0)

    def device(self) -> torch.device:
        for tensor in self.parameters():
            return tensor.device
        for buffer in self.buffers():
            return buffer.device
        return torch.device("cpu")
