"""Plans of the optimal prior N(z; 0, I) e^T(z): T fitted by logistic regression of
encoded z against N(0, I) draws, jointly with the model (``DensityRatioPlan``) or after it
on a fixed encoder (``PriorFitPlan``)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch

from optprior.module import ObjectiveTerms, VAEModule
from optprior.nn.precision import products_in
from optprior.priors import OptimalPrior
from optprior.training.batches import binarize, encoding_rows, point_weights, task_weights
from optprior.training.config import DiscriminatorConfig, DiscriminatorSchedule, TrainingConfig
from optprior.training.plans import ELBOPlan, TrainingPlan, Validation, adam


class DiscriminatorFit:
    """T's optimiser and its steps on detached z, each against as many fresh N(0, I) draws.

    The positives are weighted by their tasks per ``discriminator.task_weights`` (set by
    ``weigh_tasks``); between T's steps T is frozen (no gradient, eval mode). Batches of
    ``batch_size`` points.
    """

    def __init__(
        self,
        module: VAEModule,
        discriminator: DiscriminatorConfig,
        batch_size: int,
        binarize: bool,
    ) -> None:
        if not isinstance(module.prior, OptimalPrior):
            raise ValueError(f"{type(module.prior).__name__} has no discriminator to fit")
        self.module, self.prior = module, module.prior
        self.settings, self.batch_size, self.binarize = discriminator, batch_size, binarize
        parameters = [*self.prior.parameters()]
        self.optimizer = adam(parameters, discriminator.learning_rate, discriminator.weight_decay)
        self.task_weights: torch.Tensor | None = None

    def weigh_tasks(self, s: torch.Tensor) -> None:
        """Weights per task from the training tasks ``s`` (N,) (``batches.task_weights``)."""
        self.task_weights = task_weights(s, self.settings.task_weights)

    def freeze(self) -> None:
        """Model steps see T in eval mode with its weights frozen (no gradient for T)."""
        self.prior.requires_grad_(False)
        self.prior.eval()

    @contextlib.contextmanager
    def training(self) -> Iterator[None]:
        """T in training mode with gradients inside, frozen again on leaving."""
        self.prior.requires_grad_(True)
        self.prior.train()
        try:
            yield
        finally:
            self.freeze()

    def step(self, z: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """One T step on ``z`` (B, D) of tasks ``s`` (B,), inside ``training``; the loss."""
        weights = None if self.task_weights is None else self.task_weights[s]
        loss = self.prior.discriminator_loss(z, weights=weights)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def update(self, z: torch.Tensor, s: torch.Tensor, steps: int) -> torch.Tensor:
        """``steps`` T steps on one pooled batch; returns loss x points summed."""
        total = torch.zeros((), device=z.device)
        with self.training():
            for _ in range(steps):
                total += self.step(z, s) * z.shape[0]
        return total

    def passes(
        self, x: torch.Tensor, s: torch.Tensor, generator: torch.Generator, passes: int, kept: int
    ) -> float:
        """Passes of T over freshly encoded data, each over ``kept`` random points;
        returns the mean logistic loss.

        The encoder is fixed during a pass, so it encodes ``encoding_rows`` points at a
        time, larger products than one batch's, before T steps over them batch by batch.
        """
        size = self.batch_size
        total = torch.zeros((), device=x.device)
        with self.training():  # the encoder does not read T
            for _ in range(passes):
                order = torch.randperm(x.shape[0], generator=generator)[:kept].to(x.device)
                for index in order.split(encoding_rows(size)):
                    s_block = s[index]
                    z = self.fresh_codes(x[index], s_block)
                    for z_batch, s_batch in zip(z.split(size), s_block.split(size), strict=True):
                        total += self.step(z_batch, s_batch) * z_batch.shape[0]
        return float(total) / (passes * kept)

    @torch.no_grad()
    def fresh_codes(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """One draw z ~ q(z | x, s) per point of ``x`` (B, x_dim) (binarized afresh if the
        data are): (B, D), without gradients."""
        if self.binarize:
            x = binarize(x)
        return self.module.encoder.rsample(*self.module.inference(x, s))


class DensityRatioPlan(ELBOPlan):
    """The paper's joint training: ELBO steps with T frozen (its slope reaching the
    encoder through z), and T fitted on ``schedule``: passes over fresh codes after each
    epoch, or steps on the z the model steps drew, interleaved with them or deferred to
    the epoch's end."""

    def __init__(
        self,
        module: VAEModule,
        config: TrainingConfig,
        binarize: bool,
        discriminator: DiscriminatorConfig,
        schedule: DiscriminatorSchedule,
    ) -> None:
        super().__init__(module, config, binarize)
        self.discriminator = DiscriminatorFit(module, discriminator, config.batch_size, binarize)
        self.schedule = schedule
        self.pooling = schedule.pooled
        self._pool: list[tuple[torch.Tensor, torch.Tensor]] = []  # (z, s) since the last T batch
        self._deferred: list[tuple[torch.Tensor, torch.Tensor]] = []  # T batches for epoch end
        self._t_total = torch.zeros(())

    def optimizers(self) -> dict[str, torch.optim.Optimizer | None]:
        return {**super().optimizers(), "discriminator_optimizer": self.discriminator.optimizer}

    def start(self, x: torch.Tensor, s: torch.Tensor, validation: Validation | None) -> None:
        self.discriminator.weigh_tasks(s)
        super().start(x, s, validation)

    def before_model_steps(self) -> None:
        self.discriminator.freeze()

    def after_model_step(
        self, terms: ObjectiveTerms, s: torch.Tensor, number: int, batches: int
    ) -> None:
        if not self.pooling:
            return
        self._pool.append((terms.z.detach(), s))
        if number % self.schedule.interval == 0 or number == batches:
            z_parts, s_parts = zip(*self._pool, strict=True)
            pooled = torch.cat(z_parts), torch.cat(s_parts)
            self._pool.clear()
            if self.schedule.schedule == "deferred":
                self._deferred.append(pooled)
            else:
                self._t_total += self.discriminator.update(*pooled, self.schedule.steps)

    def after_model_steps(self) -> None:
        for z, s in self._deferred:  # T moves only after the epoch's model steps
            self._t_total += self.discriminator.update(z, s, self.schedule.steps)
        self._deferred.clear()

    def train_epoch(
        self, x: torch.Tensor, s: torch.Tensor, epoch: int, generator: torch.Generator
    ) -> dict[str, float]:
        self._t_total = torch.zeros((), device=x.device)  # pooled T losses x points
        record = super().train_epoch(x, s, epoch, generator)
        if self.pooling:
            mean = float(self._t_total / x.shape[0])
            record["discriminator_loss"] = mean / self.schedule.steps
        else:  # the epoch schedule
            record["discriminator_loss"] = self.discriminator.passes(
                x, s, generator, self.schedule.epochs, self.schedule.pass_points(x.shape[0])
            )
        return record


class PriorFitPlan(TrainingPlan):
    """Fit only T to the aggregated posterior of the fixed encoder (the post-hoc prior).

    Each epoch is one pass of T over freshly encoded training data. The monitored score is
    minus T's logistic loss (dropout off) on encoded validation data (training data if
    none, binarised as the fit binarises them) against N(0, I) draws, both drawn once so
    every epoch is judged on the same points.
    """

    what = "prior"
    digits = 4

    def __init__(
        self,
        module: VAEModule,
        config: TrainingConfig,
        binarize: bool,
        discriminator: DiscriminatorConfig,
    ) -> None:
        super().__init__(module, config, binarize)
        self.discriminator = DiscriminatorFit(module, discriminator, config.batch_size, binarize)

    def optimizers(self) -> dict[str, torch.optim.Optimizer | None]:
        return {"discriminator_optimizer": self.discriminator.optimizer}

    def start(self, x: torch.Tensor, s: torch.Tensor, validation: Validation | None) -> None:
        super().start(x, s, validation)
        if validation is None:  # validation data come binarised once, per point
            x_check, s_check = (binarize(x) if self.binarize else x), s
        else:
            x_check, s_check = validation[:2]
        self.module.eval()
        with torch.no_grad():
            z = self.module.encoder.rsample(*self.module.inference(x_check, s_check))
            self._check = z, torch.randn_like(z)
        self._check_weights = point_weights(s_check, self.discriminator.settings.task_weights)
        self.discriminator.weigh_tasks(s)

    def train_epoch(
        self, x: torch.Tensor, s: torch.Tensor, epoch: int, generator: torch.Generator
    ) -> dict[str, float]:
        loss = self.discriminator.passes(x, s, generator, 1, x.shape[0])
        prior = self.discriminator.prior
        prior.eval()
        with torch.no_grad(), products_in("float32"):  # it chooses the epoch: as scoring
            check = float(prior.discriminator_loss(*self._check, self._check_weights))
        return {"discriminator_loss": loss, "monitored_discriminator_loss": check}

    def score(self, record: dict[str, float], epoch: int) -> float:
        check = record["monitored_discriminator_loss"]
        if not math.isfinite(check):
            raise FloatingPointError(f"fitting the prior diverged at epoch {epoch}")
        return -check
