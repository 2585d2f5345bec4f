"""Per-point paired comparison of two finished runs of one setting and seed: ln p(x|s) of
each scored validation and test point under both models, the mean paired difference
and its standard error over the points.

Run: ``python scripts/paired_points.py RUN_A RUN_B [--data-root ../shared/data]
[--test-points 1000] [--samples 1000]``, each RUN a run folder holding ``result.json``
and ``model.pt`` (e.g. ``runs/author/usps-mnist/cvae/seed-0``). Both runs must share a
setting, seed and data options, so their splits are the same points. Scores are
importance-sampled and binarised as the runs were scored (``experiments.evaluate``), each
model's prior normalised by its own ln Z; ``--test-points`` takes a random subset of
each scored task's test points (0: all). A per-seed difference of validation means is
this script's mean: its standard error says how much of it the validation set's size
alone can explain.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from optprior.evaluation.binarization import binarized
from optprior.experiments.evaluate import balanced_subset, scored_tasks
from optprior.experiments.records import RESULT_FILE, read_result_file
from optprior.experiments.runner import run_of
from optprior.models.base import BaseModel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", nargs=2, type=Path, help="two run folders")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--test-points", type=int, default=1000, help="per task; 0: all")
    parser.add_argument("--samples", type=int, default=1000, help="importance samples")
    args = parser.parse_args()
    results = [read_result_file(run / RESULT_FILE) for run in args.runs]
    first = results[0]
    for result in results[1:]:
        same = (result.setting, result.seed, result.config["data"])
        if same != (first.setting, first.seed, first.config["data"]):
            raise SystemExit("the runs differ in setting, seed or data options: not paired")
    models = [BaseModel.load(run / "model.pt") for run in args.runs]
    data = run_of(first, args.runs[0], args.data_root).load_data()
    # ln Z of each prior (0 unless it holds a T), its proposal fitted to the training codes
    train = data.train
    shifts = [m.log_normalizer(train.X, train.s, random_state=first.seed) for m in models]
    bernoulli = data.likelihood == "bernoulli"
    names = [f"{r.method}/seed-{r.seed}" for r in results]
    print(f"{first.setting}: {names[1]} minus {names[0]}, {args.samples} importance samples")
    print()
    print("| task | split | points | mean A | mean B | B - A (mean ± s.e.) | points B above |")
    print("|---|---|---|---|---|---|---|")
    for k in scored_tasks(data):
        splits = {"validation": data.val.task(k), "test": data.test.task(k)}
        if args.test_points:
            splits["test"] = balanced_subset(splits["test"], args.test_points, first.seed)
        for split, points in splits.items():
            if not len(points.s):
                continue
            x = binarized(points.X) if bernoulli else points.X
            a, b = (
                model.score_samples(x, points.s, args.samples, random_state=first.seed) - shift
                for model, shift in zip(models, shifts, strict=True)
            )
            gap = b - a
            error = gap.std(ddof=1) / np.sqrt(len(gap))
            print(
                f"| {data.tasks[k]} | {split} | {len(gap)} | {a.mean():.2f} | {b.mean():.2f} | "
                f"{gap.mean():+.2f} ± {error:.2f} | {int((gap > 0).sum())} |"
            )


if __name__ == "__main__":
    main()
