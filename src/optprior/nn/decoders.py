"""Likelihood heads p(x | z, s): Bernoulli (logits) and Gaussian (bounded log-variance)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import cast

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
        outputs_per_pixel: int = 1,
    ) -> None:
        super().__init__()
        self.x_dim = x_dim
        self.net = MLP(latent_dim, outputs_per_pixel * x_dim, hidden_sizes, activation, n_tasks)

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
    """p(x | z, s) = N(x; mu(z, s), diag(sigma^2)) with a learned log-variance: one per
    pixel (default), or with ``variance_from_z`` a second output of the network, so that
    sigma^2(z, s) varies with z (as the decoder of the first author's vae_iop).

    The log-variance is ``lo + (hi - lo) * sigmoid(raw)``, so it stays inside
    ``logvar_bounds`` and cannot run off to -inf (an infinitely sharp density). It starts
    at the middle of the bounds (with ``variance_from_z``: on average, as the output
    layer's bias starts at zero).
    """

    def __init__(
        self,
        x_dim: int,
        latent_dim: int,
        hidden_sizes: Sequence[int],
        activation: str,
        n_tasks: int = 0,
        logvar_bounds: tuple[float, float] = (-9.0, 2.0),
        variance_from_z: bool = False,
    ) -> None:
        outputs = 2 if variance_from_z else 1
        super().__init__(x_dim, latent_dim, hidden_sizes, activation, n_tasks, outputs)
        low, high = logvar_bounds
        if not low < high:
            raise ValueError(f"logvar_bounds must satisfy low < high, got {logvar_bounds}")
        self.logvar_bounds = (float(low), float(high))
        self.variance_from_z = variance_from_z
        if variance_from_z:
            self.raw_logvar = None
            final = self.net.body[-1] if len(self.net.body) else self.net.input.linear
            nn.init.zeros_(cast(nn.Linear, final).bias)
        else:
            self.raw_logvar = nn.Parameter(torch.zeros(x_dim))
            self.set_log_variance((low + high) / 2)

    def _bounded(self, raw: torch.Tensor) -> torch.Tensor:
        low, high = self.logvar_bounds
        return low + (high - low) * torch.sigmoid(raw)

    def _per_pixel(self) -> nn.Parameter:
        if self.raw_logvar is None:
            raise ValueError("this decoder's variance depends on z: it has no per-pixel value")
        return self.raw_logvar

    @property
    def log_variance(self) -> torch.Tensor:
        """Per-pixel ln sigma^2, shape (x_dim,) (per-pixel variance only)."""
        return self._bounded(self._per_pixel())

    @torch.no_grad()
    def set_log_variance(self, value: float | torch.Tensor) -> None:
        """Set ln sigma^2 (scalar or (x_dim,)); must lie strictly inside the bounds
        (per-pixel variance only)."""
        raw = self._per_pixel()
        low, high = self.logvar_bounds
        value = torch.as_tensor(value, dtype=raw.dtype).expand(self.x_dim)
        if not bool(((value > low) & (value < high)).all()):
            raise ValueError(f"log-variance must lie in ({low}, {high})")
        raw.copy_(torch.logit((value - low) / (high - low)))

    def mean_and_log_variance(
        self, z: torch.Tensor, s: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """mu (..., B, x_dim) and ln sigma^2: (x_dim,) per pixel, else like mu."""
        out = self.net(z, s)
        if self.raw_logvar is not None:
            return out, self.log_variance
        mu, raw = out.chunk(2, dim=-1)
        return mu, self._bounded(raw)

    def log_prob(self, x: torch.Tensor, z: torch.Tensor, s: torch.Tensor | None) -> torch.Tensor:
        mu, logvar = self.mean_and_log_variance(z, s)
        sq = (x - mu).pow(2) * torch.exp(-logvar)
        return -0.5 * (sq.sum(-1) + logvar.sum(-1) + self.x_dim * LOG_2PI)

    def mean(self, z: torch.Tensor, s: torch.Tensor | None) -> torch.Tensor:
        return self.mean_and_log_variance(z, s)[0]


DECODERS: dict[str, type[Decoder]] = {
    "bernoulli": BernoulliDecoder,
    "gaussian": GaussianDecoder,
}

__all__ = ["Decoder", "BernoulliDecoder", "GaussianDecoder", "DECODERS"]
