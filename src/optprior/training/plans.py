"""Training plans: what a method optimises and how.

A plan owns a method's optimisers and says what one epoch of training does and how an
epoch is scored; the generic loop (``trainer.Trainer``) runs any plan with warm-up,
early stopping, checkpoints and logging. Plans here: the ELBO (VAE, CVAE) and the ELBO
plus a penalty on task information (the ``PenalisedCVAE`` methods); the optimal prior's
in ``density_ratio`` (T) and ``mixture`` (the exact mixture). A new method that trains
differently adds a plan, not a trainer branch.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch import nn

from optprior.evaluation.bounds import elbo
from optprior.module import ObjectiveTerms, VAEModule
from optprior.training.batches import binarize, point_weights
from optprior.training.config import TrainingConfig
from optprior.training.penalties import Penalty

#: Validation data of a fit: (x_val (N, D), s_val (N,), per-point weights (N,) or None).
Validation = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]


def adam(parameters: list[torch.nn.Parameter], lr: float, weight_decay: float) -> torch.optim.Adam:
    """Adam on ``parameters``, fused where torch has the kernel (CPU and CUDA tensors)."""
    fused = True if parameters[0].device.type in ("cpu", "cuda") else None
    return torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay, fused=fused)


class TrainingPlan(ABC):
    """How the parameters of ``module`` are fitted, one epoch at a time.

    ``binarize``: draw Bernoulli data afresh at every use (dynamic binarisation).
    """

    #: What is trained, for progress bars and log lines.
    what: ClassVar[str] = "model"
    #: Decimals of the losses shown in the progress bar.
    digits: ClassVar[int] = 2

    def __init__(self, module: VAEModule, config: TrainingConfig, binarize: bool) -> None:
        self.module = module
        self.config = config
        self.binarize = binarize

    @abstractmethod
    def optimizers(self) -> dict[str, torch.optim.Optimizer | None]:
        """The optimisers by the name their state is checkpointed under."""

    def networks(self) -> dict[str, nn.Module]:
        """Networks the plan trains beside the module (e.g. an adversary), by the name
        their weights are checkpointed under; none by default."""
        return {}

    def start(self, x: torch.Tensor, s: torch.Tensor, validation: Validation | None) -> None:
        """Called once before the first epoch with the training data (N, D), (N,) and the
        validation data, if any."""
        self.validation = validation

    @abstractmethod
    def train_epoch(
        self, x: torch.Tensor, s: torch.Tensor, epoch: int, generator: torch.Generator
    ) -> dict[str, float]:
        """Train one epoch (``epoch`` counts from 0); return its curves by name.
        ``generator`` draws the order of the points (and nothing else)."""

    @abstractmethod
    def score(self, record: dict[str, float], epoch: int) -> float:
        """The epoch's monitored score, higher is better (adds validation curves to
        ``record``); ``FloatingPointError`` if training diverged."""

    def selects(self, epoch: int) -> bool:
        """Whether epoch ``epoch`` may be kept as the best (and counts for patience)."""
        return True

    def scale_learning_rate(self, factor: float) -> None:
        """Multiply the learning rate of every optimiser of the plan by ``factor``."""
        for optimizer in self.optimizers().values():
            for group in [] if optimizer is None else optimizer.param_groups:
                group["lr"] *= factor

    def finish(self) -> None:
        """Called after the best epoch's weights are restored: leave the module scoring."""
        self.module.prior.requires_grad_(True)
        self.module.eval()


class ELBOPlan(TrainingPlan):
    """Maximise the ELBO by Adam on encoder and decoder (and on the prior's parameters
    that the ELBO trains, ``Prior.elbo_parameters``), with the KL weight warmed up.
    Epochs are scored by the validation ELBO (the training ELBO without validation data)."""

    def __init__(self, module: VAEModule, config: TrainingConfig, binarize: bool) -> None:
        super().__init__(module, config, binarize)
        parameters = [
            *module.encoder.parameters(),
            *module.decoder.parameters(),
            *module.prior.elbo_parameters(),
        ]
        self.optimizer = adam(parameters, config.learning_rate, 0.0)

    def optimizers(self) -> dict[str, torch.optim.Optimizer | None]:
        return {"optimizer": self.optimizer}

    def start(self, x: torch.Tensor, s: torch.Tensor, validation: Validation | None) -> None:
        prior = self.module.prior
        prior.start(x, s)
        optimisers = [o for o in self.optimizers().values() if o is not None]
        optimised = {id(p) for o in optimisers for group in o.param_groups for p in group["params"]}
        names = {id(p): name for name, p in prior.named_parameters()}
        new = [names.get(id(p), "?") for p in prior.elbo_parameters() if id(p) not in optimised]
        if new:
            raise TypeError(
                f"{type(prior).__name__}.start made new parameters {new}, which the optimiser "
                "(made before start) would never train: set the values of the parameters "
                "made in __init__ in place instead (with torch.no_grad(): "
                "self.mean.copy_(...))"
            )
        if validation is not None:
            x_val, s_val, _ = validation
            validation = x_val, s_val, point_weights(s_val, self.config.validation_task_weights)
        super().start(x, s, validation)

    def loss(self, terms: ObjectiveTerms, s: torch.Tensor, beta: float) -> dict[str, torch.Tensor]:
        """The batch's terms by name: ``"loss"`` (minimised) and any further terms to log
        (each a scalar in nats per point; logged as ``train_<name>``)."""
        return {"loss": self.module.loss(terms, beta)}

    def objective(self, x: torch.Tensor, s: torch.Tensor, index: torch.Tensor) -> ObjectiveTerms:
        """The terms of a batch ``x`` (B, D), ``s`` (B,): training points ``index`` (B,)."""
        return self.module.objective_terms(x, s)

    def before_model_steps(self) -> None:
        """Called before an epoch's model steps, after the module is put in training mode."""

    def after_model_step(
        self, terms: ObjectiveTerms, s: torch.Tensor, number: int, batches: int
    ) -> None:
        """Called after model step ``number`` (from 1) of ``batches`` with its terms."""

    def after_model_steps(self) -> None:
        """Called after the epoch's last model step."""

    def train_epoch(
        self, x: torch.Tensor, s: torch.Tensor, epoch: int, generator: torch.Generator
    ) -> dict[str, float]:
        beta = self.config.kl_weight(epoch)
        order = torch.randperm(x.shape[0], generator=generator).to(x.device)
        batches = order.split(self.config.batch_size)  # indices: no shuffled copy of all of x
        self.module.train()
        self.before_model_steps()
        totals = torch.zeros(3, device=x.device)  # loss, elbo, kl
        logged: dict[str, torch.Tensor] = {}
        for number, index in enumerate(batches, start=1):
            xb, sb = x[index], s[index]
            if self.binarize:
                xb = binarize(xb)
            terms = self.objective(xb, sb, index)
            losses = self.loss(terms, sb, beta)
            self.optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            self.optimizer.step()
            with torch.no_grad():
                weight = xb.shape[0]
                totals[0] += losses["loss"].detach() * weight
                totals[1] += (terms.reconstruction - terms.kl).sum()
                totals[2] += terms.kl.sum()
                for name, value in losses.items():
                    if name != "loss":
                        logged[name] = logged.get(name, 0.0) + value.detach() * weight
            self.after_model_step(terms, sb, number, len(batches))
        self.after_model_steps()
        means = (totals / x.shape[0]).tolist()
        record = {"train_loss": means[0], "train_elbo": means[1], "train_kl": means[2]}
        record.update({f"train_{k}": float(v) / x.shape[0] for k, v in logged.items()})
        record["beta"] = beta
        if self.config.learning_rate_patience:
            record["learning_rate"] = self.optimizer.param_groups[0]["lr"]
        return record

    def score(self, record: dict[str, float], epoch: int) -> float:
        if self.validation is not None:
            x_val, s_val, weights = self.validation
            per_point = elbo(self.module, x_val, s_val)
            mean = per_point.mean() if weights is None else (per_point * weights).mean()
            record["val_elbo"] = float(mean)
        score = record.get("val_elbo", record["train_elbo"])
        if not (math.isfinite(record["train_loss"]) and math.isfinite(score)):
            raise FloatingPointError(
                f"training diverged at epoch {epoch}: loss {record['train_loss']}, "
                f"monitored ELBO {score}"
            )
        return score

    def scale_learning_rate(self, factor: float) -> None:
        """The model's learning rate (T's, where there is one, is its own)."""
        for group in self.optimizer.param_groups:
            group["lr"] *= factor

    def selects(self, epoch: int) -> bool:
        """Every epoch, or with ``select_after_warmup`` those of full KL weight."""
        return not self.config.select_after_warmup or self.config.warmup_share(epoch) >= 1.0


class PenalisedELBOPlan(ELBOPlan):
    """The ELBO plan with ``weight`` times ``penalty`` added to the loss (e.g. a bound on
    I(z; s)); the penalty is logged as ``train_penalty``. Weight 0 is the ELBO plan. A
    penalty that is an ``nn.Module`` (``TaskAdversary``) has its parameters trained by
    the same optimiser and checkpointed (``networks``)."""

    def __init__(
        self,
        module: VAEModule,
        config: TrainingConfig,
        binarize: bool,
        penalty: Penalty,
        weight: float,
    ) -> None:
        super().__init__(module, config, binarize)
        self.penalty, self.weight = penalty, weight
        if isinstance(penalty, nn.Module):
            self.optimizer.add_param_group({"params": list(penalty.parameters())})

    def networks(self) -> dict[str, nn.Module]:
        return {"penalty": self.penalty} if isinstance(self.penalty, nn.Module) else {}

    def loss(self, terms: ObjectiveTerms, s: torch.Tensor, beta: float) -> dict[str, torch.Tensor]:
        losses = super().loss(terms, s, beta)
        if self.weight:
            penalty = self.penalty(terms, s)
            if not isinstance(penalty, torch.Tensor) or penalty.ndim != 0:
                got = tuple(penalty.shape) if isinstance(penalty, torch.Tensor) else penalty
                name = getattr(self.penalty, "__name__", type(self.penalty).__name__)
                raise ValueError(
                    f"the penalty {name} returned {got!r}: it must return a scalar torch "
                    "tensor (the batch's mean, in nats a point) computed from the terms, "
                    "so that the loss's gradient flows through it"
                )
            losses = {"loss": losses["loss"] + self.weight * penalty, "penalty": penalty}
        return losses
