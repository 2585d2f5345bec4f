"""Training settings: the generic fit (``TrainingConfig``) and the optimal prior's
(T, its schedule, the exact mixture), with the rules that compare recorded settings."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from optprior._settings import differences, flat_defaults, flat_names, in_current_terms
from optprior._validation import (
    as_given,
    fraction,
    is_real,
    layer_widths,
    one_of,
    plain_numbers_,
    whole_number,
)
from optprior.nn.precision import PRECISIONS

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
# What records (run configs, checkpoints) written before a field existed were made with,
# where that is not the field's default.
VALUES_BEFORE_FIELD: dict[str, Any] = {"discriminator_fraction": 1.0, "mixture_subset": "drawn"}


#: Settings read only under some values of another: name -> (that setting, those values).
CONDITIONAL_READS: dict[str, tuple[str, tuple[str, ...]]] = {
    **{name: ("discriminator_schedule", read) for name, read in _READ_BY_SCHEDULES.items()},
    "mixture_refresh": ("mixture_subset", ("drawn",)),
}


def schedule_reads(schedule: object, name: str) -> bool:
    """Whether a fit with T on ``schedule`` reads the training setting ``name``
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


def training_defaults() -> dict[str, Any]:
    """The default of every training setting by its flat name: ``TrainingConfig``'s
    fields and the training settings of T (``DiscriminatorConfig``), of its schedule and
    of the exact mixture (the ``[training]`` table of a config file)."""
    parts = (
        ("discriminator_", DiscriminatorConfig, "model"),
        ("discriminator_", DiscriminatorSchedule, "training"),
        ("mixture_", MixtureConfig, "training"),
    )
    defaults = flat_defaults(TrainingConfig)
    for prefix, cls, section in parts:
        values = flat_defaults(cls)
        for name, where in flat_names(cls, section).items():
            if where == "training":
                defaults[prefix + name] = values[name]
    return defaults


def recorded_defaults() -> dict[str, Any]:
    """The value each training setting (``training_defaults``) is taken to have in a
    record written before the setting existed: the behaviour of the code then (its
    default, or ``VALUES_BEFORE_FIELD``)."""
    return {**training_defaults(), **VALUES_BEFORE_FIELD}


TASK_WEIGHTS = ("data", "balanced")
MIXTURE_GRADIENTS = ("z", "components")
MIXTURE_SUBSETS = ("drawn", "recent")
DROPOUT_LAYERS = ("every", "last")
_TRAINING = {"section": "training"}


@dataclass
class DiscriminatorConfig:
    """The optimal prior's density-ratio discriminator T(z): its network and how it is
    fitted. Passed as keywords with the prefix ``discriminator_`` (``discriminator_dropout``).

    Attributes:
        hidden_sizes: widths of T's MLP (its activation is the networks').
        dropout: dropout rate inside T while it is trained.
        dropout_layers: where T's dropout acts: ``"every"`` (after each hidden layer) or
            ``"last"`` (only before the output layer, as in vae_iop).
        learning_rate: Adam step size of T.
        weight_decay: L2 penalty on T's weights (Adam's ``weight_decay``); keeps T
            smooth instead of fitting the finite set of training encodings.
        task_weights: which mixture of the tasks' posteriors the optimal prior is (T's
            estimate or, with ``estimator="mixture"``, the exact mixture): ``"data"``
            (the paper's aggregated posterior, each task by its share of the training
            points) or ``"balanced"`` (every task equally, so a small target task is not
            outweighed; its points are weighted up in T's loss or in the mixture).
    """

    hidden_sizes: tuple[int, ...] = (256, 256)
    dropout: float = 0.2
    dropout_layers: str = "every"
    learning_rate: float = field(default=1e-3, metadata=_TRAINING)
    weight_decay: float = field(default=0.0, metadata=_TRAINING)
    task_weights: str = field(default="data", metadata=_TRAINING)

    def __post_init__(self) -> None:
        plain_numbers_(self)
        one_of(self.dropout_layers, "discriminator_dropout_layers", DROPOUT_LAYERS)
        one_of(self.task_weights, "discriminator_task_weights", TASK_WEIGHTS)
        self.hidden_sizes = as_given(
            layer_widths(self.hidden_sizes, "discriminator_hidden_sizes"), self.hidden_sizes
        )
        fraction(self.dropout, "discriminator_dropout")  # checked, kept as given
        if not (is_real(self.learning_rate) and 0 < self.learning_rate < math.inf):  # not NaN
            raise ValueError(
                "discriminator_learning_rate must be a positive finite number, got "
                f"{self.learning_rate!r}"
            )
        if not (is_real(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"discriminator_weight_decay must be >= 0, got {self.weight_decay!r}")


@dataclass
class DiscriminatorSchedule:
    """When T is fitted during the joint training of the optimal prior (a post-hoc fit
    has passes of its own). Keywords with the prefix ``discriminator_``.

    Attributes:
        schedule: ``"epoch"`` (default: ``epochs`` passes of T over freshly encoded data
            after each model epoch, each over a random ``fraction`` of the points),
            ``"interleaved"`` (``steps`` steps of T after every ``interval`` model steps,
            on the detached z those steps drew, so T sees every encoded z) or
            ``"deferred"`` (the same T steps on the same z, all taken after the epoch's
            model steps, so T is fixed while the model trains). docs/performance.md
            compares them.
        steps: T steps per pooled batch (interleaved and deferred only).
        interval: model steps whose z are pooled into one T batch (interleaved and
            deferred only; fewer, larger T steps run faster).
        epochs: passes of T per model epoch (epoch schedule only).
        fraction: share of the training points, drawn afresh for every pass, that a pass
            of the epoch schedule encodes and fits T on (epoch schedule only). The first
            author's vae_iop takes 10 full passes (1); the default half pass, once,
            reached the interleaved schedule's log-likelihood on usps-mnist at about its
            cost (docs/fidelity.md).
    """

    schedule: str = "epoch"
    steps: int = 1
    interval: int = 2
    epochs: int = 1
    fraction: float = 0.5

    def __post_init__(self) -> None:
        plain_numbers_(self)
        one_of(self.schedule, "discriminator_schedule", DISCRIMINATOR_SCHEDULES)
        for name in ("steps", "interval", "epochs"):
            setattr(self, name, whole_number(getattr(self, name), f"discriminator_{name}", 1))
        if not (is_real(self.fraction) and 0 < self.fraction <= 1):
            raise ValueError(f"discriminator_fraction must be in (0, 1], got {self.fraction!r}")

    @property
    def pooled(self) -> bool:
        """Whether T steps on the z the model steps drew (no encoder pass of its own)."""
        return self.schedule in POOLED_SCHEDULES

    def pass_points(self, n: int) -> int:
        """Points a pass of the epoch schedule draws from ``n`` training points (at least
        one; the product rounded first, so 0.07 x 100 is 7, not 8)."""
        return max(1, math.ceil(round(self.fraction * n, 6)))


@dataclass
class MixtureConfig:
    """The exact mixture prior's estimate of the KL during training
    (``estimator="mixture"``). Keywords with the prefix ``mixture_``.

    Attributes:
        components: training posteriors in the estimate (a random subset, each point's
            own left out); at most the number of training points.
        leave_one_out: leave each point's own posterior out of its prior in that
            estimate (the Exemplar VAE's rule); false: include it at its weight, so the
            prior is q(z) itself and the KL term at most ln N in expectation.
        subset: which training posteriors that estimate takes: ``"recent"`` (default:
            the posteriors of the latest model steps, the batch's own and the batches'
            before it, in place of a random subset encoded at each epoch's start; no
            encoding beyond the model steps') or ``"drawn"`` (a random subset encoded
            afresh every ``refresh`` steps; about 1.6 x a CVAE epoch against 1.4 x in
            benchmarks/speed.py, with validation ELBOs on either side of it:
            docs/results.md).
        refresh: model steps between two draws (and encodings) of that subset
            (``"drawn"`` only).
        gradient: where the KL sends gradients to the encoder: ``"z"`` (through the
            drawn z only; the subset is encoded without gradient) or ``"components"``
            (also through the subset's posteriors, encoded afresh at every step, so
            ``refresh`` must be 1 and ``subset`` ``"drawn"``).
    """

    components: int = 1000
    leave_one_out: bool = True
    subset: str = "recent"
    refresh: int = 5
    gradient: str = "z"

    def __post_init__(self) -> None:
        plain_numbers_(self, "mixture_")
        one_of(self.gradient, "mixture_gradient", MIXTURE_GRADIENTS)
        one_of(self.subset, "mixture_subset", MIXTURE_SUBSETS)
        for name in ("components", "refresh"):
            setattr(self, name, whole_number(getattr(self, name), f"mixture_{name}", 1))
        if self.gradient == "components" and self.refresh != 1:
            raise ValueError(
                "mixture_gradient 'components' encodes the subset afresh at every step: "
                f"mixture_refresh must be 1, got {self.refresh}"
            )
        if self.gradient == "components" and self.subset != "drawn":
            raise ValueError(
                "mixture_gradient 'components' encodes the subset afresh at every step: "
                f"mixture_subset must be 'drawn', got {self.subset!r}"
            )


@dataclass
class TrainingConfig:
    """How a model is fitted, whatever its method (a method's own training settings,
    such as T's, are in its config). Where it runs (``device``) and whether it shows
    progress are options of the estimator, not settings.

    Attributes:
        epochs: maximum number of passes over the training data.
        batch_size: points per model step.
        learning_rate: Adam step size of encoder and decoder.
        warmup_epochs: the KL weight rises linearly to ``beta`` over this many epochs
            (0: no warm-up): from beta/warmup_epochs in the first epoch, or from 0 with
            ``warmup_from_zero``.
        warmup_from_zero: the KL weight of epoch e is e/warmup_epochs (0 in the first
            epoch, 1 from epoch warmup_epochs on, as in vae_iop) instead of
            (e + 1)/warmup_epochs.
        beta: the KL weight once the warm-up is over (a beta-VAE's beta; 1, the default,
            trains the ELBO). The monitored ELBO that chooses the epoch is the ELBO,
            whatever beta. Moyer's loss, (1 + lambda) on the reconstruction beside its
            penalty, trains as beta = 1 / (1 + lambda) would without the penalty, up to
            the loss's scale, which Adam ignores.
        select_after_warmup: only epochs with the full KL weight may be kept or start
            the patience count (vae_iop chooses no epoch during warm-up); if training
            ends before one, the last epoch is kept.
        patience: stop after this many epochs without a better monitored ELBO
            (validation ELBO when validation data is given, else the training ELBO;
            0: never stop early).
        learning_rate_patience: multiply the learning rate by ``learning_rate_factor``
            after every this many epochs without a better monitored ELBO (0: a constant
            learning rate); with ``patience`` a multiple of it, training takes smaller
            steps before it stops.
        learning_rate_factor: that factor, in (0, 1).
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
        precision: ``"float32"``, or ``"bfloat16"``: the networks' matrix products in the
            training steps under bfloat16 autocast (``nn.precision``), the losses, the
            validation ELBO and all scoring in float32. Faster only where the hardware
            has bfloat16 products (``benchmarks/speed.py --bfloat16``).
    """

    epochs: int = 200
    batch_size: int = 100
    learning_rate: float = 1e-4
    warmup_epochs: int = 10
    warmup_from_zero: bool = False
    beta: float = 1.0
    select_after_warmup: bool = False
    patience: int = 20
    learning_rate_patience: int = 0
    learning_rate_factor: float = 0.2
    validation_task_weights: str = "data"
    validation_tasks: tuple[int, ...] = ()
    dynamic_binarization: bool = True
    seed: int = 0
    precision: str = "float32"

    def kl_weight(self, epoch: int) -> float:
        """The weight of the KL term in epoch ``epoch`` (0-based): ``beta`` times the
        warm-up's share."""
        return self.beta * self.warmup_share(epoch)

    def warmup_share(self, epoch: int) -> float:
        """How far epoch ``epoch`` (0-based) is through the warm-up: in [0, 1], 1 from its end."""
        if not self.warmup_epochs:
            return 1.0
        return min(1.0, (epoch + (0 if self.warmup_from_zero else 1)) / self.warmup_epochs)

    def __post_init__(self) -> None:
        plain_numbers_(self)
        one_of(self.validation_task_weights, "validation_task_weights", TASK_WEIGHTS)
        one_of(self.precision, "precision", PRECISIONS)
        tasks = self.validation_tasks
        if isinstance(tasks, str) or not isinstance(tasks, Iterable):
            raise ValueError(f"validation_tasks must be a sequence of task indices, got {tasks!r}")
        self.validation_tasks = as_given(
            tuple(sorted({whole_number(k, "each of validation_tasks", 0) for k in tasks})), tasks
        )
        for name in ("epochs", "batch_size"):
            setattr(self, name, whole_number(getattr(self, name), name, 1))
        for name in ("warmup_epochs", "patience", "learning_rate_patience", "seed"):
            setattr(self, name, whole_number(getattr(self, name), name, 0))
        if not (is_real(self.learning_rate) and 0 < self.learning_rate < math.inf):  # not NaN
            raise ValueError(
                f"learning_rate must be a positive finite number, got {self.learning_rate!r}"
            )
        if not (is_real(self.beta) and 0 < self.beta < math.inf):
            raise ValueError(f"beta must be a positive finite number, got {self.beta}")
        if not (is_real(self.learning_rate_factor) and 0 < self.learning_rate_factor < 1):
            raise ValueError(
                f"learning_rate_factor must lie in (0, 1), got {self.learning_rate_factor!r}"
            )
