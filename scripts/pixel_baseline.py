"""How hard each task's binarised test images are, before any model: a yardstick for
comparing log-likelihoods across tasks and with the paper's.

Run: ``python scripts/pixel_baseline.py [usps-mnist mnist-usps] [--data-root DIR]``.
For each task of each setting (seed 0 splits, images binarised as the sweeps score them)
prints the share of pixels that are on, and the test log-likelihood (nats per image) of
independent Bernoulli pixels whose means are fitted, with add-one smoothing, to that
task's training points in the setting (the source's training split, i.e. its training
set less the validation part; the 100 points for the target). A model's ln p(x|s) on a
task is read against this line.
"""

from __future__ import annotations

import argparse

import numpy as np

from optprior.data import load_setting
from optprior.experiments.evaluate import binarized


def independent_pixels_log_likelihood(train: np.ndarray, test: np.ndarray) -> float:
    """Mean test ln p(x) (nats) of independent Bernoulli pixels fitted to ``train``.

    ``train`` (N, D), ``test`` (M, D) binary; pixel means with add-one smoothing.
    """
    p = (train.sum(0) + 1.0) / (len(train) + 2.0)
    return float((test @ np.log(p) + (1.0 - test) @ np.log1p(-p)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("settings", nargs="*", default=["usps-mnist", "mnist-usps"])
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args()
    print("| setting | task | train points | pixels on (test) | independent pixels: test ln p(x) |")
    print("|---|---|---|---|---|")
    for name in args.settings:
        data = load_setting(name, 0, args.data_root)
        if data.likelihood != "bernoulli":
            raise SystemExit(f"{name}: only binary (Bernoulli) settings have this yardstick")
        train_all, test_all = binarized(data.train.X), binarized(data.test.X)
        for k, task in enumerate(data.tasks):
            train, test = train_all[data.train.s == k], test_all[data.test.s == k]
            role = " (target)" if k == data.target_task else ""
            ll = independent_pixels_log_likelihood(train, test)
            print(f"| {name} | {task}{role} | {len(train)} | {test.mean():.3f} | {ll:.1f} |")


if __name__ == "__main__":
    main()
