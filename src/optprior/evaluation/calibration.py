"""How wrong a density-ratio discriminator is, in nats, against the exact log ratio of
the aggregated posterior it estimates."""

from __future__ import annotations

import torch

from optprior.nn.encoder import standard_normal_log_prob
from optprior.priors import OptimalPrior
from optprior.priors.mixture import gaussian_mixture_log_density


@torch.no_grad()
def discriminator_calibration(
    prior: OptimalPrior,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    log_weights: torch.Tensor | None = None,
    n_draws: int = 2000,
    seed: int = 0,
) -> dict[str, float]:
    """T's error on fresh z ~ q(z), q the mixture of the posteriors ``mu``, ``logvar``
    (N, D) with weights ln w (N,) (default 1/N each; pass the weights T was trained for):
    the mean and standard deviation over ``n_draws`` draws of
    T(z) - [ln q(z) - ln N(z; 0, I)] (0 for an exact T), in nats. ln Z, the other half
    of T's calibration, is ``OptimalPrior.log_normalizer``."""
    device = prior.device()
    mu, logvar = mu.to(device), logvar.to(device)
    log_weights = torch.zeros(mu.shape[0]) if log_weights is None else log_weights
    log_weights = log_weights.to(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    pick = torch.multinomial(torch.softmax(log_weights, 0), n_draws, True, generator=generator)
    noise = torch.randn((n_draws, mu.shape[1]), generator=generator, device=device)
    z = mu[pick] + torch.exp(0.5 * logvar[pick]) * noise
    prior.eval()
    exact = gaussian_mixture_log_density(z, mu, logvar, torch.log_softmax(log_weights, 0))
    error = prior.log_ratio(z) - (exact - standard_normal_log_prob(z))
    return {
        "calibration_error_mean": float(error.mean()),
        "calibration_error_std": float(error.std()),
    }
