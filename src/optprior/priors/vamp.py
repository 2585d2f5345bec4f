"""The VampPrior (Tomczak & Welling 2018): a mixture of the encoder's posteriors at learned
pseudo-inputs, trained with the model by the ELBO."""

from __future__ import annotations

import warnings

import torch
from torch import nn

from optprior._validation import user_stacklevel
from optprior.nn.encoder import GaussianEncoder
from optprior.priors.base import Prior
from optprior.priors.mixture import gaussian_mixture_log_density


class VampPrior(Prior):
    """p(z) = (1/C) sum_c q(z | u_c, s_c): the encoder's Gaussian posteriors at C
    pseudo-inputs u_c (each with a task s_c), learned with encoder and decoder.

    ``pseudo_inputs``: ``"per_task"`` (``components`` pseudo-inputs of each task's own,
    encoded with that task) or ``"shared"`` (``components`` pseudo-inputs, each encoded
    under every task); either way C = ``components`` x tasks, weighted equally, so every
    task's share of the prior is the same. ``bounded``: pseudo-inputs are kept in [0, 1]
    (hard tanh), as Bernoulli data are. A mixture of Gaussians: normalised by
    construction. The encoder is given by the module that holds the prior (``attach``).
    """

    pseudo_inputs: nn.Parameter
    component_tasks: torch.Tensor  # (C,) the task each component is encoded with
    component_rows: torch.Tensor  # (C,) the pseudo-input it encodes

    def __init__(self, latent_dim: int, components: int, pseudo_inputs: str, bounded: bool) -> None:
        super().__init__(latent_dim)
        self.components, self.shared, self.bounded = components, pseudo_inputs == "shared", bounded
        self._encoder: tuple[GaussianEncoder, ...] = ()

    def attach(self, encoder: GaussianEncoder) -> None:
        """Use ``encoder`` (not one of this prior's modules: it is the model's) and make
        the pseudo-inputs, drawn uniformly from [0, 1] until ``start`` sets them."""
        self._encoder = (encoder,)
        tasks = max(encoder.n_tasks, 1)
        rows = self.components * (1 if self.shared else tasks)
        self.pseudo_inputs = nn.Parameter(torch.rand(rows, encoder.x_dim))
        task_of = torch.arange(tasks).repeat_interleave(self.components)
        row_of = torch.arange(rows).repeat(tasks) if self.shared else torch.arange(rows)
        self.register_buffer("component_tasks", task_of)
        self.register_buffer("component_rows", row_of)

    @torch.no_grad()
    def start(self, x: torch.Tensor, s: torch.Tensor) -> None:
        """Start each pseudo-input at a training point drawn at random (without
        replacement; of its own task where pseudo-inputs are per task), as Tomczak &
        Welling do: pseudo-inputs of noise let the posterior collapse within a few
        epochs (docs/results.md). Where a task has fewer points than pseudo-inputs, every
        point is taken once and the rest are repeats of points drawn again (a warning
        says so): identical pseudo-inputs stay identical, a smaller mixture."""
        for task in range(1 if self.shared else int(self.component_tasks.max()) + 1):
            rows = self.component_rows[self.component_tasks == task]
            pool = torch.arange(x.shape[0], device=x.device)
            if not self.shared and self._encoder[0].n_tasks:
                pool = pool[s == task]
            if not len(pool):
                continue
            pick = pool[torch.randperm(len(pool), device=x.device)[: len(rows)]]
            if len(pick) < len(rows):
                whose = "the training set" if self.shared else f"task {task}"
                warnings.warn(
                    f"{whose} has {len(pool)} points for {len(rows)} pseudo-inputs: "
                    f"{len(rows) - len(pick)} start as repeats; set vamp_components to at "
                    f"most {len(pool)} to silence this",
                    stacklevel=user_stacklevel(),  # the user's line, however deep
                )
                again = torch.randint(len(pool), (len(rows) - len(pick),), device=x.device)
                pick = torch.cat([pick, pool[again]])
            self.pseudo_inputs[rows] = x[pick]

    def posteriors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of the C components: (C, D) each."""
        if not self._encoder:
            raise ValueError("the VampPrior has no encoder: it is made by a model's module")
        u: torch.Tensor = self.pseudo_inputs
        if self.bounded:
            u = torch.nn.functional.hardtanh(u, 0.0, 1.0)
        tasks = self.component_tasks if self._encoder[0].n_tasks else None
        return self._encoder[0](u[self.component_rows], tasks)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return gaussian_mixture_log_density(z, *self.posteriors())

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """n draws: a component uniformly, then a draw from its Gaussian."""
        mu, logvar = self.posteriors()
        pick = torch.randint(mu.shape[0], (n,), device=mu.device)
        return mu[pick] + torch.exp(0.5 * logvar[pick]) * torch.randn_like(mu[pick])
