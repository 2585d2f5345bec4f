"""The standard normal prior N(0, I) of the VAE and the CVAE."""

from __future__ import annotations

import torch

from optprior.nn.encoder import kl_to_standard_normal, standard_normal_log_prob
from optprior.priors.base import Prior


class StandardNormalPrior(Prior):
    """p(z) = N(0, I), with the closed-form Gaussian KL."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__(latent_dim)
        # A buffer so that ``.to(device)`` tells ``sample`` where to draw.
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return standard_normal_log_prob(z)

    def sample(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.latent_dim, device=self.device())

    def kl(self, z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """Exact KL(N(mu, diag e^logvar) || N(0, I)) per point, (B,); ``z`` is unused."""
        return kl_to_standard_normal(mu, logvar)
