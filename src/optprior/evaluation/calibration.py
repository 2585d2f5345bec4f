"""How wrong a density-ratio discriminator is, in nats, against the exact log ratio of
the aggregated posterior it estimates."""

from __future__ import annotations

import math

import torch

from optprior._random import seeded_torch
from optprior.nn.encoder import GaussianEncoder, standard_normal_log_prob
from optprior.priors import OptimalPrior
from optprior.priors.mixture import (
    MAX_ELEMENTS,
    gaussian_mixture_log_density,
    mixture_draws,
    mixture_log_density_without,
)


def leave_one_out_log_density(
    z: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    log_weights: torch.Tensor,
    own: torch.Tensor,
    max_elements: int = MAX_ELEMENTS,
) -> torch.Tensor:
    """ln q_-n(z) (nats): for each z (m, D), the mixture of the components (C, D), weights
    ln w (C,), without component ``own`` (m,), the rest's weights renormalised; the
    density a held-out point's code meets where q(z) is a mixture of training posteriors.
    NaN with one component. Chunks of at most ``max_elements`` (z, component) pairs."""
    if mu.shape[0] < 2:
        return torch.full(z.shape[:1], math.nan, dtype=z.dtype, device=z.device)
    rows = max(1, max_elements // mu.shape[0])
    components = torch.arange(mu.shape[0], device=mu.device)
    return torch.cat(
        [
            mixture_log_density_without(
                z_rows, mu, logvar, log_weights, components[None, :] == own_rows[:, None]
            )
            for z_rows, own_rows in zip(z.split(rows), own.split(rows), strict=True)
        ]
    )


@torch.no_grad()
def calibration_points(
    prior: OptimalPrior,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    log_weights: torch.Tensor | None = None,
    n_draws: int = 2000,
    seed: int = 0,
    held_out: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """T and the exact log ratio it estimates at ``n_draws`` fresh z ~ q(z), q the mixture
    of the posteriors ``mu``, ``logvar`` (N, D) with weights ln w (N,) (default 1/N each;
    pass the weights T was trained for), each (n_draws,) in nats: ``t`` = T(z), ``exact``
    = ln q(z) - ln N(z; 0, I), and ``exact_loo`` = the same with q_-n, the mixture without
    the posterior n that drew z (``leave_one_out_log_density``): what q(z) is at a code
    its own posterior is not in, as at a held-out point's. With ``held_out`` posteriors
    (mean and log-variance, (M, D) each; e.g. of test points), also ``t_held_out`` and
    ``exact_held_out`` (M,) at one code drawn from each."""
    device = prior.device()
    mu, logvar = mu.to(device), logvar.to(device)
    log_weights = torch.zeros(mu.shape[0]) if log_weights is None else log_weights
    log_weights = log_weights.to(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    z, pick = mixture_draws(mu, logvar, log_weights, n_draws, generator)
    prior.eval()
    log_weights = torch.log_softmax(log_weights, 0)
    log_normal = standard_normal_log_prob(z)
    points = {
        "t": prior.log_ratio(z),
        "exact": gaussian_mixture_log_density(z, mu, logvar, log_weights) - log_normal,
        "exact_loo": leave_one_out_log_density(z, mu, logvar, log_weights, pick) - log_normal,
    }
    if held_out is not None:
        with seeded_torch(seed, device):
            codes = GaussianEncoder.rsample(held_out[0].to(device), held_out[1].to(device))
        points["t_held_out"] = prior.log_ratio(codes)
        points["exact_held_out"] = gaussian_mixture_log_density(
            codes, mu, logvar, log_weights
        ) - standard_normal_log_prob(codes)
    return points


def discriminator_calibration(points: dict[str, torch.Tensor]) -> dict[str, float]:
    """T's error at the draws of ``calibration_points``: the mean and standard deviation
    of T(z) - [ln q(z) - ln N(z; 0, I)] (0 for an exact T), in nats
    (``calibration_error_mean``/``_std``), and of the same against q_-n (``_loo_``).
    ln Z, the other half of T's calibration, is ``OptimalPrior.normalizer_estimate``."""
    error, held_out = points["t"] - points["exact"], points["t"] - points["exact_loo"]
    return {
        "calibration_error_mean": float(error.mean()),
        "calibration_error_std": float(error.std()),
        "calibration_error_loo_mean": float(held_out.mean()),
        "calibration_error_loo_std": float(held_out.std()),
    }
