"""Penalties on the task information of z, added to the negative ELBO by
``PenalisedELBOPlan``. Each maps a batch's terms and tasks to a scalar (nats per point);
a penalty with parameters of its own (``TaskAdversary``) is an ``nn.Module``, trained and
checkpointed by the plan."""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from optprior.evaluation.invariance import gaussian_gram, hsic, mmd
from optprior.module import ObjectiveTerms
from optprior.nn.encoder import mean_pairwise_kl
from optprior.nn.mlp import MLP


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


def hsic_penalty(terms: ObjectiveTerms, s: torch.Tensor) -> torch.Tensor:
    """The biased HSIC between the drawn z and the task s (Lopez et al. 2018), Gaussian
    kernel with the median heuristic (``evaluation.invariance.hsic``)."""
    return hsic(gaussian_gram(terms.z), s)


def mmd_penalty(terms: ObjectiveTerms, s: torch.Tensor) -> torch.Tensor:
    """The mean over the batch's tasks of the biased MMD^2 between a task's z and the
    batch's (the VFAE penalty of Louizos et al. 2016, for any number of tasks;
    ``evaluation.invariance.mmd``)."""
    return mmd(gaussian_gram(terms.z), s)


class _ReversedGradient(torch.autograd.Function):
    """The identity forward; the gradient negated backward."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, z: torch.Tensor) -> torch.Tensor:
        return z.view_as(z)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        return -grad


def reverse_gradient(z: torch.Tensor) -> torch.Tensor:
    """``z`` unchanged, with the gradient that flows back through it negated."""
    return _ReversedGradient.apply(z)


class TaskAdversary(nn.Module):
    """An adversarial penalty (Ganin et al. 2016; Edwards & Storkey 2016): a classifier
    of the task from the drawn z, whose cross-entropy (nats per point) is the penalty.
    The gradient reaches z reversed, so one minimisation step makes the classifier better
    and the encoder's codes harder to classify: the encoder maximises what the classifier
    minimises. A cross-entropy near ln K (K tasks, balanced) means z hides s."""

    def __init__(self, latent_dim: int, n_tasks: int, hidden_sizes: tuple[int, ...]) -> None:
        super().__init__()
        self.classifier = MLP(latent_dim, n_tasks, hidden_sizes, "relu")

    def forward(self, terms: ObjectiveTerms, s: torch.Tensor) -> torch.Tensor:
        logits = self.classifier(reverse_gradient(terms.z))
        return nn.functional.cross_entropy(logits, s)
