"""The generic training loop: epochs of a training plan, early stopping with the best
epoch's weights kept, checkpoints that resume bit for bit, and progress logging."""

from __future__ import annotations

import copy
import hashlib
import logging
import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from optprior._io import atomic_torch_save, intact, with_digest
from optprior._random import device_rng_state, set_device_rng_state
from optprior.nn.precision import products_in
from optprior.training.config import record_differences, recorded_defaults
from optprior.training.plans import TrainingPlan
from optprior.training.stopping import TrainingStopped, abandoned, stop_cause, time_is_up

logger = logging.getLogger(__name__)
LOG_SECONDS = 60.0  # at most one progress line a minute on the ``logging`` INFO level


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
    """A training checkpoint that cannot be resumed: unreadable, or of another fit;
    ``path`` names its file."""

    def __init__(self, message: str, path: str | os.PathLike | None = None) -> None:
        super().__init__(message)
        self.path = None if path is None else Path(path)


@dataclass
class Checkpoint:
    """A file that the state of a fit is saved to, and what a saved state must match to
    be resumed besides the training settings and the data.

    Attributes:
        path: the checkpoint file.
        identity: further facts to match, e.g. ``{"class": ..., "model": {settings}}``,
            and ``"settings"``, the training settings, where they are more than the
            plan's ``TrainingConfig`` (a method's own, such as T's).
        model_defaults: the value each ``identity["model"]`` setting is taken to have in
            a checkpoint written before the setting existed.
        reads_setting: a setting's name -> whether the fit reads it; settings it does not
            read are left out of the match (None: all are read).
    """

    path: Path
    identity: dict[str, Any] = field(default_factory=dict)
    model_defaults: dict[str, Any] = field(default_factory=dict)
    reads_setting: Callable[[str], bool] | None = None


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
                "%s epochs %d/%d (%.1f s the last): %s; best epoch %d (from 0)",
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
            logger.info(
                "%s: %d epochs in all%s; keeping epoch %d (from 0)", self.what, epochs, early, best
            )


def _read_checkpoint(path: str | os.PathLike, mmap: bool = False) -> Any:
    """The payload of a checkpoint file, on the CPU; ``CheckpointError`` if unreadable."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as error:  # torch raises many types for foreign or broken files
        raise CheckpointError(
            f"{path} is not a readable training checkpoint ({error}); delete it to "
            "start training afresh",
            path,
        ) from None


def checkpoint_history(path: str | os.PathLike) -> History:
    """The curves so far of the fit that wrote the checkpoint at ``path`` (to report
    where unfinished training stands); ``CheckpointError`` if unreadable."""
    payload = _read_checkpoint(path, mmap=True)  # the weights are not read
    try:
        return History(**payload["progress"]["history"])
    except (KeyError, TypeError) as error:
        raise CheckpointError(f"{path} holds no training history ({error})", path) from None


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
    stored: object,
    current: dict[str, Any],
    reads_setting: Callable[[str], bool] | None,
    model_defaults: dict[str, Any],
) -> list[str]:
    """Where a checkpoint's identity differs from ``current``'s, on the settings that are
    read (``_settings.differences`` lines; none when it may be resumed), or of another
    model class, that alone.

    A ``TrainingConfig`` field (``"settings"``) or model setting (``"model"``) added after
    the checkpoint was written takes the value the code had then (``recorded_defaults``,
    ``model_defaults``); one removed since is ignored; settings T's schedules do not
    read are left out (``training.config.record_differences``). So is the epoch cap
    ``settings.epochs``: it only ends the loop, so a fit may go on under another cap
    (``Trainer._restore`` checks it against the epochs already run).
    """
    if not isinstance(stored, dict):
        return ["the checkpoint records no identity"]
    if stored.get("class", current.get("class")) != current.get("class"):
        # another model: not the settings one of them has and the other lacks
        return [f"class: {stored['class']!r} -> {current.get('class')!r}"]

    def read(identity: dict[str, Any]) -> dict[str, Any]:
        def kept(section: str, name: str) -> bool:
            if section == "settings" and name == "epochs":
                return False
            return reads_setting is None or reads_setting(name)

        return {
            key: {k: v for k, v in value.items() if kept(key, k)}
            if key in ("settings", "model") and isinstance(value, dict)
            else value
            for key, value in identity.items()
        }

    defaults = {"settings": recorded_defaults(), "model": model_defaults}
    return record_differences(read(stored), read(current), defaults, training="settings")


@torch.no_grad()
def flush_subnormals_(module: torch.nn.Module) -> None:
    """Set subnormal parameter entries (|w| < the dtype's smallest normal) to zero, in place.

    Weight decay can drive weights there, and on some CPUs arithmetic on subnormal
    operands is tens of times slower (``benchmarks/subnormal.py``). Called after every
    training epoch and on reading a saved model.
    """
    for parameter in module.parameters():
        if parameter.dtype.is_floating_point:
            tiny = torch.finfo(parameter.dtype).tiny
            parameter.masked_fill_(parameter.abs() < tiny, 0.0)


def device_stream(device: torch.device) -> dict[str, Any] | None:
    """The state of ``device``'s own random stream with its device type (None on the
    CPU), as checkpoints keep it."""
    state = device_rng_state(device)
    return None if state is None else {"type": device.type, "state": state}


def restore_device_stream(payload: dict[str, Any], device: torch.device) -> None:
    """Set ``device``'s stream to the one a checkpoint ``payload`` keeps, where it was
    kept on the same kind of device (another kind's state has another form); checkpoints
    before 2026-12-06 keep a CUDA device's as ``cuda_rng``."""
    stream = payload.get("device_rng") or {"type": "cuda", "state": payload.get("cuda_rng")}
    if stream["type"] == device.type:
        set_device_rng_state(stream["state"], device)


class Trainer:
    """Runs a ``TrainingPlan`` epoch by epoch on tensors already on the training device:
    the KL warm-up and what an epoch does are the plan's; the loop keeps the best-scored
    epoch's weights (among those the plan ``selects``), lowers the learning rate after
    every ``learning_rate_patience`` epochs without a better one and stops after
    ``patience``, checkpoints and logs."""

    def __init__(self, plan: TrainingPlan, progress: bool = False) -> None:
        self.plan = plan
        self.module = plan.module
        self.config = plan.config
        self.progress = progress
        self.device = next(self.module.parameters()).device

    def fit(
        self,
        x: torch.Tensor,
        s: torch.Tensor,
        x_val: torch.Tensor | None = None,
        s_val: torch.Tensor | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> History:
        """Train; restore and return with the best monitored epoch's weights (T included).

        Shapes: ``x`` (N, x_dim), ``s`` (N,) int64; validation likewise; the monitored
        validation points are those of ``validation_tasks`` (all if empty).

        ``checkpoint``: the state of training (weights, optimisers, random states, curves)
        is written atomically to its file after the first epoch that ends
        ``CHECKPOINT_SECONDS`` after the last write, and once more when training ends. If
        the file exists, training goes on from it as if it had never stopped (the same
        model on the same device and thread count); a finished one returns its model at
        once. It must come from a fit with the same settings, identity and data, else
        ``CheckpointError``; only the cap ``epochs`` may differ, if not below the epochs
        run, and a fit that ended at a lower cap, not by early stopping, goes on to the
        new one as a fit with that cap would have. The file is kept; delete it once the
        model is saved.
        """
        config, plan = self.config, self.plan
        generator = torch.Generator().manual_seed(config.seed)
        validation = _validation_pair(x_val, s_val)
        saving = None  # (the checkpoint, the identity it must match), if given one
        if checkpoint is not None:
            saving = checkpoint, self._identity(checkpoint.identity, x, s, x_val, s_val)
        if validation is not None:
            validation = _monitored(*validation, config.validation_tasks)
        plan.start(x, s, None if validation is None else (*validation, None))
        progress = _Progress()
        if saving is not None and saving[0].path.is_file():
            progress = self._restore(*saving, generator)
        saved_at = time.monotonic()
        history = progress.history
        log = _EpochLog(plan.what, config.epochs)
        bar = tqdm(
            range(config.epochs if progress.finished else progress.next_epoch, config.epochs),
            initial=progress.next_epoch,
            total=config.epochs,
            desc="epochs" if plan.what == "model" else plan.what,
            disable=not self.progress or progress.finished,
            leave=False,
        )
        for epoch in bar:
            start = time.perf_counter()
            record = self._train_epoch(x, s, epoch, generator)
            score = plan.score(record, epoch)
            flush_subnormals_(self.module)
            record.update(epoch=epoch, seconds=time.perf_counter() - start)
            history.epochs.append(record)
            # An epoch the plan does not select is neither kept nor counted for patience.
            selected = plan.selects(epoch)
            if selected and score > progress.best_score:
                progress.best_score, history.best_epoch = score, epoch
                progress.best_state = copy.deepcopy(self.module.state_dict())
            scores = {
                k: f"{v:.{plan.digits}f}" for k, v in record.items() if k.endswith(("elbo", "loss"))
            }
            bar.set_postfix(scores)
            log.epoch(epoch, record["seconds"], scores, history.best_epoch)
            if reason := abandoned():
                bar.close()
                raise TrainingStopped(f"abandoned after epoch {epoch + 1}: {reason}")
            every = config.learning_rate_patience
            if selected and every and progress.stale and progress.stale % every == 0:
                plan.scale_learning_rate(config.learning_rate_factor)
            if selected and config.patience and progress.stale >= config.patience:
                history.stopped_early = True
                break
            if saving is None:
                continue
            # At the time limit or when asked to stop (unless the fit ends here anyway),
            # once the state is saved.
            stopping = time_is_up() and epoch + 1 < config.epochs
            if stopping or time.monotonic() - saved_at >= CHECKPOINT_SECONDS:
                written = self._save(*saving, generator, progress)
                saved_at = time.monotonic()
                if stopping and written:  # a failed write trains on rather than lose epochs
                    bar.close()
                    raise TrainingStopped(
                        f"after epoch {epoch + 1} of at most {config.epochs} "
                        f"({stop_cause()}); {saving[0].path} goes on from there"
                    )
        bar.close()
        log.end(len(history.epochs), history.stopped_early, history.best_epoch)
        if saving is not None and not progress.finished:
            progress.finished = True
            self._save(*saving, generator, progress)
        if progress.best_state is not None:
            self.module.load_state_dict(progress.best_state)
        plan.finish()
        return history

    def _train_epoch(
        self, x: torch.Tensor, s: torch.Tensor, epoch: int, generator: torch.Generator
    ) -> dict[str, float]:
        with products_in(self.config.precision):  # validation stays in float32
            return self.plan.train_epoch(x, s, epoch, generator)

    def _identity(
        self,
        extra: dict[str, Any],
        x: torch.Tensor,
        s: torch.Tensor,
        x_val: torch.Tensor | None,
        s_val: torch.Tensor | None,
    ) -> dict[str, Any]:
        """What a checkpoint must match to be resumed: the training settings (those of
        the plan's ``TrainingConfig`` unless ``extra`` gives them as ``"settings"``),
        ``extra`` and the data."""
        settings = asdict(self.config)
        return {"settings": settings, **extra, "data": fingerprint(x, s, x_val, s_val)}

    def _save(
        self,
        checkpoint: Checkpoint,
        identity: dict[str, Any],
        generator: torch.Generator,
        progress: _Progress,
    ) -> bool:
        """Write the state of training to the checkpoint's file; whether it was written (a
        failed write only warns)."""
        device = self.device
        payload: dict[str, Any] = {
            "identity": identity,
            "module": self.module.state_dict(),
            "networks": {name: net.state_dict() for name, net in self.plan.networks().items()},
            **{
                name: None if optimizer is None else optimizer.state_dict()
                for name, optimizer in self.plan.optimizers().items()
            },
            "generator": generator.get_state(),
            "rng": torch.get_rng_state(),
            "device_rng": device_stream(device),  # an accelerator's (CUDA, MPS), typed
            "progress": asdict(progress),
        }
        try:
            atomic_torch_save(with_digest(payload), checkpoint.path)  # checked by _restore
        except OSError as error:  # e.g. a full disk: training itself can go on
            warnings.warn(
                f"could not write the checkpoint {checkpoint.path}: {error}", stacklevel=3
            )
            return False
        return True

    def _restore(
        self, checkpoint: Checkpoint, identity: dict[str, Any], generator: torch.Generator
    ) -> _Progress:
        """Load a checkpoint written by ``_save`` into the trainer; return the progress."""
        path = checkpoint.path
        payload = _read_checkpoint(path)
        if isinstance(payload, dict) and not intact(payload):
            raise CheckpointError(
                f"the checkpoint {path} is damaged (its contents no longer match the "
                "checksum written with them); delete it to start training afresh",
                path,
            )
        stored = payload.get("identity") if isinstance(payload, dict) else None
        changed = identity_differences(
            stored, identity, checkpoint.reads_setting, checkpoint.model_defaults
        )
        if changed:
            raise CheckpointError(
                f"the checkpoint {path} was written by a fit with other settings, model or "
                f"data ({'; '.join(changed)}); delete it to start training afresh",
                path,
            )
        self.module.load_state_dict(payload["module"])
        for name, network in self.plan.networks().items():
            network.load_state_dict(payload["networks"][name])
        for name, optimizer in self.plan.optimizers().items():
            if optimizer is not None:
                optimizer.load_state_dict(payload[name])
        generator.set_state(payload["generator"])
        torch.set_rng_state(payload["rng"])
        restore_device_stream(payload, self.device)
        # Only the stored fields: checkpoints written before next_epoch and stale were
        # derived from the history still hold them.
        stored = {f.name: payload["progress"][f.name] for f in fields(_Progress)}
        progress = _Progress(**{**stored, "history": History(**stored["history"])})
        cap = self.config.epochs
        if progress.next_epoch > cap:
            raise CheckpointError(
                f"the checkpoint {path} has trained {progress.next_epoch} epochs, more than "
                f"the cap of {cap}: raise epochs to at least {progress.next_epoch}, or delete "
                "it to start training afresh",
                path,
            )
        # A fit that ended at a lower cap, not by early stopping, goes on to the new one.
        if progress.finished and not progress.history.stopped_early:
            progress.finished = progress.next_epoch >= cap
        return progress


def is_checkpoint(payload: object) -> bool:
    """Whether ``payload``, a file's contents, is a training checkpoint (``Trainer._save``)."""
    return isinstance(payload, dict) and {"identity", "module", "progress"} <= payload.keys()
