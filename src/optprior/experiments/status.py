"""``optprior status``: where every run of a sweep folder stands, finished or not."""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from optprior._io import read_json_object, write_text_atomic
from optprior._text import counted
from optprior.experiments.lock import GONE, holder
from optprior.experiments.markdown import markdown_row, markdown_rule
from optprior.experiments.records import RESULT_FILE, failure_line, read_result_file
from optprior.models.methods import METHODS
from optprior.training.trainer import checkpoint_history

#: The folder (under a sweep's ``--out``) of the plans of the sweeps into it: one file per
#: plan, named by the digest of its run names, so that sweeps never rewrite each other's.
PLANS = "planned"
#: How many of the latest epochs estimate an unfinished run's time left (their median, so
#: that one epoch that spans a pause does not count).
RECENT_EPOCHS = 10
#: What reading a damaged plan can raise (unreadable, not JSON, nested too deep).
_DAMAGE = (OSError, ValueError, RecursionError)


def record_plan(names: list[str], out: Path) -> None:
    """Write ``names`` (``<setting>/<method>/seed-<k>``) as a plan of ``out``, which
    ``optprior status`` reads to list the runs no sweep has started yet."""
    text = json.dumps(sorted(names), indent=1) + "\n"
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    write_text_atomic(out / PLANS / f"{digest}.json", text)


def planned_runs(out: Path) -> tuple[set[str], list[str]]:
    """The run names of every plan of ``out``, and a line for each plan that cannot be
    read."""
    names: set[str] = set()
    damaged = []
    for path in sorted((out / PLANS).glob("*.json")):
        try:
            plan = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(plan, list) or not all(isinstance(n, str) for n in plan):
                raise ValueError("not a list of run names")
            names.update(plan)
        except _DAMAGE as error:
            damaged.append(f"{path}: {error}")
    return names, damaged


def run_status(folder: Path) -> dict[str, Any]:
    """The state of the run in ``folder`` (``<out>/<setting>/<method>/seed-<k>``).

    ``state`` is ``finished`` or ``failed`` (its ``result.json``; a failed run is trained
    again by the next sweep), ``training`` or ``scoring`` (a live process holds its lock;
    ``owner`` names it), ``interrupted`` (a checkpoint or a model newer than any result,
    or only its ``config.json``: killed before its first checkpoint; no live owner: the
    next sweep goes on from there, ``detail`` saying so where not from a checkpoint) or
    ``not started``.
    ``epochs``/``best_epoch`` come from the result or the checkpoint, ``epoch_seconds`` is
    the last epoch's time, ``seconds_left`` the most an unfinished run's training still
    takes (the epochs left at the median time of its last ``RECENT_EPOCHS``; early
    stopping may end it sooner), ``saved`` the age (s) of the newest of its result, model
    and checkpoint, ``training_seconds`` the time its epochs took (a finished run's, or
    those in its checkpoint), ``trained`` whether an unfinished run's model is saved,
    ``stage`` ("T's fit") where the stage that trains is a post-hoc run's own T.
    """
    status: dict[str, Any] = {"run": "/".join(folder.parts[-3:])}
    mtimes = {
        name: (folder / name).stat().st_mtime
        for name in (RESULT_FILE, "model.pt")
        if (folder / name).is_file()
    }
    # One checkpoint a stage (``BaseModel.checkpoint_files``): the newest is of the stage
    # that trains (a post-hoc run's T: ``checkpoint.pt.prior``).
    method = METHODS.get(folder.parent.name)
    files = method.checkpoint_files(folder / "checkpoint.pt") if method else ()
    stages = {p: p.stat().st_mtime for p in files if p.is_file()}
    checkpoint = max(stages, key=lambda p: stages[p]) if stages else None
    if checkpoint is not None:
        mtimes["checkpoint.pt"] = stages[checkpoint]
    if mtimes:
        status["saved"] = max(0.0, time.time() - max(mtimes.values()))
    result = read_result_file(folder / RESULT_FILE) if RESULT_FILE in mtimes else None
    if result is not None and result.ok:
        status["state"] = "finished"
        status["epochs"], status["best_epoch"] = result.epochs_run, result.best_epoch
        status["test_log_likelihood"] = result.metric("test_log_likelihood")
        status["training_seconds"] = result.training_seconds
        return status
    # A failed run's result stays until its next try ends; its files since then count.
    error = failure_line(result, 120) if result else ""
    newer = [
        name
        for name in ("model.pt", "checkpoint.pt")
        if mtimes.get(name, 0) > mtimes.get(RESULT_FILE, 0)
    ]
    owner = holder(folder / "lock")
    # Not scored: its model saved after every checkpoint (those kept for a higher cap too).
    status["trained"] = "model.pt" in newer and mtimes["model.pt"] >= mtimes.get("checkpoint.pt", 0)
    if owner not in (None, GONE):
        state = "scoring" if status["trained"] else "training"
        status["state"], status["owner"] = state, owner
    elif result is not None and not newer:
        status["state"], status["error"] = "failed", error
    elif newer or (folder / "config.json").is_file():
        status["state"] = "interrupted"
        if status["trained"]:
            status["detail"] = "trained: its scoring is left"
        elif not newer:  # killed in its first minutes
            status["detail"] = "no checkpoint yet: trains from the start"
    else:
        status["state"] = "not started"
    if error and status["state"] != "failed":
        status["error"] = f"an earlier try failed: {error}"
    config_path = folder / "config.json"
    if config_path.is_file():
        try:
            training = read_json_object(config_path, "run configuration").get("training") or {}
        except ValueError as error:  # shown in its row, the other runs listed still
            training, status["error"] = {}, str(error)
        status["max_epochs"] = training.get("epochs")
    if "checkpoint.pt" in newer and checkpoint is not None and not status["trained"]:
        history = checkpoint_history(checkpoint)
        if checkpoint.name != "checkpoint.pt":
            status["stage"] = "T's fit"  # on the CVAE of the first stage
        status["epochs"], status["best_epoch"] = len(history.epochs), history.best_epoch
        if history.epochs:
            status["epoch_seconds"] = history.epochs[-1].get("seconds")
            status["training_seconds"] = sum(e.get("seconds", 0.0) for e in history.epochs)
        recent = [e["seconds"] for e in history.epochs[-RECENT_EPOCHS:] if "seconds" in e]
        if recent and status.get("max_epochs"):
            left = max(0, status["max_epochs"] - len(history.epochs))
            status["seconds_left"] = left * statistics.median(recent)
    return status


def sweep_status(out: Path, planned: Iterable[str] = ()) -> list[dict[str, Any]]:
    """``run_status`` of every run folder in ``out`` (``run_folders``) and ``not started``
    for each run of ``planned`` (``planned_runs``) without one, by name; a folder whose
    files cannot be read (e.g. written by another version, or being replaced) is
    ``unreadable`` with the reason."""
    statuses = []
    for folder in run_folders(out):
        try:
            statuses.append(run_status(folder))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            name = "/".join(folder.parts[-3:])
            statuses.append({"run": name, "state": "unreadable", "error": str(error)})
    seen = {s["run"] for s in statuses}
    statuses += [{"run": name, "state": "not started"} for name in planned if name not in seen]
    return sorted(statuses, key=lambda s: s["run"])


def run_folders(out: Path) -> list[Path]:
    """The run folders (``<setting>/<method>/seed-<k>``) of ``out``: a sweep's ``--out``,
    one of its setting or method folders, or a run folder itself."""
    out = out.resolve()  # "." names its run by the folders above it
    if out.name.startswith("seed-"):
        return [out]
    found = [f for pattern in ("*/*/seed-*", "*/seed-*", "seed-*") for f in out.glob(pattern)]
    return sorted(f for f in found if f.is_dir())


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _age(seconds: float | None) -> str:
    return "" if seconds is None else f"{_duration(seconds)} ago"


def status_table(statuses: list[dict[str, Any]]) -> str:
    """A Markdown table of ``sweep_status`` rows and a count of the states."""
    heading = (
        "run",
        "state",
        "epochs (best, from 0)",
        "last epoch (s)",
        "at most left",
        "last saved",
        "test ln p(x|s)",
        "note",
    )
    lines = [markdown_row(heading), markdown_rule(len(heading))]
    for s in statuses:
        epochs = ""
        if s.get("epochs") is not None:
            cap = f"/{s['max_epochs']}" if s.get("max_epochs") and s["state"] != "finished" else ""
            best = "" if s.get("best_epoch") is None else f" ({s['best_epoch']})"
            epochs = f"{s['epochs']}{cap}{best}"
        seconds = s.get("epoch_seconds")
        score = s.get("test_log_likelihood")
        note = "; ".join(
            text
            for text in (
                s.get("stage"),
                s.get("detail"),
                f"by {s['owner']}" if "owner" in s else "",
                s.get("error"),
            )
            if text
        )
        cells = [
            s["run"],
            s["state"],
            epochs,
            "" if seconds is None else f"{seconds:.1f}",
            _duration(s.get("seconds_left")),
            _age(s.get("saved")),
            "" if score is None else f"{score:.2f}",
            note,
        ]
        lines.append(markdown_row(cells))
    counts = Counter(s["state"] for s in statuses)
    summary = ", ".join(f"{n} {state}" for state, n in counts.items()) or "no runs"
    estimate = time_left(statuses)
    return "\n".join(lines) + f"\n\n{summary}\n" + (f"\n{estimate}\n" if estimate else "")


def time_left(statuses: list[dict[str, Any]]) -> str:
    """A line estimating the training the unfinished runs of ``sweep_status`` still need:
    for each, the median ``training_seconds`` of the finished runs of its setting and
    method, less what its checkpoint has trained (none for a trained run, being scored or
    stopped before it), the runs already past that pace named apart, since they will
    take longer than it says; empty when every run is finished."""

    def group(s: dict[str, Any]) -> str:
        return str(s["run"]).rsplit("/", 1)[0]  # <setting>/<method>

    paces: dict[str, list[float]] = {}
    for s in statuses:
        if s["state"] == "finished" and s.get("training_seconds") is not None:
            paces.setdefault(group(s), []).append(s["training_seconds"])
    todo = [s for s in statuses if s["state"] != "finished"]
    if not todo:
        return ""
    pace = {name: statistics.median(seconds) for name, seconds in paces.items()}
    left, past = 0.0, 0
    to_train = [s for s in todo if not s.get("trained")]  # a trained run's scoring is left
    if not to_train:
        verb = "is" if len(todo) == 1 else "are"
        return f"Left to train: none ({counted(len(todo), 'trained run')} {verb} left to score)."
    unknown = Counter(group(s) for s in to_train if group(s) not in pace)
    for s in to_train:
        if group(s) in pace:
            trained = s.get("training_seconds") or 0.0
            left += max(0.0, pace[group(s)] - trained)
            past += trained > pace[group(s)]
    known = len(to_train) - unknown.total()
    line = "Left to train: " + (
        f"about {_duration(left)} for {counted(known, 'run')} at the pace of their method's "
        "finished runs (median), one run at a time"
        if known
        else "not known yet"
    )
    if past:
        line += f" ({counted(past, 'run')} already past that pace, counted as none left)"
    if unknown:
        line += "; not counted, none of their method finished: " + ", ".join(
            f"{name} ({n})" for name, n in sorted(unknown.items())
        )
    return line + "."
