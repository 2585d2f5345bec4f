"""Time to result: wall time of finished runs, per protocol folder, setting and method.

Run: ``python benchmarks/run_times.py LABEL=FOLDER ...`` with each FOLDER an
``optprior reproduce --out`` folder (e.g. ``paper=docs/results/paper``). Prints a
Markdown table with one row per folder, setting and method: runs, epochs run (median,
and how many reached the cap), training minutes (the sum of the epochs' seconds in
``curves.csv``, ``prior_curves.csv`` included), minutes of the whole run (training and
scoring, ``wall_seconds``; a run resumed or scored again counts its last stretch only)
and validation and test ln p(x|s) (means); then each folder's total over its runs, the
single-core time of the whole sweep.
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from optprior.experiments.records import RESULT_FILE, RunResult, read_result_file


def training_minutes(folder: Path) -> float:
    """Minutes of the epochs a run's curves record (model and post-hoc prior fits)."""
    seconds = 0.0
    for name in ("curves.csv", "prior_curves.csv"):
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
            groups[result.setting, result.method].append((result, training_minutes(path.parent)))
    rows = []
    total_training = total_wall = 0.0
    for (setting, method), runs in sorted(groups.items()):
        epochs = [r.epochs_run or 0 for r, _ in runs]
        capped = sum(r.capped for r, _ in runs)
        training = [m for _, m in runs]
        wall = [(r.wall_seconds or 0.0) / 60 for r, _ in runs]
        total_training += sum(training)
        total_wall += sum(wall)
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
    runs_in_all = sum(len(runs) for runs in groups.values())
    rows.append(
        (
            label,
            "all",
            "all",
            str(runs_in_all),
            "",
            f"{total_training:.0f} in all",
            f"{total_wall:.0f} in all",
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
