"""The one VAE network behind VAE, CVAE and the optimal-prior CVAE.

The three methods differ only in ``n_tasks`` (0: the task index is not an input) and in
the prior object. Everything here is a pure ``nn.Module``: inference, generation and the
per-point objective; fitting lives in ``optprior.training``.
"""

from __future__ import annotations

import torch
from torch import nn

from optprior.nn.decoders import Decoder
from optprior.nn.encoder import GaussianEncoder, gaussian_log_prob
from optprior.priors.base import Prior


class VAEModule(nn.Module):
    """Encoder q(z | x, s), decoder p(x | z, s) and prior p(z).

    Shapes: ``x`` (B, x_dim) float, ``s`` (B,) int64 task indices (ignored when the
    module is unconditional).
    """

    def __init__(
        self, encoder: GaussianEncoder, decoder: Decoder, prior: Prior, conditional: bool
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.prior = prior
        self.conditional = conditional

    def _task(self, s: torch.Tensor | None) -> torch.Tensor | None:
        return s if self.conditional else None

    def inference(
        self, x: torch.Tensor, s: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance, each (B, latent_dim)."""
        return self.encoder(x, self._task(s))

    def generate(self, z: torch.Tensor, s: torch.Tensor | None) -> torch.Tensor:
        """Decoder mean E[x | z, s]: (..., B, x_dim)."""
        return self.decoder.mean(z, self._task(s))

    def objective_terms(
        self, x: torch.Tensor, s: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One-sample terms per point: (ln p(x|z,s) (B,), KL estimate (B,), z (B, D)).

        The ELBO is ``reconstruction - kl``. For the optimal prior the KL is
        ln q(z|x,s) - ln N(z) - T(z) at the drawn z, so gradients reach the encoder
        through z inside T.
        """
        mu, logvar = self.inference(x, s)
        z = self.encoder.rsample(mu, logvar)
        reconstruction = self.decoder.log_prob(x, z, self._task(s))
        kl = self.prior.kl(z, mu, logvar)
        return reconstruction, kl, z

    def log_importance_weights(
        self,
        x: torch.Tensor,
        s: torch.Tensor | None,
        n_samples: int,
        posterior: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """ln p(x|z_l,s) + ln p(z_l) - ln q(z_l|x,s) for z_l ~ q(z|x,s): (n_samples, B).

        ``posterior`` (mu, logvar), if given, saves re-running the encoder.
        """
        mu, logvar = posterior if posterior is not None else self.inference(x, s)
        z = self.encoder.rsample(mu, logvar, n_samples)
        return (
            self.decoder.log_prob(x, z, self._task(s))
            + self.prior.log_prob(z)
            - gaussian_log_prob(z, mu, logvar)
        )
