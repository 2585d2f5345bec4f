"""Likelihood heads p(x | z, s): Bernoulli (logits) and Gaussian (bounded log-variance)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from optprior.nn.encoder import LOG_2PI
from optprior.nn.mlp import MLP


class Decoder(nn.Module, ABC):
    """An MLP from (z, s) to the parameters of p(x | z, s) on ``x_dim`` pixels.

    ``z`` may carry leading sample axes: (..., B, latent_dim) with ``s`` (B,) and
    ``x`` (B, x_dim) broadcast against them.
    """

    def __init__(
        self,
        x_dim: int,
        latent_dim: int,
        hidden_sizes: Sequence[int],
        activation: str,
        n_tasks: int = 0,
    ) -> None:
        super().__init__()
        self.x_dim = x_dim
        self.net = MLP(latent_dim, x_dim, hidden_sizes, activation, n_tasks)

    @abstractmethod
    def log_prob(self, x: torch.Tensor, z: torch.Tensor, s: torch.Tensor | None) -> torch.Tensor:
        """ln p(x | z, s) summed over pixels (nats): shape (..., B)."""

    @abstractmethod
    def mean(self, z: torch.Tensor, s: torch.Tensor | None) -> torch.Tensor:
        """E[x | z, s]: shape (..., B, x_dim)."""


class BernoulliDecoder(Decoder):
    """p(x | z, s) = prod_d Bernoulli(x_d; sigmoid(logit_d)); x in [0, 1]."""

    def log_prob(self, x: torch.Tensor, z: torch.Tensor, s: torch.Tensor | None) -> torch.Tensor:
        logits = self.net(z, s)
        # x * l - softplus(l) == -BCEWithLogits(l, x), and it broadcasts over sample axes.
        return (x * logits - F.softplus(logits)).sum(-1)

    def mean(self, z: torch.Tensor, s: torch.Tensor | None) -> torch.Tensor:
        return torch.sigmoid(self.net(z, s))


class GaussianDecoder(Decoder):
    """p(x | z, s) = N(x; mu(z, s), diag(sigma^2)) with a learned per-pixel log-variance.

    The log-variance is ``lo + (hi - lo) * sigmoid(raw)``, so it stays inside
    ``logvar_bounds`` and cannot run off to -inf (an infinitely sharp density). It starts
    at the middle of the bounds.
    """

    def __init__(
        self,
        x_dim: int,
        latent_dim: int,
        hidden_sizes: Sequence[int],
        activation: str,
        n_tasks: int = 0,
        logvar_bounds: tuple[float, float] = (-9.0, 2.0),
    ) -> None:
        super().__init__(x_dim, latent_dim, hidden_sizes, activation, n_tasks)
        low, high = logvar_bounds
        if not low < high:
            raise ValueError(f"logvar_bounds must satisfy low < high, got {logvar_bounds}")
        self.logvar_bounds = (float(low), float(high))
        self.raw_logvar = nn.Parameter(torch.zeros(x_dim))
        self.set_log_variance((low + high) / 2)

    @property
    def log_variance(self) -> torch.Tensor:
        """Per-pixel ln sigma^2, shape (x_dim,)."""
        low, high = self.logvar_bounds
        return low + (high - low) * torch.sigmoid(self.raw_logvar)

    @torch.no_grad()
    def set_log_variance(self, value: float | torch.Tensor) -> None:
        """Set ln sigma^2 (scalar or (x_dim,)); must lie strictly inside the bounds."""
        low, high = self.logvar_bounds
        value = torch.as_tensor(value, dtype=self.raw_logvar.dtype).expand(self.x_dim)
        if not bool(((value > low) & (value < high)).all()):
            raise ValueError(f"log-variance must lie in ({low}, {high})")
        self.raw_logvar.copy_(torch.logit((value - low) / (high - low)))

    def log_prob(self, x: torch.Tensor, z: torch.Tensor, s: torch.Tensor | None) -> torch.Tensor:
        mu = self.net(z, s)
        logvar = self.log_variance
        sq = (x - mu).pow(2) * torch.exp(-logvar)
        return -0.5 * (sq.sum(-1) + logvar.sum() + self.x_dim * LOG_2PI)

    def mean(self, z: torch.Tensor, s: torch.Tensor | None) -> torch.Tensor:
        return self.net(z, s)


DECODERS: dict[str, type[Decoder]] = {
    "bernoulli": BernoulliDecoder,
    "gaussian": GaussianDecoder,
}

__all__ = ["Decoder", "BernoulliDecoder", "GaussianDecoder", "DECODERS"]
