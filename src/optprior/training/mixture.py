"""The plan of the exact optimal prior: the KL to the aggregated posterior estimated on a
random subset of training posteriors, each point's own left out."""

from __future__ import annotations

import math
import warnings

import torch

from optprior._validation import user_stacklevel
from optprior.module import ObjectiveTerms, VAEModule
from optprior.nn.encoder import gaussian_log_prob
from optprior.priors.base import Prior
from optprior.priors.mixture import MixturePrior, mixture_log_density_without
from optprior.training.batches import binarize, component_log_weights, encoding_rows
from optprior.training.config import MixtureConfig, TrainingConfig
from optprior.training.plans import ELBOPlan, Validation


class LeaveOneOutMixture(Prior):
    """The mixture of a subset of training posteriors as the prior of a batch, each batch
    point's own posterior left out of its prior (as in the Exemplar VAE), so that the
    prior cannot just memorise the point; the weights of the rest renormalised.

    Components (C, D) with weights ln w (C,) and training indices ``owners`` (C,); the
    batch's training indices ``batch`` (B,). ``log_prob`` takes z (B, D), one per point.
    With ``own_log_weights`` (B,), the prior of each point is instead the exact q(z): its
    own posterior (the one ``kl`` is given) with its weight w_n, and the subset's others
    with the rest, 1 - w_n.
    """

    def __init__(
        self,
        mu: torch.Tensor,
        logvar: torch.Tensor,
        log_weights: torch.Tensor,
        owners: torch.Tensor,
        batch: torch.Tensor,
        own_log_weights: torch.Tensor | None = None,
    ) -> None:
        super().__init__(mu.shape[1])
        self.mu, self.logvar, self.log_weights = mu, logvar, log_weights
        self.own = owners[None, :] == batch[:, None]  # (B, C)
        self.own_log_weights = own_log_weights

    def kl(self, z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """ln q(z|x) - ln p(z) at the drawn z (B, D) of the batch's posteriors (B, D)."""
        log_q = gaussian_log_prob(z, mu, logvar)
        log_p = self.log_prob(z)
        if self.own_log_weights is not None:
            rest = torch.log1p(-torch.exp(self.own_log_weights))
            log_p = torch.logaddexp(self.own_log_weights + log_q, rest + log_p)
        return log_q - log_p

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return mixture_log_density_without(z, self.mu, self.logvar, self.log_weights, self.own)

    def sample(self, n: int) -> torch.Tensor:
        raise NotImplementedError("a training-time estimate of the prior is not sampled")


class MixturePriorPlan(ELBOPlan):
    """ELBO steps whose KL is to a ``LeaveOneOutMixture`` of ``mixture_components``
    training posteriors (each point's own left out or, with ``mixture_leave_one_out``
    false, included at its weight, so the prior is the exact q(z)). With
    ``mixture_subset="drawn"`` they are a random subset drawn and encoded every
    ``mixture_refresh`` steps (with gradient through them, or through z only:
    ``mixture_gradient``); with ``"recent"``, the latest steps' own posteriors (detached)
    replace the oldest components of a subset drawn at the epoch's start, so no step
    encodes more than its batch. Before each epoch is scored,
    the module's ``MixturePrior`` is set to the posteriors of all training points under
    the current encoder (one binarisation of each, for Bernoulli data), so validation, the
    kept epoch and every later score use the exact mixture of that encoder. The tasks'
    posteriors are weighted per ``task_weights`` (``batches.component_log_weights``)."""

    def __init__(
        self,
        module: VAEModule,
        config: TrainingConfig,
        binarize: bool,
        mixture: MixtureConfig,
        task_weights: str,
    ) -> None:
        super().__init__(module, config, binarize)
        if not isinstance(module.prior, MixturePrior):
            raise ValueError(f"{type(module.prior).__name__} is not a mixture prior")
        self.prior, self.mixture, self.task_weights = module.prior, mixture, task_weights

    def start(self, x: torch.Tensor, s: torch.Tensor, validation: Validation | None) -> None:
        self.components = min(self.mixture.components, x.shape[0])
        if self.components < 2:  # a subset of the point alone: no other posterior, NaN
            raise ValueError(
                "the exact mixture prior takes each point's prior from the other posteriors "
                "of its subset (its own left out, or added at its weight): "
                "mixture_components and the training points must be >= 2, got "
                f"{self.mixture.components} and {x.shape[0]}"
            )
        if self.components < self.mixture.components:
            warnings.warn(
                f"mixture_components ({self.mixture.components}) is larger than the "
                f"training set ({x.shape[0]} points): the prior's subset takes all "
                f"{x.shape[0]}; set mixture_components to at most {x.shape[0]} to silence this",
                stacklevel=user_stacklevel(),  # the user's line, however deep
            )
        self.x, self.s = x, s
        self.log_weights = component_log_weights(s, self.task_weights)
        super().start(x, s, validation)

    def train_epoch(
        self, x: torch.Tensor, s: torch.Tensor, epoch: int, generator: torch.Generator
    ) -> dict[str, float]:
        # Subsets are drawn from the epoch's generator and counted from its first step,
        # so a fit resumed from a checkpoint (written between epochs) draws the same ones.
        self._generator, self._step = generator, 0
        self._batches = math.ceil(x.shape[0] / self.config.batch_size)
        return super().train_epoch(x, s, epoch, generator)

    def objective(self, x: torch.Tensor, s: torch.Tensor, index: torch.Tensor) -> ObjectiveTerms:
        recent = self.mixture.subset == "recent"
        # "recent": a drawn subset at the epoch's first step only, then the steps' own
        # posteriors; "drawn": a fresh subset every mixture_refresh steps.
        if self._step % (self._batches if recent else self.mixture.refresh) == 0:
            self._subset = self._encode_subset()
            self._oldest = 0
        self._step += 1
        posterior = None
        if recent:
            posterior = self.module.inference(x, s)
            self._replace_oldest(posterior[0].detach(), posterior[1].detach(), index)
        mu, logvar, log_weights, owners = self._subset
        own = None if self.mixture.leave_one_out else self.log_weights[index]
        prior = LeaveOneOutMixture(mu, logvar, log_weights, owners, index, own)
        return self.module.objective_terms(x, s, prior, posterior)

    def _replace_oldest(self, mu: torch.Tensor, logvar: torch.Tensor, index: torch.Tensor) -> None:
        """Put the batch's posteriors (B, D) of training points ``index`` (B,) in place of
        the subset's oldest components (the latest C if B > C). A point still held from
        the epoch's drawn subset would then count twice: its older copy gets weight 0 (and
        no owner) until it is overwritten in turn."""
        subset_mu, subset_logvar, log_weights, owners = self._subset
        size = subset_mu.shape[0]
        keep = min(index.shape[0], size)
        older = torch.isin(owners, index[-keep:])
        log_weights[older], owners[older] = -math.inf, -1
        rows = (self._oldest + torch.arange(keep, device=index.device)) % size
        subset_mu[rows], subset_logvar[rows] = mu[-keep:], logvar[-keep:]
        owners[rows] = index[-keep:]
        log_weights[rows] = self.log_weights[index[-keep:]]
        self._oldest = (self._oldest + keep) % size

    def _encode_subset(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """A random subset of training posteriors: (mu, logvar, ln w, training index)."""
        owners = torch.randperm(self.x.shape[0], generator=self._generator)
        owners = owners[: self.components].to(self.x.device)
        x = self.x[owners]
        if self.binarize:
            x = binarize(x)
        with torch.set_grad_enabled(self.mixture.gradient == "components"):
            mu, logvar = self.module.inference(x, self.s[owners])
        return mu, logvar, self.log_weights[owners], owners

    @torch.no_grad()
    def _set_prior(self) -> None:
        """The module's prior: every training point's posterior under the encoder now."""
        self.module.eval()
        parts = []
        for rows in torch.arange(self.x.shape[0], device=self.x.device).split(
            encoding_rows(self.config.batch_size)
        ):
            x = binarize(self.x[rows]) if self.binarize else self.x[rows]
            parts.append(self.module.inference(x, self.s[rows]))
        mu, logvar = (torch.cat(p) for p in zip(*parts, strict=True))
        self.prior.set_components(mu, logvar, self.log_weights)

    def score(self, record: dict[str, float], epoch: int) -> float:
        self._set_prior()
        return super().score(record, epoch)
