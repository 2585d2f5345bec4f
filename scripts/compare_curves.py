"""Were runs stopped by convergence or by noise? Their validation curves, side by side.

Run: ``python scripts/compare_curves.py LABEL=FOLDER/SETTING/METHOD ... [--window 50]
[--every 100] [--from-epoch 100] [--slope-epochs 200]``,
e.g. ``cvae=converged-author/faces/cvae optimal=converged-author/faces/optimal``.
Reads ``seed-<k>/curves.csv`` of every seed that all folders have finished and prints two
Markdown tables (nats per validation point):

1. per folder: epochs run and best epoch; the epoch-to-epoch noise (standard deviation)
   of the validation ELBO from ``--from-epoch`` on (around a 51-epoch mean); its
   least-squares slope over the ``--slope-epochs`` epochs up to the best one; the
   highest ``--window``-epoch mean;
2. the ``--window``-epoch mean of the validation ELBO ending at every ``--every``-th
   epoch, minus the first folder's for the same seed (mean ± s.e., seeds above/below),
   up to the last epoch that every run reached; then each at its own highest mean, and
   at its best single epoch up to that last common one (the first author's rule of
   keeping the best epoch, at a common budget).

With ``--figure PATH``, it also draws each seed's curves (``curves_figure``) as a PNG.

With ``--draws N [--data-root DIR]``, table 1 also gives, for runs that kept their
``model.pt``, how much the final model's validation ELBO moves across N draws of z: the
part of the noise that is the estimate's rather than the model's.

A validation ELBO under an optimal prior is not normalised (it counts T), as in training.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from labelled_runs import labelled_runs

from optprior._text import counted
from optprior.experiments.convergence import (
    estimate_noise_std,
    noise_std,
    read_validation_curve,
    slope,
    trailing_mean,
)
from optprior.experiments.curves_figure import curves_figure
from optprior.experiments.figures import save_figure
from optprior.experiments.markdown import markdown_row, markdown_rule
from optprior.experiments.records import RunResult
from optprior.experiments.runner import run_of
from optprior.experiments.tables import difference_cell, summarise_differences
from optprior.models.base import BaseModel

#: Epochs in the centred mean the noise is measured around (``noise_std``).
NOISE_WINDOW = 51


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", nargs="+", help="LABEL=FOLDER pairs")
    parser.add_argument("--window", type=int, default=50, help="epochs in a mean (table 2)")
    parser.add_argument("--every", type=int, default=100, help="epochs between rows (table 2)")
    parser.add_argument("--from-epoch", type=int, default=100, help="first epoch looked at")
    parser.add_argument("--slope-epochs", type=int, default=200, help="epochs in the slope")
    parser.add_argument(
        "--draws",
        type=int,
        default=0,
        help="with this many draws of z, measure the estimate's own noise on runs that kept "
        "their model.pt (0: do not)",
    )
    parser.add_argument("--data-root", default=None, help="dataset folder (with --draws)")
    parser.add_argument("--figure", type=Path, default=None, help="PNG of each seed's curves")
    args = parser.parse_args()
    labels, folders, runs, seeds = labelled_runs(parser, args.runs)
    if not seeds:
        raise SystemExit("no seed is finished in every folder")
    curves = [
        [read_validation_curve(folder / f"seed-{seed}") for seed in seeds] for folder in folders
    ]
    shortest = min(len(curve) for per_seed in curves for curve in per_seed)
    if shortest < args.window:
        raise SystemExit(f"a run logged {shortest} epochs, fewer than --window {args.window}")
    smoothed = [[trailing_mean(curve, args.window) for curve in per_seed] for per_seed in curves]

    print(f"\nseeds {', '.join(map(str, seeds))}\n")
    headings = [
        "runs",
        "epochs run",
        "best epoch",
        f"noise std (epoch {args.from_epoch} on)",
        f"slope, {args.slope_epochs} epochs to the best (nats/epoch)",
        f"highest {args.window}-epoch mean",
    ]
    if args.draws:
        headings.append(f"the estimate's noise std, final model ({args.draws} draws)")
    print(markdown_row(headings))
    print(markdown_rule(len(headings)))
    columns = zip(labels, folders, curves, smoothed, runs, strict=True)
    for label, folder, per_seed, means, results in columns:
        epochs = [len(curve) for curve in per_seed]
        best = [results[seed].best_epoch for seed in seeds]
        tails = [curve[args.from_epoch :] for curve in per_seed]
        noise = [noise_std(tail, NOISE_WINDOW) for tail in tails if len(tail) >= NOISE_WINDOW]
        spans = [
            curve[max(0, b + 1 - args.slope_epochs) : b + 1]
            for curve, b in zip(per_seed, best, strict=True)
        ]
        slopes = [slope(span) for span in spans if len(span) >= 2]
        cells = [
            f"{np.mean(epochs):.0f} ({min(epochs)}-{max(epochs)})",
            f"{np.mean(best):.0f}",
            f"{np.mean(noise):.2f} ({min(noise):.2f}-{max(noise):.2f})" if noise else "too short",
            f"{np.mean(slopes):+.3f}" if slopes else "too short",
            f"{np.mean([mean.max() for mean in means]):.2f}",
        ]
        if args.draws:
            cells.append(estimate_noise_cell(folder, results, seeds, args))
        print(markdown_row([label, *cells]))

    reached = min(len(curve) for per_seed in curves for curve in per_seed)
    print(f"\n{args.window}-epoch mean of the validation ELBO minus {labels[0]}'s\n")
    print(markdown_row(["ending at epoch", *labels[1:]]))
    print(markdown_rule(len(labels)))
    start = max(args.from_epoch, args.window - 1)
    for epoch in range(start - start % args.every + args.every, reached, args.every):
        index = epoch - (args.window - 1)  # the mean of epochs index .. epoch
        print(differences_row(epoch, [[mean[index] for mean in means] for means in smoothed]))
    highest = [[mean.max() for mean in means] for means in smoothed]
    print(differences_row("each at its highest", highest))
    best = [[curve[args.from_epoch : reached].max() for curve in per_seed] for per_seed in curves]
    print(differences_row(f"best single epoch, {args.from_epoch}-{reached - 1}", best))
    if args.figure is not None:
        kept = [[results[seed].best_epoch for seed in seeds] for results in runs]
        figure = curves_figure(labels, curves, kept, seeds, args.window, args.from_epoch)
        save_figure(figure, args.figure)
        print(f"\nwrote {args.figure}")


def estimate_noise_cell(
    folder: Path, results: dict[int, RunResult], seeds: list[int], args: argparse.Namespace
) -> str:
    """Mean over the runs of ``seeds`` that kept their ``model.pt`` of the validation
    ELBO's noise across ``args.draws`` draws of z (``estimate_noise_std``)."""
    found = []
    for seed in seeds:
        run = folder / f"seed-{seed}"
        if (run / "model.pt").is_file():
            data = run_of(results[seed], run, args.data_root).load_data()
            model = BaseModel.load(run / "model.pt")
            found.append(estimate_noise_std(model, data.val.X, data.val.s, args.draws))
    return f"{np.mean(found):.2f} ({counted(len(found), 'run')})" if found else "no model.pt"


def differences_row(heading: object, values: list[list[float]]) -> str:
    """A table row of paired differences: ``values[f][k]`` is folder f's number for the
    k-th seed; one cell per folder after the first, minus the first."""
    first = np.array(values[0])
    cells = [difference_cell(summarise_differences(np.array(v) - first)) for v in values[1:]]
    return markdown_row([heading, *cells])


if __name__ == "__main__":
    main()
