"""Penalties on the task information of z, added to the negative ELBO by
``PenalisedELBOPlan``. Each maps a batch's terms and tasks to a scalar (nats per point)."""

from __future__ import annotations

from typing import Protocol

import torch

from optprior.module import ObjectiveTerms
from optprior.nn.encoder import mean_pairwise_kl


class Penalty(Protocol):
    """A penalty: (terms of a batch, its tasks ``s`` (B,)) -> a scalar tensor."""

    def __call__(self, terms: ObjectiveTerms, s: torch.Tensor) -> torch.Tensor: ...


def moyer_information_bound(terms: ObjectiveTerms, s: torch.Tensor) -> torch.Tensor:
    """Moyer et al. (2018)'s bound on I(z; s) up to the constant H(x|s):
    E KL(q(z|x,s) || q(z)) - E ln p(x|z,s), its first term estimated as they do on the
    minibatch, by the mean KL between the batch's posteriors (``mean_pairwise_kl``), which
    by convexity bounds the mean KL from each posterior to the batch's mixture of them.
    ``s`` is not read: the bound needs only the posteriors."""
    return mean_pairwise_kl(terms.mu, terms.logvar) - terms.reconstruction.mean()


def _gaussian_gram(z: torch.Tensor) -> torch.Tensor:
    """exp(-|z_i - z_j|^2 / m) for the batch's z (B, D): (B, B), with m the median of the
    pairwise squared distances (the median heuristic; taken without gradient)."""
    squared = z.pow(2).sum(-1)
    distances = (squared[:, None] + squared[None, :] - 2.0 * z @ z.T).clamp_min(0.0)
    off_diagonal = ~torch.eye(z.shape[0], dtype=torch.bool, device=z.device)
    scale = distances.detach()[off_diagonal].median().clamp_min(1e-12)
    return torch.exp(-distances / scale)


def hsic_penalty(terms: ObjectiveTerms, s: torch.Tensor) -> torch.Tensor:
    """The biased HSIC estimate between the drawn z and the task s (Lopez et al. 2018):
    (1/B^2) tr(K H L H), K a Gaussian kernel on z (median heuristic), L = [s_i = s_j],
    H the centring matrix. 0 when every task's z are the same set, or with one task."""
    gram = _gaussian_gram(terms.z)
    centred = gram - gram.mean(0, keepdim=True) - gram.mean(1, keepdim=True) + gram.mean()
    same_task = (s[:, None] == s[None, :]).to(gram.dtype)
    return (centred * same_task).sum() / s.numel() ** 2


def mmd_penalty(terms: ObjectiveTerms, s: torch.Tensor) -> torch.Tensor:
    """The mean over the batch's tasks of the biased MMD^2 between a task's z and the whole
    batch's (the VFAE penalty of Louizos et al. 2016, for any number of tasks), Gaussian
    kernel with the median heuristic. 0 when every task's z are the same set."""
    gram = _gaussian_gram(terms.z)
    whole = gram.mean()
    gaps = []
    for task in torch.unique(s):
        member = s == task
        gaps.append(gram[member][:, member].mean() + whole - 2.0 * gram[member].mean())
    return torch.stack(gaps).mean()
