"""What a run records in its ``result.json``, typed, and the one reader and writer of it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from optprior._io import write_text_atomic
from optprior._text import cut

RESULT_FILE = "result.json"


class ResultFileError(ValueError):
    """A ``result.json`` that cannot be read as a run's result."""


@dataclass
class RunResult:
    """One run's outcome (``<out>/<setting>/<method>/seed-<k>/result.json``).

    ``status``: ``"ok"``; ``"failed"`` (``error`` and, for an exception while training or
    scoring, ``traceback`` say why); or, never written, ``"running"`` (another process
    holds the run) or ``"stopped"`` (at the sweep's time limit or on SIGTERM, to go on
    later).
    ``config``: the resolved run config (``Run.resolved``). ``metrics``: scores by name
    (``experiments.evaluate``; None where one could not be computed).
    ``training_seconds``: every epoch's wall time, summed across resumes;
    ``wall_seconds``: this process's time on the run; ``threads``: torch's CPU thread
    count in that process (None in results written before it was recorded). ``stopped_early``,
    ``hit_epoch_cap`` and ``training_seconds`` are None in results written before they
    were recorded. ``resumed_from_*``, ``checkpoint_discarded`` and ``cvae_reused`` (the
    first-stage run a post-hoc run reused: a cvae or invariant run) say where training
    started; ``started_by``: for a run that went on from a checkpoint or model, how
    the process that started its training ran (``at``, ``versions``, ``threads``,
    ``device``), None where one process trained it whole; ``scored_at`` when its
    training's process scored it (ISO 8601, UTC; None
    in results written before it was recorded); ``rescored`` when and by what the
    metrics were computed again. ``data_files``: the dataset files its splits were read from
    (``MultiTaskData.files``: dataset, variant, name, digest; empty for a user's data and
    in results written before they were recorded). ``extra``: fields of a newer optprior,
    kept as they were.
    """

    run: str
    setting: str
    method: str
    seed: int
    status: str = "failed"
    config: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float | None] = field(default_factory=dict)
    epochs_run: int | None = None
    best_epoch: int | None = None
    stopped_early: bool | None = None
    hit_epoch_cap: bool | None = None
    training_seconds: float | None = None
    wall_seconds: float | None = None
    threads: int | None = None
    figures: list[str] = field(default_factory=list)
    error: str | None = None
    traceback: str | None = None
    resumed_from_model: bool = False
    resumed_from_checkpoint: bool = False
    checkpoint_discarded: str | None = None
    cvae_reused: str | None = None
    started_by: dict[str, Any] | None = None
    scored_at: str | None = None
    rescored: dict[str, Any] | None = None
    data_files: list[dict[str, str]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the run finished and was scored."""
        return self.status == "ok"

    @property
    def capped(self) -> bool:
        """Whether the run trained every epoch its config allowed (never stopped early);
        for results written before ``hit_epoch_cap`` was recorded, epochs run against
        the config's cap."""
        if self.hit_epoch_cap is not None:
            return self.hit_epoch_cap
        cap = self.config.get("training", {}).get("epochs")
        return cap is not None and self.epochs_run is not None and self.epochs_run >= cap

    @property
    def device(self) -> str:
        """Where the run trained (its config's training device; empty if unrecorded)."""
        return str(self.config.get("training", {}).get("device", ""))

    def metric(self, key: str) -> float | None:
        """The score ``key``, or None where the run has none."""
        return self.metrics.get(key)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``result.json``: the fields that say something (those at
        their default, None, False or empty, are left out: the reader restores them),
        with ``extra`` merged back in."""
        data = asdict(self)
        extra = data.pop("extra")
        kept = {k: v for k, v in data.items() if k in _ALWAYS or v != _DEFAULTS[k]}
        return {**extra, **kept}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        """The record of a ``result.json`` object; ``KeyError`` naming a missing field
        among ``run``, ``setting``, ``method``, ``seed``, ``TypeError`` naming a field of
        another type than ``_FIELD_TYPES`` (a metric: a number or null)."""
        names = {f.name for f in fields(cls)} - {"extra"}
        missing = [k for k in ("run", "setting", "method", "seed") if k not in data]
        if missing:
            raise KeyError(f"no {', '.join(missing)}")
        for name, kind in _FIELD_TYPES.items():
            value = data.get(name, _DEFAULTS.get(name, ""))
            if not isinstance(value, kind) or isinstance(value, bool):
                raise TypeError(f"its {name} is {_shown(value)}, not {kind.__name__}")
        for name, value in data.get("metrics", {}).items():
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise TypeError(f"its metric {name} is {_shown(value)}, not a number or null")
        known = {k: v for k, v in data.items() if k in names}
        return cls(**known, extra={k: v for k, v in data.items() if k not in names})


def read_result_file(path: Path) -> RunResult:
    """The ``RunResult`` in ``path``; ``ResultFileError`` naming the file if it is not
    JSON or not a run's result (``FileNotFoundError`` if it does not exist)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return RunResult.from_dict(data)
    except (ValueError, KeyError, TypeError) as error:
        raise ResultFileError(f"{path} is not a run's result: {error}") from None


def write_result_file(folder: Path, result: RunResult) -> None:
    """Write ``result`` to ``folder/result.json`` atomically."""
    write_text_atomic(folder / RESULT_FILE, json.dumps(result.to_dict(), indent=2))


#: Fields written even at their default value.
_ALWAYS = ("run", "setting", "method", "seed", "status")
_DEFAULTS = asdict(RunResult("", "", "", 0))
#: The JSON type of the fields the tables read, checked as a result is read.
_FIELD_TYPES: dict[str, type] = {
    "run": str,
    "setting": str,
    "method": str,
    "seed": int,
    "status": str,
    "config": dict,
    "metrics": dict,
    "figures": list,
    "data_files": list,
}


def _shown(value: Any, width: int = 40) -> str:
    """``repr(value)``, cut to ``width`` characters."""
    return cut(repr(value), width)


def failure_line(result: RunResult, width: int = 200) -> str:
    """The first line of a failed run's error, at most ``width`` characters."""
    return cut(str(result.error or "unknown error").splitlines()[0], width)
