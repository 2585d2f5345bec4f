"""The amortised Gaussian posterior q(z | x, s)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from optprior.nn.mlp import MLP

LOG_2PI = math.log(2.0 * math.pi)


def gaussian_log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Log density of a diagonal Gaussian, summed over the last axis (nats).

    Shapes broadcast: ``z`` (..., D), ``mu``/``logvar`` (..., D) -> (...).
    """
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar)).sum(-1)


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag e^logvar) || N(0, I)) in closed form, summed over the last axis."""
    return 0.5 * (mu.pow(2) + torch.exp(logvar) - 1.0 - logvar).sum(-1)


def mean_pairwise_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """(1/B^2) sum_ij KL(q_i || q_j) over a batch of diagonal Gaussians q_i (nats, scalar).

    ``mu``, ``logvar``: (B, D). With w = exp(-logvar) and E the mean over the batch,
    KL(q_i || q_j) = 1/2 sum_d [logvar_j - logvar_i + (e^logvar_i + (mu_i - mu_j)^2) w_j - 1];
    averaged over all pairs the log-variance terms cancel and the rest factorises:
    1/2 sum_d [E e^logvar E w + E mu^2 E w - 2 E mu E(mu w) + E(mu^2 w) - 1], O(B D).
    The value does not change when every mean moves by the same vector, so the means are
    centred first (E mu = 0 drops the third term, and a shared offset cannot cancel
    between large terms).
    """
    mu = mu - mu.mean(0)
    w = torch.exp(-logvar)
    per_dim = (
        (torch.exp(logvar).mean(0) + mu.pow(2).mean(0)) * w.mean(0) + (mu.pow(2) * w).mean(0) - 1.0
    )
    return 0.5 * per_dim.sum()


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """Log density of N(0, I) summed over the last axis: (..., D) -> (...)."""
    return -0.5 * (LOG_2PI + z.pow(2)).sum(-1)


class GaussianEncoder(nn.Module):
    """q(z | x, s) = N(mu(x, s), diag(exp(logvar(x, s)))).

    One MLP outputs ``2 * latent_dim`` numbers: the mean and the log-variance.
    Shapes: ``x`` (B, x_dim), ``s`` (B,) -> ``mu``, ``logvar`` (B, latent_dim).
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
        self.x_dim, self.latent_dim, self.n_tasks = x_dim, latent_dim, n_tasks
        self.net = MLP(x_dim, 2 * latent_dim, hidden_sizes, activation, n_tasks)

    def forward(
        self, x: torch.Tensor, s: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.net(x, s).chunk(2, dim=-1)
        return mu, logvar

    @staticmethod
    def rsample(mu: torch.Tensor, logvar: torch.Tensor, n: int | None = None) -> torch.Tensor:
        """Reparameterised draw(s): (B, D) -> (B, D), or (n, B, D) when ``n`` is given."""
        shape = mu.shape if n is None else (n, *mu.shape)
        eps = torch.randn(shape, dtype=mu.dtype, device=mu.device)
        return torch.addcmul(mu, torch.exp(0.5 * logvar), eps)
