"""The one VAE network behind every method.

The methods differ only in ``n_tasks`` (0: the task index is not an input) and in the
prior object; what a method adds to the loss (a penalty) and how it trains its prior is
its training plan (``optprior.training.plans``). Everything here is a pure ``nn.Module``:
inference, generation, the per-point terms and the ELBO loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

from optprior.nn.decoders import Decoder
from optprior.nn.encoder import GaussianEncoder, gaussian_log_prob
from optprior.priors.base import Prior, checked_shape


class ObjectiveTerms(NamedTuple):
    """One-sample terms of a batch: ln p(x|z,s) (B,), KL estimate (B,), the drawn z
    (B, D) and the posterior's mean and log-variance (B, D)."""

    reconstruction: torch.Tensor
    kl: torch.Tensor
    z: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor


class VAEModule(nn.Module):
    """Encoder q(z | x, s), decoder p(x | z, s) and prior p(z).

    Shapes: ``x`` (B, x_dim) float, ``s`` (B,) int64 task indices (ignored when the
    module is unconditional).
    """

    def __init__(
        self,
        encoder: GaussianEncoder,
        decoder: Decoder,
        prior: Prior,
        conditional: bool,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.prior = prior
        self.conditional = conditional
        prior.attach(encoder)

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
        self,
        x: torch.Tensor,
        s: torch.Tensor | None,
        prior: Prior | None = None,
        posterior: tuple[torch.Tensor, torch.Tensor] | None = None,
        noise: torch.Tensor | None = None,
    ) -> ObjectiveTerms:
        """One-sample terms per point for a batch (shapes in ``ObjectiveTerms``), the KL
        to ``prior`` if given (a training plan's estimate of the module's prior), else to
        the module's own. ``posterior`` (mu, logvar) of ``x``, if given, saves
        re-running the encoder; z is mu + sigma * ``noise`` (B, D) where given, else drawn
        from torch's global stream.

        The ELBO is ``reconstruction - kl``. For the optimal prior the KL is
        KL(q(z|x,s) || N(0, I)) in closed form minus T at the drawn z (an unbiased
        estimate of KL(q || N e^T)), so gradients reach the encoder through z inside T.
        """
        mu, logvar = posterior if posterior is not None else self.inference(x, s)
        if noise is None:
            z = self.encoder.rsample(mu, logvar)
        else:
            z = torch.addcmul(mu, torch.exp(0.5 * logvar), noise)
        reconstruction = self.decoder.log_prob(x, z, self._task(s))
        prior = self.prior if prior is None else prior
        kl = checked_shape(prior.kl(z, mu, logvar), mu.shape[:1], prior, "kl")
        return ObjectiveTerms(reconstruction, kl, z, mu, logvar)

    def loss(self, terms: ObjectiveTerms, beta: float = 1.0) -> torch.Tensor:
        """mean(beta KL - ln p(x|z,s)): the negative ELBO of the batch with the KL weighted
        by ``beta`` (warm-up), a scalar in nats per point."""
        return (beta * terms.kl - terms.reconstruction).mean()

    def log_importance_weights(
        self,
        x: torch.Tensor,
        s: torch.Tensor | None,
        noise: torch.Tensor,
        posterior: tuple[torch.Tensor, torch.Tensor] | None = None,
        priors: Sequence[Prior] | None = None,
    ) -> torch.Tensor:
        """ln p(x|z_l,s) + ln p(z_l) - ln q(z_l|x,s) for the draws z_l = mu + sigma *
        ``noise`` of q(z|x,s), ``noise`` (L, B, D) standard normal: (L, B) under the
        module's prior, or with ``priors`` (P, L, B), the same draws under each of them.

        ``posterior`` (mu, logvar), if given, saves re-running the encoder.
        """
        mu, logvar = posterior if posterior is not None else self.inference(x, s)
        z = torch.addcmul(mu, torch.exp(0.5 * logvar), noise)
        without_prior = self.decoder.log_prob(x, z, self._task(s)) - gaussian_log_prob(
            z, mu, logvar
        )
        chosen = (self.prior,) if priors is None else priors
        weights = torch.stack(
            [
                without_prior + checked_shape(p.log_prob(z), z.shape[:-1], p, "log_prob")
                for p in chosen
            ]
        )
        return weights[0] if priors is None else weights
