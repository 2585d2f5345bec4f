"""How hard each task's binarised test images are, before any model: a yardstick for
comparing log-likelihoods across tasks and with the paper's.

Run: ``python scripts/pixel_baseline.py [usps-mnist mnist-usps] [--data-root DIR]``.
For each task of each setting (seed 0 splits, images binarised as the sweeps score them)
prints the share of pixels that are on, and the test log-likelihood (nats per image) of
independent Bernoulli pixels whose means are fitted, with add-one smoothing, to that
task's training points in the setting (the source's training split, i.e. its training
set less the validation part; the 100 points for the target). A model's ln p(x|s) on a
task is read against this line.

``--usps-boxes 28 24 20 ...`` adds a second table: the same yardstick for the USPS target
of ``mnist-usps`` (its 100 seed-0 training points, all USPS test images) with every 16 x 16
USPS image resized into a centred box of that side on the 28 x 28 canvas (28: the whole
canvas, as the settings load it by default; 20: MNIST's digit box; the same drawing as
the settings' ``usps_box`` option).
"""

from __future__ import annotations

import argparse

import numpy as np

from optprior.data import load_setting
from optprior.data.datasets import read_native
from optprior.data.transforms import in_centred_box, to_float01
from optprior.experiments.evaluate import binarized

CANVAS = 28


def independent_pixels_log_likelihood(train: np.ndarray, test: np.ndarray) -> float:
    """Mean test ln p(x) (nats) of independent Bernoulli pixels fitted to ``train``.

    ``train`` (N, D), ``test`` (M, D) binary; pixel means with add-one smoothing.
    """
    p = (train.sum(0) + 1.0) / (len(train) + 2.0)
    return float((test @ np.log(p) + (1.0 - test) @ np.log1p(-p)).mean())


def usps_box_rows(sides: list[int], target_index: np.ndarray, root: str | None) -> list[str]:
    """Table rows of the USPS-target yardstick with USPS drawn in boxes of ``sides``,
    fitted to the USPS training images at ``target_index``."""
    train = to_float01(read_native("usps", "train", root)[0])[target_index]
    test = to_float01(read_native("usps", "test", root)[0])
    rows = []
    for side in sides:
        fit, score = (
            binarized(
                in_centred_box(images, (side, side), (CANVAS, CANVAS)).reshape(len(images), -1)
            )
            for images in (train, test)
        )
        ll = independent_pixels_log_likelihood(fit, score)
        rows.append(f"| {side} x {side} | {len(fit)} | {score.mean():.3f} | {ll:.1f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("settings", nargs="*", default=["usps-mnist", "mnist-usps"])
    parser.add_argument("--data-root", default=None)
    parser.add_argument(
        "--usps-boxes", nargs="*", type=int, default=[], help="box sides for the USPS table"
    )
    args = parser.parse_args()
    print("| setting | task | train points | pixels on (test) | independent pixels: test ln p(x) |")
    print("|---|---|---|---|---|")
    loaded = {}
    for name in args.settings:
        data = loaded[name] = load_setting(name, 0, args.data_root)
        if data.likelihood != "bernoulli":
            raise SystemExit(f"{name}: only binary (Bernoulli) settings have this yardstick")
        train_all, test_all = binarized(data.train.X), binarized(data.test.X)
        for k, task in enumerate(data.tasks):
            train, test = train_all[data.train.s == k], test_all[data.test.s == k]
            role = " (target)" if k == data.target_task else ""
            ll = independent_pixels_log_likelihood(train, test)
            print(f"| {name} | {task}{role} | {len(train)} | {test.mean():.3f} | {ll:.1f} |")
    if args.usps_boxes:
        print("\nmnist-usps, USPS target drawn in a centred box on the 28 x 28 canvas:\n")
        print("| USPS box | train points | pixels on (test) | independent pixels: test ln p(x) |")
        print("|---|---|---|---|")
        data = loaded.get("mnist-usps") or load_setting("mnist-usps", 0, args.data_root)
        target = data.train.task(data.target_task).index
        print("\n".join(usps_box_rows(args.usps_boxes, target, args.data_root)))


if __name__ == "__main__":
    main()
