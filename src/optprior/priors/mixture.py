"""The optimal prior computed exactly: the aggregated posterior q(z), a weighted mixture of
the training points' diagonal Gaussian posteriors, evaluated by log-sum-exp in chunks."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from optprior.nn.encoder import LOG_2PI
from optprior.priors.base import Prior

#: Budget of one chunk: query points x components of the (m, C) log-density matrix.
#: 2^22 entries keep each of its few intermediate matrices at 16 MiB (32 for the float64 product).
MAX_ELEMENTS = 1 << 22


def chunk_sizes(n_points: int, n_components: int, max_elements: int) -> tuple[int, int]:
    """Query points and components per chunk, their product within ``max_elements``
    (components first, at least one of each)."""
    components = max(1, min(n_components, max_elements))
    points = max(1, min(n_points, max_elements // components))
    return points, components


def quadratic_features(z: torch.Tensor) -> torch.Tensor:
    """[z^2, z, 1]: z (m, D) -> (m, 2D + 1), the left factor of ``component_log_densities``."""
    return torch.cat([z.pow(2), z, torch.ones_like(z[:, :1])], 1)


def component_coefficients(
    mu: torch.Tensor, logvar: torch.Tensor, log_weights: torch.Tensor
) -> torch.Tensor:
    """The right factor: components (C, D), ``log_weights`` (C,) -> (2D + 1, C) such that
    ``quadratic_features(z) @ it`` = ln w_c + ln N(z; mu_c, diag e^{logvar_c}), the squared
    distance sum_d (z_d - mu_cd)^2 / var_cd expanded into one matrix product."""
    precision = torch.exp(-logvar)  # (C, D)
    scaled_mean = mu * precision
    constant = log_weights - 0.5 * (
        LOG_2PI * mu.shape[1] + logvar.sum(-1) + (mu * scaled_mean).sum(-1)
    )
    return torch.cat([-0.5 * precision, scaled_mean, constant[:, None]], 1).T


def expanded(factor: Callable[..., torch.Tensor], *tensors: torch.Tensor) -> torch.Tensor:
    """``factor`` of ``tensors`` in float64: the expanded squared distance adds terms of
    size (|z|^2 + |mu|^2) / var to cancel them, which in float32 loses nats once posterior
    variances are narrow (e^-10 and |mu| about 5 lose about 2 nats); float64 keeps the
    error far below 1e-3 nats, at about a tenth more time per chunk (the log-sum-exp over
    the product, in the input dtype, costs the most)."""
    return factor(*(t.to(torch.float64) for t in tensors))


def component_log_densities(
    z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, log_weights: torch.Tensor
) -> torch.Tensor:
    """ln w_c + ln N(z_m; mu_c, diag e^{logvar_c}): z (m, D), components (C, D) -> (m, C)
    in z's dtype. ``log_weights``: (C,), or (m, C) to weigh the components apart for each
    z. The product runs in float64 (``expanded``)."""
    unweighted = expanded(component_coefficients, mu, logvar, torch.zeros_like(mu[:, 0]))
    return (expanded(quadratic_features, z) @ unweighted).to(z.dtype) + log_weights


def mixture_draws(
    mu: torch.Tensor,
    logvar: torch.Tensor,
    log_weights: torch.Tensor,
    n: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """n draws from the mixture of diagonal Gaussians (C, D) with weights ln w (C,) (not
    necessarily normalised): a component by its weight, then a draw from it. Returns the
    draws (n, D) and the component of each (n,)."""
    pick = torch.multinomial(torch.softmax(log_weights, 0), n, True, generator=generator)
    noise = torch.randn((n, mu.shape[1]), generator=generator, dtype=mu.dtype, device=mu.device)
    return mu[pick] + torch.exp(0.5 * logvar[pick]) * noise, pick


def mixture_log_density_without(
    z: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    log_weights: torch.Tensor,
    left_out: torch.Tensor,
) -> torch.Tensor:
    """ln of the mixture of components (C, D), weights ln w (C,), at each z (m, D) with the
    components marked in ``left_out`` (m, C) (bool) removed for that z and the rest's
    weights renormalised (nats, (m,)); one (m, C) matrix, no chunking."""
    log_w = log_weights.expand_as(left_out).masked_fill(left_out, -math.inf)
    densities = component_log_densities(z, mu, logvar, log_w)
    return torch.logsumexp(densities, 1) - torch.logsumexp(log_w, 1)


def gaussian_mixture_log_density(
    z: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    log_weights: torch.Tensor | None = None,
    max_elements: int = MAX_ELEMENTS,
) -> torch.Tensor:
    """ln sum_c w_c N(z; mu_c, diag e^{logvar_c}) (nats): z (..., D), components (C, D),
    ``log_weights`` (C,) summing to 1 in probability (default: 1/C each) -> (...).

    Query points and components are taken in chunks of at most ``max_elements`` pairs, the
    log-sum-exp carried across component chunks, so memory stays bounded for any C.
    """
    n = mu.shape[0]
    if log_weights is None:
        log_weights = torch.full((n,), -math.log(n), dtype=mu.dtype, device=mu.device)
    features = expanded(quadratic_features, z.reshape(-1, z.shape[-1]))
    coefficients = expanded(component_coefficients, mu, logvar, log_weights)
    points, components = chunk_sizes(features.shape[0], n, max_elements)
    out = []
    for i in range(0, features.shape[0], points):
        chunk = features[i : i + points]
        total = torch.logsumexp((chunk @ coefficients[:, :components]).to(z.dtype), dim=1)
        for j in range(components, n, components):
            part = (chunk @ coefficients[:, j : j + components]).to(z.dtype)
            total = torch.logaddexp(total, torch.logsumexp(part, dim=1))
        out.append(total)
    return torch.cat(out).reshape(z.shape[:-1])


class MixturePrior(Prior):
    """p(z) = sum_n w_n q(z | x_n, s_n): the aggregated posterior of the training data
    under the encoder, held as buffers (saved with the model) and set by its training plan
    (``training.mixture.MixturePriorPlan``). Normalised by construction: no ln Z to
    estimate."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__(latent_dim)
        self.register_buffer("means", torch.zeros(0, latent_dim))
        self.register_buffer("logvars", torch.zeros(0, latent_dim))
        self.register_buffer("log_weights", torch.zeros(0))

    @torch.no_grad()
    def set_components(
        self, mu: torch.Tensor, logvar: torch.Tensor, log_weights: torch.Tensor
    ) -> None:
        """Hold the posteriors (N, D), (N, D) with weights ln w (N,) as the prior."""
        self.means = mu.detach().clone()
        self.logvars = logvar.detach().clone()
        self.log_weights = log_weights.detach().clone()

    def _components(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if not self.means.shape[0]:
            raise ValueError("the mixture prior holds no training posteriors: fit the model")
        return self.means, self.logvars, self.log_weights

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return gaussian_mixture_log_density(z, *self._components())

    def sample(self, n: int) -> torch.Tensor:
        """n draws: a component by its weight, then a draw from its Gaussian."""
        return mixture_draws(*self._components(), n)[0]

    def _load_from_state_dict(
        self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any
    ) -> None:
        """Take the stored components' number from the file, on this prior's device and
        in its dtype (the file's tensors are on the CPU); refuse damaged ones."""
        names = ("means", "logvars", "log_weights")
        means, logvars, log_weights = (state_dict.get(prefix + name) for name in names)
        missing = [prefix + name for name in names if prefix + name not in state_dict]
        if missing:
            raise ValueError(f"the stored training posteriors are missing: {', '.join(missing)}")
        assert means is not None and logvars is not None and log_weights is not None
        _check_components(means, logvars, log_weights, self.latent_dim)
        self.means = self.means.new_empty(means.shape)
        self.logvars = self.logvars.new_empty(logvars.shape)
        self.log_weights = self.log_weights.new_empty(log_weights.shape)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def _check_components(
    means: torch.Tensor, logvars: torch.Tensor, log_weights: torch.Tensor, latent_dim: int
) -> None:
    """``ValueError`` naming what is wrong with stored training posteriors."""
    n = means.shape[0]
    if means.shape != (n, latent_dim) or logvars.shape != means.shape or log_weights.shape != (n,):
        raise ValueError(
            f"the stored training posteriors have shapes {tuple(means.shape)}, "
            f"{tuple(logvars.shape)}, {tuple(log_weights.shape)}; expected (N, {latent_dim}) "
            "twice and (N,)"
        )
    if not all(bool(torch.isfinite(t).all()) for t in (means, logvars, log_weights)):
        raise ValueError("the stored training posteriors hold NaN or infinite values")
    if n and abs(float(torch.logsumexp(log_weights.double(), 0))) > 1e-4:
        raise ValueError("the stored mixture weights do not sum to 1")
