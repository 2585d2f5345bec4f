"""The normaliser Z of an unnormalised density, such as the optimal prior's
N(z; 0, I) e^T(z), by annealed importance sampling (Neal 2001).

Importance sampling from one proposal fails once the target is far from every proposal
tried: a handful of draws carry the mean. Annealing moves chains from a base
distribution (beta = 0) to the target (beta = 1) through the densities between them,
each step's importance weight small, with a Metropolis-adjusted Langevin (MALA) move
that leaves the step's density invariant after every step. The mean of the chains'
weights is an unbiased estimate of Z, so ln of it is low in expectation (Jensen) and
rises towards ln Z as the temperatures grow in number.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch.distributions import Distribution

from optprior._random import seeded_torch

#: MALA's acceptance rate that its step sizes are tuned to (Roberts & Rosenthal 1998).
TARGET_ACCEPTANCE = 0.574


class NormalizerEstimate(NamedTuple):
    """ln Z (nats) and the effective number of the draws or chains that estimate it,
    (sum w)^2 / sum w^2 (Kish)."""

    log_z: float
    effective_samples: float


def from_log_weights(log_weights: torch.Tensor) -> NormalizerEstimate:
    """ln of the mean weight and the weights' effective number, from ln w: (M,)."""
    log_sum = torch.logsumexp(log_weights, 0)
    return NormalizerEstimate(
        log_z=float(log_sum - math.log(log_weights.shape[0])),
        effective_samples=float(torch.exp(2 * log_sum - torch.logsumexp(2 * log_weights, 0))),
    )


def sigmoid_schedule(n_temperatures: int, sharpness: float = 4.0) -> torch.Tensor:
    """Inverse temperatures 0 = b_0 < ... < b_n = 1, shape (n + 1,), dense at both ends
    (a logistic curve rescaled to [0, 1]; Grosse et al. 2015)."""
    if n_temperatures < 1:
        raise ValueError(f"n_temperatures must be >= 1, got {n_temperatures}")
    curve = torch.sigmoid(sharpness * torch.linspace(-1.0, 1.0, n_temperatures + 1))
    return ((curve - curve[0]) / (curve[-1] - curve[0])).to(torch.float64)


def annealed_log_normalizer(
    log_target: Callable[[torch.Tensor], torch.Tensor],
    base: Distribution,
    n_chains: int = 500,
    n_temperatures: int = 500,
    seed: int = 0,
) -> NormalizerEstimate:
    """ln Z = ln of the integral of e^``log_target`` by annealed importance sampling from
    ``base``, a normalised distribution on (D,) vectors that can be sampled and whose
    log density is differentiable: chains drawn from ``base`` move through
    pi_b ~ base^(1 - b) e^(b log_target) up to b = 1. ``log_target``: (M, D) -> (M,),
    differentiable. The closer ``base`` is to the target, the fewer temperatures the
    estimate needs; with N(0, I) as the base and log_target = ln N(0, I) + T, the path is
    N(0, I) e^(b T).

    A pilot run of ``n_chains`` chains tunes one MALA step size per temperature to an
    acceptance rate near 0.57; a second, independent run with those step sizes fixed
    gives the estimate (adapting inside the run that estimates would make each move
    depend on the chains' past). Draws come from torch seeded with ``seed``; the
    caller's random state is left alone."""
    if n_chains < 1:
        raise ValueError(f"n_chains must be >= 1, got {n_chains}")
    betas = sigmoid_schedule(n_temperatures)
    path = GeometricPath(log_target, base)
    with seeded_torch(seed, base.mean.device):
        steps, _ = _anneal(path, n_chains, betas, None)
        _, log_weights = _anneal(path, n_chains, betas, steps)
    return from_log_weights(log_weights)


class _Point(NamedTuple):
    """Chains at z (M, D): ln base(z) and the log ratio ln target(z) - ln base(z) (M,),
    and their gradients in z (M, D)."""

    z: torch.Tensor
    log_base: torch.Tensor
    ratio: torch.Tensor
    base_grad: torch.Tensor
    ratio_grad: torch.Tensor

    def log_density(self, beta: float) -> torch.Tensor:
        """ln pi_beta(z) up to its normaliser: (M,)."""
        return self.log_base + beta * self.ratio

    def grad(self, beta: float) -> torch.Tensor:
        """The gradient of ln pi_beta at z: (M, D)."""
        return self.base_grad + beta * self.ratio_grad

    def where(self, keep: torch.Tensor, other: _Point) -> _Point:
        """This point where ``keep`` (M,) is true, ``other`` elsewhere."""
        chosen = (
            torch.where(keep.reshape(-1, *[1] * (mine.ndim - 1)), mine, theirs)
            for mine, theirs in zip(self, other, strict=True)
        )
        return _Point(*chosen)


class GeometricPath:
    """The densities base^(1 - b) e^(b log_target), 0 <= b <= 1, evaluated at chains."""

    def __init__(
        self, log_target: Callable[[torch.Tensor], torch.Tensor], base: Distribution
    ) -> None:
        self.log_target, self.base = log_target, base

    def at(self, z: torch.Tensor) -> _Point:
        """The chains at ``z`` (M, D), detached."""
        with torch.enable_grad():
            z = z.detach().requires_grad_(True)
            log_base = self.base.log_prob(z)
            ratio = self.log_target(z).to(log_base.dtype) - log_base
            (base_grad,) = torch.autograd.grad(log_base.sum(), z, retain_graph=True)
            (ratio_grad,) = torch.autograd.grad(ratio.sum(), z)
        return _Point(z.detach(), log_base.detach(), ratio.detach(), base_grad, ratio_grad)


def _anneal(
    path: GeometricPath, n_chains: int, betas: torch.Tensor, steps: list[float] | None
) -> tuple[list[float], torch.Tensor]:
    """One annealing run: the step size used at each temperature (tuned as it goes when
    ``steps`` is None) and the chains' ln weights (float64, (n_chains,))."""
    point = path.at(path.base.sample((n_chains,)))
    log_weights = torch.zeros(n_chains, dtype=torch.float64, device=point.z.device)
    step, used = 0.5, []
    for t in range(1, len(betas)):
        log_weights += (betas[t] - betas[t - 1]).item() * point.ratio.to(torch.float64)
        if steps is not None:
            step = steps[t - 1]
        point, accepted = _mala_move(path, point, float(betas[t]), step)
        used.append(step)
        if steps is None:  # Robbins-Monro on ln(step): towards the target acceptance
            step *= math.exp(accepted - TARGET_ACCEPTANCE)
    return used, log_weights


def _mala_move(
    path: GeometricPath, point: _Point, beta: float, step: float
) -> tuple[_Point, float]:
    """One Metropolis-adjusted Langevin move of every chain, invariant for pi_beta: the
    chains after it and the share of moves accepted."""

    def mean_of_move(at: _Point) -> torch.Tensor:
        return at.z + 0.5 * step**2 * at.grad(beta)

    proposed = path.at(mean_of_move(point) + step * torch.randn_like(point.z))
    forward = -(proposed.z - mean_of_move(point)).pow(2).sum(-1) / (2 * step**2)
    backward = -(point.z - mean_of_move(proposed)).pow(2).sum(-1) / (2 * step**2)
    log_accept = proposed.log_density(beta) + backward - point.log_density(beta) - forward
    accept = torch.rand_like(log_accept).log() < log_accept
    return proposed.where(accept, point), float(accept.float().mean())
