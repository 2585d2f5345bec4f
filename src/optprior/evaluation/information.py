"""Information terms of Theorem 1 computed from Gaussian posteriors and exact mixtures.

Given posterior parameters ``mu``, ``logvar`` (N, D) of N data points and their task
indices ``s`` (N,) (tensors or arrays), the empirical aggregated posterior is the mixture
q(z) = 1/N sum_n N(z; mu_n, diag(exp(logvar_n))), and q(z | s=k) the mixture over task
k's points. All values are in nats.
"""

from __future__ import annotations

import numpy as np
import torch

from optprior.nn.encoder import (
    gaussian_log_prob,
    kl_to_standard_normal,
    standard_normal_log_prob,
)
from optprior.priors.mixture import gaussian_mixture_log_density

#: Posterior parameters or tasks as the public functions take them.
TensorOrArray = torch.Tensor | np.ndarray


def mixture_log_density(
    z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, chunk: int = 1024
) -> torch.Tensor:
    """ln (1/N sum_n N(z; mu_n, diag e^{logvar_n})): z (M, D), components (N, D) -> (M,),
    ``chunk`` query points at a time."""
    return gaussian_mixture_log_density(z, mu, logvar, max_elements=chunk * mu.shape[0])


def _draw(mu: torch.Tensor, logvar: torch.Tensor, n_samples: int, seed: int) -> torch.Tensor:
    generator = torch.Generator(device=mu.device).manual_seed(seed)
    eps = torch.randn((n_samples, *mu.shape), generator=generator, device=mu.device, dtype=mu.dtype)
    return (mu + torch.exp(0.5 * logvar) * eps).reshape(-1, mu.shape[1])


def _task_log_densities(
    z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, s: torch.Tensor, n_samples: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """ln q(z | s_n) and ln q(z) at draws z from each point n's own posterior: (n_samples*N,)."""
    owner_task = s.repeat(n_samples)
    log_q_task = torch.empty(z.shape[0], device=z.device, dtype=z.dtype)
    for task in torch.unique(s):
        members = s == task
        rows = owner_task == task
        log_q_task[rows] = mixture_log_density(z[rows], mu[members], logvar[members])
    return log_q_task, mixture_log_density(z, mu, logvar)


@torch.no_grad()
def task_mutual_information(
    mu: TensorOrArray, logvar: TensorOrArray, s: TensorOrArray, n_samples: int = 1, seed: int = 0
) -> float:
    """I(S; Z) = E[ln q(z | s) - ln q(z)] under the empirical aggregated posterior (nats).

    Task weights pi_k are the task frequencies in ``s``; at most ln K, and close to it
    whenever the posteriors barely overlap: each z then names its point, and so its task,
    whatever the encoder does with s (two tasks with codes from one distribution give
    about ln 2 at logvar below -1). It is Theorem 1's term for these N points, not an
    estimate of the leakage a new point shows; the probes (``metrics.task_probe``) are.
    """
    mu, logvar, s = torch.as_tensor(mu), torch.as_tensor(logvar), torch.as_tensor(s)
    z = _draw(mu, logvar, n_samples, seed)
    log_q_task, log_q = _task_log_densities(z, mu, logvar, s, n_samples)
    return float((log_q_task - log_q).mean())


@torch.no_grad()
def rate_decomposition(
    mu: TensorOrArray, logvar: TensorOrArray, s: TensorOrArray, n_samples: int = 1, seed: int = 0
) -> dict[str, float]:
    """The terms of Theorem 1 for a N(0, I) prior:

    ``rate`` = E[KL(q(z|x,s) || N(0, I))] (closed form) and its decomposition into
    ``task_information`` I(S;Z), ``aggregate_kl`` KL(q(z) || N(0, I)) and
    ``within_task_information`` sum_k pi_k I(X^(k); Z^(k)) (Monte Carlo estimates
    sharing the same draws).
    """
    mu, logvar, s = torch.as_tensor(mu), torch.as_tensor(logvar), torch.as_tensor(s)
    rate = kl_to_standard_normal(mu, logvar).mean()
    z = _draw(mu, logvar, n_samples, seed)
    mu_rep, logvar_rep = mu.repeat(n_samples, 1), logvar.repeat(n_samples, 1)
    log_q_point = gaussian_log_prob(z, mu_rep, logvar_rep)
    log_q_task, log_q = _task_log_densities(z, mu, logvar, s, n_samples)
    return {
        "rate": float(rate),
        "task_information": float((log_q_task - log_q).mean()),
        "aggregate_kl": float((log_q - standard_normal_log_prob(z)).mean()),
        "within_task_information": float((log_q_point - log_q_task).mean()),
    }
