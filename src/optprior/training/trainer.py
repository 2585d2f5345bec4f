"""The training loop: Adam, KL warm-up, the discriminator schedule, early stopping."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, cast

import torch
from tqdm.auto import tqdm

from optprior._io import atomic_torch_save
from optprior.evaluation.bounds import elbo
from optprior.models.config import ModelConfig
from optprior.models.module import VAEModule
from optprior.priors.optimal import OptimalPrior
from optprior.training.config import (
    POOLED_SCHEDULES,
    TrainingConfig,
    record_differences,
    recorded_defaults,
)

logger = logging.getLogger(__name__)
LOG_SECONDS = 60.0  # at most one progress line a minute on the ``logging`` INFO level
ENCODE_ROWS = 1000  # at most this many points encoded at once in T's passes (encoding_rows)


@dataclass
class History:
    """Per-epoch training curves and the epoch whose weights were kept.

    ``prior_epochs``: the curves of a post-hoc prior fit (``Trainer.fit_prior``), if any.
    """

    epochs: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    stopped_early: bool = False
    prior_epochs: list[dict[str, float]] = field(default_factory=list)


#: Seconds of training between two checkpoints of a ``Trainer.fit`` given a checkpoint.
CHECKPOINT_SECONDS = 300.0


class CheckpointError(ValueError):
    """A training checkpoint that cannot be resumed: unreadable, or of another fit."""


@dataclass
class _Progress:
    """Where a ``fit`` stands, apart from weights, optimisers and random states."""

    history: History = field(default_factory=History)
    best_score: float = -math.inf
    best_state: dict[str, torch.Tensor] | None = None
    finished: bool = False

    @property
    def next_epoch(self) -> int:
        return len(self.history.epochs)

    @property
    def stale(self) -> int:
        """Epochs since the best one (all so far if none was best yet)."""
        return self.next_epoch - 1 - self.history.best_epoch


class _EpochLog:
    """INFO lines about a loop over epochs of ``what`` (the model, the prior): at most one
    every ``LOG_SECONDS``, and a summary at the end if an epoch ran."""

    def __init__(self, what: str, total: int) -> None:
        self.what, self.total = what, total
        self.ran, self.logged_at = 0, time.monotonic()

    def epoch(self, epoch: int, seconds: float, scores: dict[str, str], best: int) -> None:
        self.ran += 1
        if time.monotonic() - self.logged_at >= LOG_SECONDS:
            text = ", ".join(f"{name} {value}" for name, value in scores.items())
            logger.info(
                "%s epochs %d/%d (%.1f s the last): %s; best epoch %d",
                self.what,
                epoch + 1,
                self.total,
                seconds,
                text,
                best,
            )
            self.logged_at = time.monotonic()

    def end(self, epochs: int, stopped_early: bool, best: int) -> None:
        if self.ran:
            early = " (stopped early)" if stopped_early else ""
            logger.info("%s: %d epochs in all%s; keeping epoch %d", self.what, epochs, early, best)


def _read_checkpoint(path: str | os.PathLike, mmap: bool = False) -> Any:
    """The payload of a checkpoint file, on the CPU; ``CheckpointError`` if unreadable."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as error:  # torch raises many types for foreign or broken files
        raise CheckpointError(
            f"{path} is not a readable training checkpoint ({error}); delete it to "
            "start training afresh"
        ) from None


def checkpoint_history(path: str | os.PathLike) -> History:
    """The curves so far of the fit that wrote the checkpoint at ``path`` (to report
    where unfinished training stands); ``CheckpointError`` if unreadable."""
    payload = _read_checkpoint(path, mmap=True)  # the weights are not read
    try:
        return History(**payload["progress"]["history"])
    except (KeyError, TypeError) as error:
        raise CheckpointError(f"{path} holds no training history ({error})") from None


def fingerprint(*tensors: torch.Tensor | None) -> str:
    """Hex digest of the tensors' shapes, dtypes and values (``None`` counts too)."""
    digest = hashlib.blake2b(digest_size=16)
    for tensor in tensors:
        if tensor is None:
            digest.update(b"none")
            continue
        array = tensor.detach().cpu().contiguous().numpy()
        digest.update(f"{array.shape}{array.dtype}".encode())
        digest.update(array.data)
    return digest.hexdigest()


def encoding_rows(batch_size: int) -> int:
    """Points encoded at once in T's passes over fresh codes: the most whole batches that
    fit in ``ENCODE_ROWS`` points, at least one."""
    return batch_size * max(1, ENCODE_ROWS // batch_size)


def binarize(x: torch.Tensor) -> torch.Tensor:
    """One Bernoulli draw per entry of [0, 1] data (as ``torch.bernoulli``, about 3x faster)."""
    return (torch.rand_like(x) < x).to(x.dtype)


def task_weights(s: torch.Tensor, mode: str) -> torch.Tensor | None:
    """Weight per task index (max(s) + 1,) of T's positives, from the tasks ``s`` (N,).

    ``"data"``: None, every point counts once, so T estimates the aggregated posterior
    sum_s (n_s / N) q(z|s) of the paper. ``"balanced"``: N / (K n_s) for task s (K tasks
    present), so the tasks count equally and T estimates (1/K) sum_s q(z|s).
    """
    if mode == "data":
        return None
    counts = torch.bincount(s).to(torch.get_default_dtype())
    present = int((counts > 0).sum())
    return torch.where(counts > 0, s.numel() / (present * counts.clamp(min=1)), 0.0)


def point_weights(s: torch.Tensor, mode: str) -> torch.Tensor | None:
    """``task_weights`` looked up for each point of ``s`` (N,); None for ``"data"``."""
    weights = task_weights(s, mode)
    return None if weights is None else weights[s]


def _validation_pair(
    x_val: torch.Tensor | None, s_val: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(x_val, s_val)``, None without validation data; ``ValueError`` if ``s_val`` is
    missing."""
    if x_val is None:
        return None
    if s_val is None:
        raise ValueError("x_val needs its task indices s_val")
    return x_val, s_val


def _monitored(
    x_val: torch.Tensor, s_val: torch.Tensor, tasks: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The validation points of ``tasks`` (all if empty); ``ValueError`` if none."""
    if not tasks:
        return x_val, s_val
    keep = torch.isin(s_val, torch.tensor(tasks, device=s_val.device))
    if not bool(keep.any()):
        present = sorted(set(s_val.tolist()))
        raise ValueError(
            f"validation_tasks {list(tasks)} has no validation points; the validation "
            f"tasks are {present}"
        )
    return x_val[keep], s_val[keep]


def identity_differences(
    stored: object, current: dict[str, Any], reads_setting: Callable[[str], bool] | None
) -> list[str]:
    """Where a checkpoint's identity differs from ``current``'s, on the settings that are
    read (``_settings.differences`` lines; none when it may be resumed).

    A ``TrainingConfig`` (``"settings"``) or ``ModelConfig`` (``"model"``) field added
    after the checkpoint was written takes the value the code had then
    (``recorded_defaults``); one removed since is ignored; settings T's schedules do not
    read are left out (``training.config.record_differences``).
    """
    if not isinstance(stored, dict):
        return ["the checkpoint records no identity"]

    def read(identity: dict[str, Any]) -> dict[str, Any]:
        return {
            key: {k: v for k, v in value.items() if reads_setting is None or reads_setting(k)}
            if key in ("settings", "model") and isinstance(value, dict)
            else value
            for key, value in identity.items()
        }

    defaults = {"settings": recorded_defaults(), "model": asdict(ModelConfig())}
    return record_differences(read(stored), read(current), defaults, training="settings")


@torch.no_grad()
def flush_subnormals_(module: torch.nn.Module) -> None:
    """Set subnormal parameter entries (|w| < the dtype's smallest normal) to zero, in place.

    Weight decay can drive weights there, and CPU arithmetic on subnormal operands is
    tens of times slower (``benchmarks/subnormal.py``). Called after every training epoch
    and on reading a saved model.
    """
    for parameter in module.parameters():
        if parameter.dtype.is_floating_point:
            tiny = torch.finfo(parameter.dtype).tiny
            parameter.masked_fill_(parameter.abs() < tiny, 0.0)


class Trainer:
    """Fits a ``VAEModule`` on tensors already on the training device.

    Model steps maximise ``E[ln p(x|z,s)] - beta * KL`` with the prior's parameters
    frozen; if the prior has a discriminator, it is fitted by logistic regression on
    detached encoded z against N(0, I) draws, on the configured schedule.
    """

    def __init__(self, module: VAEModule, config: TrainingConfig, binarize: bool) -> None:
        self.module = module
        self.config = config
        self.binarize = binarize
        prior = module.prior
        model_parameters = [*module.encoder.parameters(), *module.decoder.parameters()]
        # The fused Adam kernel exists for CPU and CUDA tensors; elsewhere torch chooses.
        fused = True if torch.device(config.device).type in ("cpu", "cuda") else None
        self.optimizer = torch.optim.Adam(model_parameters, lr=config.learning_rate, fused=fused)
        self.discriminator_optimizer = (
            torch.optim.Adam(
                prior.parameters(),
                lr=config.discriminator_learning_rate,
                weight_decay=config.discriminator_weight_decay,
                fused=fused,
            )
            if prior.has_discriminator
            else None
        )
        self.task_weights: torch.Tensor | None = None  # per task, set by fit / fit_prior

    def fit(
        self,
        x: torch.Tensor,
        s: torch.Tensor,
        x_val: torch.Tensor | None = None,
        s_val: torch.Tensor | None = None,
        checkpoint: str | os.PathLike | None = None,
        identity: dict[str, Any] | None = None,
        reads_setting: Callable[[str], bool] | None = None,
    ) -> History:
        """Train; restore and return with the best monitored epoch's weights (T included).

        Shapes: ``x`` (N, x_dim), ``s`` (N,) int64; validation likewise.

        ``checkpoint``: a file that the state of training (weights, optimisers, random
        states, curves) is written to atomically after the first epoch that ends
        ``CHECKPOINT_SECONDS`` after the last write, and once more when training ends. If
        it exists, training goes on from it as if it had never stopped (the same model on
        the same device and thread count); a finished one returns its model at once. It
        must come from a fit with the same settings, ``identity`` (further facts to match,
        such as the model's class and architecture) and data, else ``CheckpointError``;
        ``reads_setting`` (a setting's name -> bool) leaves the settings the fit does not
        read out of that match, so such a setting changed or added since the checkpoint was
        written does not invalidate it. The file is kept; delete it once the model is saved.
        """
        config = self.config
        generator = torch.Generator().manual_seed(config.seed)
        self.task_weights = task_weights(s, config.discriminator_task_weights)
        validation = _validation_pair(x_val, s_val)
        saving = None  # (the checkpoint file, the identity it must match), if given one
        if checkpoint is not None:
            saving = Path(checkpoint), self._identity(identity, x, s, x_val, s_val)
        if validation is not None:
            validation = _monitored(*validation, config.validation_tasks)
        val_weights = (
            None
            if validation is None
            else point_weights(validation[1], config.validation_task_weights)
        )
        progress = _Progress()
        if saving is not None and saving[0].is_file():
            progress = self._restore(*saving, generator, reads_setting)
        saved_at = time.monotonic()
        history = progress.history
        log = _EpochLog("model", config.epochs)
        bar = tqdm(
            range(config.epochs if progress.finished else progress.next_epoch, config.epochs),
            initial=progress.next_epoch,
            total=config.epochs,
            desc="epochs",
            disable=not config.progress or progress.finished,
            leave=False,
        )
        for epoch in bar:
            start = time.perf_counter()
            beta = config.kl_weight(epoch)
            record = self._train_epoch(x, s, beta, generator)
            if (
                self.discriminator_optimizer is not None
                and config.discriminator_schedule == "epoch"
            ):
                record["discriminator_loss"] = self._discriminator_passes(
                    x,
                    s,
                    generator,
                    config.discriminator_epochs,
                    config.discriminator_pass_points(x.shape[0]),
                )
            if validation is not None:
                record["val_elbo"] = self._validation_elbo(*validation, val_weights)
            flush_subnormals_(self.module)
            record.update(epoch=epoch, beta=beta, seconds=time.perf_counter() - start)
            history.epochs.append(record)

            score = record.get("val_elbo", record["train_elbo"])
            if not (math.isfinite(record["train_loss"]) and math.isfinite(score)):
                raise FloatingPointError(
                    f"training diverged at epoch {epoch}: loss {record['train_loss']}, "
                    f"monitored ELBO {score}"
                )
            # During warm-up an epoch may be chosen unless select_after_warmup says not.
            candidate = beta >= 1.0 or not config.select_after_warmup
            if candidate and score > progress.best_score:
                progress.best_score, history.best_epoch = score, epoch
                progress.best_state = copy.deepcopy(self.module.state_dict())
            scores = {k: f"{v:.2f}" for k, v in record.items() if k.endswith(("elbo", "loss"))}
            bar.set_postfix(scores)
            log.epoch(epoch, record["seconds"], scores, history.best_epoch)
            if candidate and config.patience and progress.stale >= config.patience:
                history.stopped_early = True
                break
            if saving is not None and time.monotonic() - saved_at >= CHECKPOINT_SECONDS:
                self._save(*saving, generator, progress)
                saved_at = time.monotonic()
        bar.close()
        log.end(len(history.epochs), history.stopped_early, history.best_epoch)
        if saving is not None and not progress.finished:
            progress.finished = True
            self._save(*saving, generator, progress)
        if progress.best_state is not None:
            self.module.load_state_dict(progress.best_state)
        self.module.prior.requires_grad_(True)
        self.module.eval()
        return history

    def _identity(
        self,
        extra: dict[str, Any] | None,
        x: torch.Tensor,
        s: torch.Tensor,
        x_val: torch.Tensor | None,
        s_val: torch.Tensor | None,
    ) -> dict[str, Any]:
        """What a checkpoint must match to be resumed: settings, ``extra`` and the data."""
        settings = asdict(self.config)
        for name in ("device", "progress"):
            settings.pop(name)
        return {"settings": settings, **(extra or {}), "data": fingerprint(x, s, x_val, s_val)}

    def _save(
        self,
        path: Path,
        identity: dict[str, Any],
        generator: torch.Generator,
        progress: _Progress,
    ) -> None:
        """Write the state of training to ``path``; a failed write only warns."""
        device = torch.device(self.config.device)
        optimizer = self.discriminator_optimizer
        payload = {
            "identity": identity,
            "module": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "discriminator_optimizer": None if optimizer is None else optimizer.state_dict(),
            "generator": generator.get_state(),
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            "progress": asdict(progress),
        }
        try:
            atomic_torch_save(payload, path)
        except OSError as error:  # e.g. a full disk: training itself can go on
            warnings.warn(f"could not write the checkpoint {path}: {error}", stacklevel=3)

    def _restore(
        self,
        path: Path,
        identity: dict[str, Any],
        generator: torch.Generator,
        reads_setting: Callable[[str], bool] | None = None,
    ) -> _Progress:
        """Load a checkpoint written by ``_save`` into the trainer; return the progress."""
        payload = _read_checkpoint(path)
        stored = payload.get("identity") if isinstance(payload, dict) else None
        changed = identity_differences(stored, identity, reads_setting)
        if changed:
            raise CheckpointError(
                f"the checkpoint {path} was written by a fit with other settings, model or "
                f"data ({'; '.join(changed)}); delete it to start training afresh"
            )
        self.module.load_state_dict(payload["module"])
        self.optimizer.load_state_dict(payload["optimizer"])
        if self.discriminator_optimizer is not None:
            self.discriminator_optimizer.load_state_dict(payload["discriminator_optimizer"])
        generator.set_state(payload["generator"])
        torch.set_rng_state(payload["rng"])
        device = torch.device(self.config.device)
        if payload["cuda_rng"] is not None and device.type == "cuda":
            torch.cuda.set_rng_state(payload["cuda_rng"], device)
        # Only the stored fields: checkpoints written before next_epoch and stale were
        # derived from the history still hold them.
        stored = {f.name: payload["progress"][f.name] for f in fields(_Progress)}
        return _Progress(**{**stored, "history": History(**stored["history"])})

    def _train_epoch(
        self, x: torch.Tensor, s: torch.Tensor, beta: float, generator: torch.Generator
    ) -> dict[str, float]:
        module = self.module
        schedule = self.config.discriminator_schedule
        pooling = self.discriminator_optimizer is not None and schedule in POOLED_SCHEDULES
        order = torch.randperm(x.shape[0], generator=generator).to(x.device)
        batches = order.split(self.config.batch_size)  # indices: no shuffled copy of all of x
        module.train()
        self._freeze_prior()
        totals = torch.zeros(4, device=x.device)  # loss, elbo, kl, discriminator loss
        pool: list[tuple[torch.Tensor, torch.Tensor]] = []  # (z, s) since the last T batch
        deferred: list[tuple[torch.Tensor, ...]] = []  # (z, s) T batches for epoch end
        for number, index in enumerate(batches, start=1):
            xb, sb = x[index], s[index]
            if self.binarize:
                xb = binarize(xb)
            terms = module.objective_terms(xb, sb)
            loss = module.loss(terms, beta)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            with torch.no_grad():
                weight = xb.shape[0]
                totals[0] += loss.detach() * weight
                totals[1] += (terms.reconstruction - terms.kl).sum()
                totals[2] += terms.kl.sum()
            if pooling:
                pool.append((terms.z.detach(), sb))
                if number % self.config.discriminator_interval == 0 or number == len(batches):
                    pooled = tuple(torch.cat(parts) for parts in zip(*pool, strict=True))
                    pool.clear()
                    if schedule == "deferred":
                        deferred.append(pooled)
                    else:
                        totals[3] += self._discriminator_update(*pooled)
        for pooled in deferred:  # T moves only after the epoch's model steps
            totals[3] += self._discriminator_update(*pooled)
        means = (totals / x.shape[0]).tolist()
        record = {"train_loss": means[0], "train_elbo": means[1], "train_kl": means[2]}
        if pooling:
            record["discriminator_loss"] = means[3] / self.config.discriminator_steps
        return record

    def _validation_elbo(
        self, x_val: torch.Tensor, s_val: torch.Tensor, weights: torch.Tensor | None
    ) -> float:
        """Mean validation ELBO (nats per point), each point weighted by ``weights`` (N,)
        (``point_weights``; None: equally)."""
        per_point = elbo(self.module, x_val, s_val)
        return float(per_point.mean() if weights is None else (per_point * weights).mean())

    def _freeze_prior(self) -> None:
        """Model steps see T in eval mode with its weights frozen (no gradient for T)."""
        self.module.prior.requires_grad_(False)
        self.module.prior.eval()

    def _discriminator_update(self, z: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """``discriminator_steps`` T steps on one pooled batch; returns loss x points summed."""
        total = torch.zeros((), device=z.device)
        with self._training_discriminator():
            for _ in range(self.config.discriminator_steps):
                total += self._discriminator_step(z, s) * z.shape[0]
        return total

    @contextlib.contextmanager
    def _training_discriminator(self) -> Iterator[None]:
        """T in training mode with gradients inside, frozen again on leaving."""
        self.module.prior.requires_grad_(True)
        self.module.prior.train()
        try:
            yield
        finally:
            self._freeze_prior()

    def _discriminator(self) -> tuple[OptimalPrior, torch.optim.Adam]:
        """The prior and the optimiser of its T; ``ValueError`` if it has none. (A prior with
        ``has_discriminator`` has the optimal prior's T methods.)"""
        prior = self.module.prior
        if self.discriminator_optimizer is None:
            raise ValueError(f"{type(prior).__name__} has no discriminator to fit")
        return cast(OptimalPrior, prior), self.discriminator_optimizer

    def _discriminator_step(self, z: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """One T step on ``z`` (B, D) of tasks ``s`` (B,); T must be in training mode
        (``_training_discriminator``). Returns the loss."""
        prior, optimizer = self._discriminator()
        weights = None if self.task_weights is None else self.task_weights[s]
        loss = prior.discriminator_loss(z, weights=weights)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    def _discriminator_passes(
        self, x: torch.Tensor, s: torch.Tensor, generator: torch.Generator, passes: int, kept: int
    ) -> float:
        """Passes of T over freshly encoded data, each over ``kept`` random points;
        returns the mean logistic loss.

        The encoder is fixed during a pass, so it encodes ``encoding_rows`` points at a
        time, larger products than one batch's, before T steps over them batch by batch.
        """
        size = self.config.batch_size
        total = torch.zeros((), device=x.device)
        with self._training_discriminator():  # the encoder does not read T
            for _ in range(passes):
                order = torch.randperm(x.shape[0], generator=generator)[:kept].to(x.device)
                for index in order.split(encoding_rows(size)):
                    s_block = s[index]
                    z = self._fresh_codes(x[index], s_block)
                    for z_batch, s_batch in zip(z.split(size), s_block.split(size), strict=True):
                        total += self._discriminator_step(z_batch, s_batch) * z_batch.shape[0]
        return float(total) / (passes * kept)

    @torch.no_grad()
    def _fresh_codes(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """One draw z ~ q(z | x, s) per point of ``x`` (B, x_dim) (binarized afresh if the
        data are): (B, D), without gradients."""
        if self.binarize:
            x = binarize(x)
        return self.module.encoder.rsample(*self.module.inference(x, s))

    def fit_prior(
        self,
        x: torch.Tensor,
        s: torch.Tensor,
        x_val: torch.Tensor | None = None,
        s_val: torch.Tensor | None = None,
    ) -> list[dict[str, float]]:
        """Fit only the prior's T to the aggregated posterior of the fixed encoder.

        Each epoch is one pass of T over freshly encoded training data. The monitored
        score is T's logistic loss (dropout off) on encoded validation data (training data
        if none) against N(0, I) draws, both drawn once so every epoch is judged on the
        same points; early stopping uses ``patience`` and the best T is restored.
        Returns per-epoch records. Shapes as in ``fit``.
        """
        prior, _ = self._discriminator()
        config = self.config
        generator = torch.Generator().manual_seed(config.seed)
        validation = _validation_pair(x_val, s_val)
        x_check, s_check = (x, s) if validation is None else validation
        self.module.eval()
        with torch.no_grad():
            z_check = self.module.encoder.rsample(*self.module.inference(x_check, s_check))
            z_normal = torch.randn_like(z_check)
        check_weights = point_weights(s_check, config.discriminator_task_weights)
        self.task_weights = task_weights(s, config.discriminator_task_weights)
        records: list[dict[str, float]] = []
        best_loss, best_state, best_epoch, stale = math.inf, None, -1, 0
        bar = tqdm(range(config.epochs), desc="prior", disable=not config.progress, leave=False)
        log = _EpochLog("prior", config.epochs)
        for epoch in bar:
            start = time.perf_counter()
            loss = self._discriminator_passes(x, s, generator, 1, x.shape[0])
            prior.eval()
            with torch.no_grad():
                check = float(prior.discriminator_loss(z_check, z_normal, check_weights))
            if not math.isfinite(check):
                raise FloatingPointError(f"fitting the prior diverged at epoch {epoch}")
            flush_subnormals_(prior)
            records.append(
                {
                    "epoch": epoch,
                    "discriminator_loss": loss,
                    "monitored_discriminator_loss": check,
                    "seconds": time.perf_counter() - start,
                }
            )
            scores = {"loss": f"{loss:.4f}", "monitored": f"{check:.4f}"}
            bar.set_postfix(scores)
            if check < best_loss:
                best_loss, best_state, stale = check, copy.deepcopy(prior.state_dict()), 0
                best_epoch = epoch
            else:
                stale += 1
            log.epoch(epoch, records[-1]["seconds"], scores, best_epoch)
            if config.patience and stale >= config.patience:
                break
        bar.close()
        stopped_early = len(records) < config.epochs
        log.end(len(records), stopped_early, best_epoch)
        if best_state is not None:  # always, as the first epoch is the best so far
            prior.load_state_dict(best_state)
        prior.requires_grad_(True)
        prior.eval()
        return records
