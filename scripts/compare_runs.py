"""Per-seed comparison of finished runs from several ``optprior reproduce --out`` folders.

Run: ``python scripts/compare_runs.py LABEL=FOLDER/SETTING/METHOD ... [--metrics m1 m2]
[--seeds 2 3 4]``,
e.g. ``default=runs/paper/usps-mnist/optimal epoch=runs/schedule/usps-mnist/optimal``.
Prints a Markdown table with one row per seed that every folder has finished, each cell
``metric`` of that run's ``result.json``, then the mean over those seeds and the mean
paired difference to the first folder with its standard error. ``--seeds`` keeps only
the seeds named (of those every folder has finished).
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from labelled_runs import labelled_runs


def decimals(values: np.ndarray) -> int:
    """Decimals that show a metric's values to about three significant digits where they
    lie in [0, 1] (a probe's accuracy 0.982 or 1.000, MMD^2 0.0194), two for
    log-likelihoods."""
    finite = np.abs(values[np.isfinite(values)])
    largest = float(finite.max()) if finite.size else 1.0
    if largest <= 0:
        return 2
    return max(3 if largest <= 1 else 2, 2 - math.floor(math.log10(largest)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", nargs="+", help="LABEL=FOLDER pairs")
    parser.add_argument(
        "--metrics", nargs="+", default=["val_log_likelihood", "test_log_likelihood_normalized"]
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="only these seeds")
    args = parser.parse_args()
    labels, _, runs, seeds = labelled_runs(parser, args.runs)
    results = [{seed: run.metrics for seed, run in found.items()} for found in runs]
    if args.seeds is not None:
        seeds = [seed for seed in seeds if seed in args.seeds]
    if not seeds:
        raise SystemExit("no seed is finished in every folder")
    for metric in args.metrics:
        values = np.array([[r[seed].get(metric, math.nan) for r in results] for seed in seeds])
        print(f"\n{metric}\n")
        print("| seed | " + " | ".join(labels) + " |")
        print("|---|" + "---|" * len(labels))
        n = decimals(values)
        for seed, row in zip(seeds, values, strict=True):
            print(f"| {seed} | " + " | ".join(f"{v:.{n}f}" for v in row) + " |")
        print("| mean | " + " | ".join(f"{v:.{n}f}" for v in values.mean(0)) + " |")
        diff = values - values[:, :1]
        if len(seeds) > 1:
            se = diff.std(0, ddof=1) / math.sqrt(len(seeds))
            cells = [f"{d:+.{n}f} ± {e:.{n}f}" for d, e in zip(diff.mean(0), se, strict=True)]
            print(f"| minus {labels[0]} (± s.e.) | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
