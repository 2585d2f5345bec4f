"""What the scripts that set run folders side by side share (``compare_runs.py``,
``compare_curves.py``): their ``LABEL=FOLDER`` arguments and each folder's finished runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from optprior.experiments.records import RESULT_FILE, RunResult, read_result_file
from optprior.experiments.runner import unlike_pairs


def finished_runs(folder: Path) -> dict[int, RunResult]:
    """The finished runs under ``folder`` (``seed-<k>/result.json`` with status ok), by seed."""
    results = (read_result_file(path) for path in sorted(folder.glob(f"seed-*/{RESULT_FILE}")))
    return {result.seed: result for result in results if result.ok}


def labelled_runs(
    parser: argparse.ArgumentParser, items: list[str]
) -> tuple[list[str], list[Path], list[dict[int, RunResult]], list[int]]:
    """The labels, folders and finished runs of ``LABEL=FOLDER`` ``items``, and the seeds
    every folder has finished; a bad item or a folder without finished runs ends the
    script with a message."""
    labels, folders = [], []
    for item in items:
        label, _, folder = item.partition("=")
        if not folder:
            parser.error(f"expected LABEL=FOLDER, got {item!r}")
        labels.append(label)
        folders.append(Path(folder))
    runs = [finished_runs(folder) for folder in folders]
    for folder, found in zip(folders, runs, strict=True):
        if not found:
            raise SystemExit(f"{folder}: no finished run (seed-<k>/result.json with status ok)")
    seeds = sorted(set.intersection(*(set(found) for found in runs)))
    unlike = unlike_pairs([found[seed] for found in runs for seed in seeds])
    if unlike:
        raise SystemExit("runs of other data or scoring, not paired: " + "; ".join(unlike))
    return labels, folders, runs, seeds
