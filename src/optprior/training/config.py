"""Optimisation settings, separate from the architecture."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from optprior._settings import differences, in_current_terms
from optprior._validation import as_given, plain_numbers_, whole_number

DISCRIMINATOR_SCHEDULES = ("interleaved", "deferred", "epoch")
# Schedules that train T on the z the model steps drew (no encoder pass of their own).
POOLED_SCHEDULES = ("interleaved", "deferred")
# The schedule settings that only some schedules read, and which.
_READ_BY_SCHEDULES = {
    "discriminator_steps": POOLED_SCHEDULES,
    "discriminator_interval": POOLED_SCHEDULES,
    "discriminator_epochs": ("epoch",),
    "discriminator_fraction": ("epoch",),
}
# The settings of T's schedule during joint training (a post-hoc T fit reads none).
SCHEDULE_SETTINGS = ("discriminator_schedule", *_READ_BY_SCHEDULES)
# What records (run configs, checkpoints) written before a field existed were made with,
# where that is not the field's default.
VALUES_BEFORE_FIELD: dict[str, Any] = {"discriminator_fraction": 1.0, "mixture_subset": "drawn"}


def schedule_reads(schedule: object, name: str) -> bool:
    """Whether a fit with T on ``schedule`` reads the ``TrainingConfig`` field ``name``
    (each schedule-specific setting only under the schedules that use it)."""
    return name not in _READ_BY_SCHEDULES or schedule in _READ_BY_SCHEDULES[name]


def without_schedule_settings_unread(
    a: dict[str, Any], b: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Training settings ``a`` and ``b`` less the schedule-specific settings that the
    schedule of either does not read: fits on one schedule are compared on what it reads,
    fits on two schedules differ in the schedule alone."""

    def kept(settings: dict[str, Any]) -> dict[str, Any]:
        schedules = (a.get("discriminator_schedule"), b.get("discriminator_schedule"))
        return {k: v for k, v in settings.items() if all(schedule_reads(x, k) for x in schedules)}

    return kept(a), kept(b)


def record_differences(
    stored: dict[str, Any],
    current: dict[str, Any],
    defaults: dict[str, dict[str, Any]],
    training: str,
) -> list[str]:
    """Where a record of a fit (a run's config, a checkpoint's identity: dicts of
    sections) differs from ``current``, as ``_settings.differences`` lines. Each section
    named in ``defaults`` is first put in current terms (``in_current_terms``), and the
    ``training`` section loses the schedule settings that the schedule of either side
    does not read (``without_schedule_settings_unread``)."""
    stored = dict(stored)
    for section, values in defaults.items():
        if isinstance(stored.get(section), dict) and isinstance(current.get(section), dict):
            stored[section] = in_current_terms(stored[section], current[section], values)
    if isinstance(stored.get(training), dict) and isinstance(current.get(training), dict):
        pair = without_schedule_settings_unread(stored[training], current[training])
        stored, current = {**stored, training: pair[0]}, {**current, training: pair[1]}
    return differences(stored, current)


def recorded_defaults() -> dict[str, Any]:
    """The value each ``TrainingConfig`` field is taken to have in a record written before
    the field existed: the behaviour of the code then (its default, or
    ``VALUES_BEFORE_FIELD``)."""
    return {**asdict(TrainingConfig()), **VALUES_BEFORE_FIELD}


TASK_WEIGHTS = ("data", "balanced")
MIXTURE_GRADIENTS = ("z", "components")
MIXTURE_SUBSETS = ("drawn", "recent")


@dataclass
class TrainingConfig:
    """How a model is fitted.

    Attributes:
        epochs: maximum number of passes over the training data.
        batch_size: points per model step.
        learning_rate: Adam step size of encoder and decoder.
        discriminator_learning_rate: Adam step size of the optimal prior's T(z).
        warmup_epochs: the KL weight rises linearly to 1 over this many epochs (0: no
            warm-up): from 1/warmup_epochs in the first epoch, or from 0 with
            ``warmup_from_zero``.
        warmup_from_zero: the KL weight of epoch e is e/warmup_epochs (0 in the first
            epoch, 1 from epoch warmup_epochs on, as in vae_iop) instead of
            (e + 1)/warmup_epochs.
        select_after_warmup: only epochs with the full KL weight may be kept or start
            the patience count (vae_iop chooses no epoch during warm-up); if training
            ends before one, the last epoch is kept.
        patience: stop after this many epochs without a better monitored ELBO
            (validation ELBO when validation data is given, else the training ELBO;
            0: never stop early).
        discriminator_schedule: ``"epoch"`` (default: ``discriminator_epochs`` passes
            of T over freshly encoded data after each model epoch, each over a random
            ``discriminator_fraction`` of the points), ``"interleaved"``
            (``discriminator_steps`` steps of T after every ``discriminator_interval``
            model steps, on the detached z those steps drew, so T sees every encoded z)
            or ``"deferred"`` (the same T steps on the same z, all taken after the
            epoch's model steps, so T is fixed while the model trains).
            docs/performance.md compares them.
        discriminator_steps: T steps per pooled batch (interleaved and deferred only).
        discriminator_interval: model steps whose z are pooled into one T batch
            (interleaved and deferred only; fewer, larger T steps run faster).
        discriminator_epochs: passes of T per model epoch (epoch schedule only).
        discriminator_fraction: share of the training points, drawn afresh for every
            pass, that a pass of the epoch schedule encodes and fits T on (epoch
            schedule only). The first author's vae_iop takes 10 full passes (1); the
            default half pass, once, reached the interleaved schedule's log-likelihood
            on usps-mnist at about its cost (docs/fidelity.md).
        discriminator_weight_decay: L2 penalty on T's weights (Adam's ``weight_decay``);
            keeps T smooth instead of fitting the finite set of training encodings.
        discriminator_task_weights: which mixture of the tasks' posteriors the optimal
            prior is (T's estimate or the exact mixture): ``"data"`` (the paper's
            aggregated posterior, each task by its share of the training points) or
            ``"balanced"`` (every task equally, so a small target task is not outweighed;
            its points are weighted up in T's loss or in the mixture).
        mixture_components: training posteriors in the mixture prior's estimate of the
            KL during training (a random subset, each point's own left out); at most the
            number of training points.
        mixture_leave_one_out: leave each point's own posterior out of its prior in that
            estimate (the Exemplar VAE's rule); false: include it at its weight, so the
            prior is q(z) itself and the KL term at most ln N in expectation.
        mixture_subset: which training posteriors that estimate takes: ``"recent"``
            (default: the posteriors of the latest model steps, the batch's own and the
            batches' before it, in place of a random subset encoded at each epoch's
            start; no encoding beyond the model steps') or ``"drawn"`` (a random subset
            encoded afresh every ``mixture_refresh`` steps; about 1.6 x a CVAE epoch
            against 1.4 x in benchmarks/speed.py, with validation ELBOs on either side
            of it: docs/results.md).
        mixture_refresh: model steps between two draws (and encodings) of that subset
            (``"drawn"`` only).
        mixture_gradient: where the mixture prior's KL sends gradients to the encoder:
            ``"z"`` (through the drawn z only; the subset is encoded without gradient)
            or ``"components"`` (also through the subset's posteriors, encoded afresh at
            every step, so ``mixture_refresh`` must be 1 and ``mixture_subset``
            ``"drawn"``).
        validation_task_weights: how the validation ELBO that chooses the epoch averages
            its points: ``"data"`` (every point counts once) or ``"balanced"`` (the mean
            over tasks of each task's mean, as a score averaged over tasks is; a small
            task then counts as much as a large one).
        validation_tasks: the task indices whose validation points the monitored ELBO
            averages (empty: all); e.g. ``(1,)`` chooses the epoch on the target task of
            a two-task setting alone.
        dynamic_binarization: with a Bernoulli decoder, draw x ~ Bernoulli(x) at every
            step from [0, 1] data.
        seed: seeds initialisation, shuffling and noise; CPU training repeats exactly.
        device: torch device string, e.g. ``"cpu"`` or ``"cuda"``.
        progress: show a progress bar over epochs.
    """

    epochs: int = 200
    batch_size: int = 100
    learning_rate: float = 1e-4
    discriminator_learning_rate: float = 1e-3
    warmup_epochs: int = 10
    warmup_from_zero: bool = False
    select_after_warmup: bool = False
    patience: int = 20
    discriminator_schedule: str = "epoch"
    discriminator_steps: int = 1
    discriminator_interval: int = 2
    discriminator_epochs: int = 1
    discriminator_fraction: float = 0.5
    discriminator_weight_decay: float = 0.0
    discriminator_task_weights: str = "data"
    mixture_components: int = 1000
    mixture_leave_one_out: bool = True
    mixture_subset: str = "recent"
    mixture_refresh: int = 5
    mixture_gradient: str = "z"
    validation_task_weights: str = "data"
    validation_tasks: tuple[int, ...] = ()
    dynamic_binarization: bool = True
    seed: int = 0
    device: str = "cpu"
    progress: bool = True

    def kl_weight(self, epoch: int) -> float:
        """beta, the weight of the KL term in epoch ``epoch`` (0-based) of the warm-up."""
        if not self.warmup_epochs:
            return 1.0
        return min(1.0, (epoch + (0 if self.warmup_from_zero else 1)) / self.warmup_epochs)

    def discriminator_pass_points(self, n: int) -> int:
        """Points a pass of the epoch schedule draws from ``n`` training points (at least
        one; the product rounded first, so 0.07 x 100 is 7, not 8)."""
        return max(1, math.ceil(round(self.discriminator_fraction * n, 6)))

    def __post_init__(self) -> None:
        plain_numbers_(self)
        if self.discriminator_schedule not in DISCRIMINATOR_SCHEDULES:
            raise ValueError(
                f"unknown discriminator_schedule {self.discriminator_schedule!r}; "
                f"choose one of {DISCRIMINATOR_SCHEDULES}"
            )
        for name in ("discriminator_task_weights", "validation_task_weights"):
            if getattr(self, name) not in TASK_WEIGHTS:
                raise ValueError(
                    f"unknown {name} {getattr(self, name)!r}; choose one of {TASK_WEIGHTS}"
                )
        tasks = self.validation_tasks
        if isinstance(tasks, str) or not isinstance(tasks, Iterable):
            raise ValueError(f"validation_tasks must be a sequence of task indices, got {tasks!r}")
        self.validation_tasks = as_given(
            tuple(sorted({whole_number(k, "each of validation_tasks", 0) for k in tasks})), tasks
        )
        for name, choices in (
            ("mixture_gradient", MIXTURE_GRADIENTS),
            ("mixture_subset", MIXTURE_SUBSETS),
        ):
            if getattr(self, name) not in choices:
                raise ValueError(f"unknown {name} {getattr(self, name)!r}; choose one of {choices}")
        positive = (
            "mixture_components",
            "mixture_refresh",
            "epochs",
            "batch_size",
            "discriminator_steps",
            "discriminator_interval",
            "discriminator_epochs",
        )
        for name in positive:
            setattr(self, name, whole_number(getattr(self, name), name, 1))
        for name in ("warmup_epochs", "patience", "seed"):
            setattr(self, name, whole_number(getattr(self, name), name, 0))
        for name in ("learning_rate", "discriminator_learning_rate"):
            if not getattr(self, name) > 0:  # also refuses NaN
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.mixture_gradient == "components" and self.mixture_refresh != 1:
            raise ValueError(
                "mixture_gradient 'components' encodes the subset afresh at every step: "
                f"mixture_refresh must be 1, got {self.mixture_refresh}"
            )
        if self.mixture_gradient == "components" and self.mixture_subset != "drawn":
            raise ValueError(
                "mixture_gradient 'components' encodes the subset afresh at every step: "
                f"mixture_subset must be 'drawn', got {self.mixture_subset!r}"
            )
        if not self.discriminator_weight_decay >= 0:
            raise ValueError(
                f"discriminator_weight_decay must be >= 0, got {self.discriminator_weight_decay}"
            )
        if not 0 < self.discriminator_fraction <= 1:
            raise ValueError(
                f"discriminator_fraction must be in (0, 1], got {self.discriminator_fraction}"
            )
