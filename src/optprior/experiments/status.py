"""``optprior status``: where every run of a sweep folder stands, finished or not."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from optprior.experiments.lock import GONE, holder
from optprior.training.trainer import CheckpointError, checkpoint_history


def run_status(folder: Path) -> dict[str, Any]:
    """The state of the run in ``folder`` (``<out>/<setting>/<method>/seed-<k>``).

    ``state`` is ``finished`` or ``failed`` (its ``result.json``), ``training`` (a live
    process holds its lock; ``owner`` names it), ``interrupted`` (a checkpoint or a
    model and no live owner: a sweep started again goes on from there) or ``not
    started``. ``epochs``/``best_epoch`` come from the result or the checkpoint,
    ``epoch_seconds`` is the last epoch's time, ``saved`` the age (s) of the newest of
    its result, model and checkpoint.
    """
    status: dict[str, Any] = {"run": "/".join(folder.parts[-3:])}
    saved = [folder / name for name in ("result.json", "model.pt", "checkpoint.pt")]
    times = [f.stat().st_mtime for f in saved if f.is_file()]
    if times:
        status["saved"] = time.time() - max(times)
    result_path = folder / "result.json"
    if result_path.is_file():
        result = json.loads(result_path.read_text())
        ok = result.get("status") == "ok"
        status["state"] = "finished" if ok else "failed"
        status["epochs"], status["best_epoch"] = result.get("epochs_run"), result.get("best_epoch")
        status["test_log_likelihood"] = (result.get("metrics") or {}).get("test_log_likelihood")
        if not ok:
            status["error"] = str(result.get("error", "")).splitlines()[0][:120]
        return status
    owner = holder(folder / "lock")
    if owner not in (None, GONE):
        status["state"], status["owner"] = "training", owner
    checkpoint = folder / "checkpoint.pt"
    if checkpoint.is_file():
        try:
            history = checkpoint_history(checkpoint)
        except CheckpointError as error:  # e.g. being replaced right now
            status["error"] = str(error)
        else:
            status["epochs"], status["best_epoch"] = len(history.epochs), history.best_epoch
            if history.epochs:
                status["epoch_seconds"] = history.epochs[-1].get("seconds")
    if "state" not in status:
        resumable = checkpoint.is_file() or (folder / "model.pt").is_file()
        status["state"] = "interrupted" if resumable else "not started"
    config_path = folder / "config.json"
    if config_path.is_file():
        status["max_epochs"] = json.loads(config_path.read_text())["training"].get("epochs")
    return status


def sweep_status(out: Path) -> list[dict[str, Any]]:
    """``run_status`` of every run folder under ``out``, by name."""
    folders = sorted(f for f in out.glob("*/*/seed-*") if f.is_dir())
    return [run_status(folder) for folder in folders]


def _age(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def status_table(statuses: list[dict[str, Any]]) -> str:
    """A Markdown table of ``sweep_status`` rows and a count of the states."""
    lines = [
        "| run | state | epochs (best, from 0) | last epoch (s) | last saved | "
        "test ln p(x\\|s) | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in statuses:
        epochs = ""
        if s.get("epochs") is not None:
            cap = f"/{s['max_epochs']}" if s.get("max_epochs") and s["state"] != "finished" else ""
            epochs = f"{s['epochs']}{cap} ({s.get('best_epoch')})"
        seconds = s.get("epoch_seconds")
        score = s.get("test_log_likelihood")
        note = s.get("error") or (f"by {s['owner']}" if "owner" in s else "")
        cells = [
            s["run"],
            s["state"],
            epochs,
            "" if seconds is None else f"{seconds:.1f}",
            _age(s.get("saved")),
            "" if score is None else f"{score:.2f}",
            note,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    counts = Counter(s["state"] for s in statuses)
    summary = ", ".join(f"{n} {state}" for state, n in counts.items()) or "no runs"
    return "\n".join(lines) + f"\n\n{summary}\n"
