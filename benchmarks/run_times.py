"""Time to result: wall time of finished runs, per protocol folder, setting and method.

Run: ``python benchmarks/run_times.py LABEL=FOLDER ...`` with each FOLDER an
``optprior reproduce --out`` folder (e.g. ``paper=docs/results/paper``). Prints a
Markdown table with one row per folder, setting and method: runs, epochs run (median,
and how many reached the cap), training minutes (the sum of the epochs' seconds in
``curves.csv``, ``prior_curves.csv`` included; a post-hoc run that reused a CVAE run
counts only its T's fit, ``prior_curves.csv``, since the CVAE's epochs are that run's),
minutes of the whole run (training and scoring, ``wall_seconds``) and validation and
test ln p(x|s) (means); then, where a folder holds several settings, each setting's
total over its runs, and the folder's. The totals are the one-core time of the sweep,
a lower bound where runs were resumed or scored again (their run minutes count the
last stretch only).
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from optprior.experiments.records import RESULT_FILE, RunResult, read_result_file


def training_minutes(folder: Path, reused: bool) -> float:
    """Minutes of the epochs a run's curves record (model and post-hoc prior fits; only
    the prior's where the run ``reused`` another run's CVAE)."""
    seconds = 0.0
    for name in ("prior_curves.csv",) if reused else ("curves.csv", "prior_curves.csv"):
        path = folder / name
        if path.is_file():
            with path.open() as rows:
                seconds += sum(float(row["seconds"]) for row in csv.DictReader(rows))
    return seconds / 60


def rows_of(label: str, root: Path) -> list[tuple[str, ...]]:
    """Table rows of the finished runs under ``root``, one per setting and method."""
    groups: dict[tuple[str, str], list[tuple[RunResult, float]]] = defaultdict(list)
    for path in sorted(root.glob(f"*/*/seed-*/{RESULT_FILE}")):
        result = read_result_file(path)
        if result.ok:
            minutes = training_minutes(path.parent, bool(result.cvae_reused))
            groups[result.setting, result.method].append((result, minutes))
    rows = []
    totals: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(3))  # runs, training, wall
    for (setting, method), runs in sorted(groups.items()):
        epochs = [r.epochs_run or 0 for r, _ in runs]
        capped = sum(r.capped for r, _ in runs)
        training = [m for _, m in runs]
        wall = [(r.wall_seconds or 0.0) / 60 for r, _ in runs]
        totals[setting] += (len(runs), sum(training), sum(wall))
        val = np.mean([r.metrics.get("val_log_likelihood", np.nan) for r, _ in runs])
        test = np.mean([r.metrics.get("test_log_likelihood", np.nan) for r, _ in runs])
        rows.append(
            (
                label,
                setting,
                method,
                str(len(runs)),
                f"{np.median(epochs):.0f} ({capped} at cap)",
                f"{np.median(training):.1f}",
                f"{np.median(wall):.1f}",
                f"{val:.2f}",
                f"{test:.2f}",
            )
        )
    named = list(totals.items()) if len(totals) > 1 else []
    for setting, (runs_in_all, training_in_all, wall_in_all) in [
        *named,
        ("all", sum(totals.values(), np.zeros(3))),
    ]:
        rows.append(
            (
                label,
                setting,
                "all",
                f"{runs_in_all:.0f}",
                "",
                f"{training_in_all:.0f} in all",
                f"{wall_in_all:.0f} in all",
                "",
                "",
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folders", nargs="+", help="LABEL=FOLDER pairs")
    args = parser.parse_args()
    print(
        "| protocol | setting | method | runs | epochs (median) | training min (median) "
        "| run min (median) | val ln p(x\\|s) | test ln p(x\\|s) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for item in args.folders:
        label, _, folder = item.partition("=")
        if not folder:
            parser.error(f"{item!r} is not LABEL=FOLDER")
        for row in rows_of(label, Path(folder)):
            print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
