"""bfloat16 products in training against float32: the time of an epoch and what it does
to the likelihood, on one of the paper's settings.

Run: ``python benchmarks/precision.py [--setting usps-mnist] [--method cvae]
[--epochs 60] [--samples 100] [--rounds 3] [--threads 1] [--data-root DIR]``. Fits the
method twice on the same split and seed, with ``precision="float32"`` and
``"bfloat16"`` (issue 25: kept only if the validation log-likelihood stays within 0.3
nats), under the estimator's defaults otherwise, and prints one Markdown table: the
seconds of an epoch (training steps and validation ELBO) from ``--rounds`` fits of 2
epochs of each precision in turns (float32 first, then bfloat16 first, ...: the host's
drift falls on both), the median; then of the two long fits the kept epoch's validation
ELBO, the prior's ln Z (``log_normalizer``: annealed importance sampling for T's prior,
0 for a density) and ln p(x|s) by importance sampling (``--samples`` draws) with the
prior divided by Z, on the validation and the target task's test points, each scored in
float32 with the same draws. bfloat16 is
faster only where the hardware has bfloat16 products (``benchmarks/speed.py
--bfloat16``).
"""

from __future__ import annotations

import argparse
import platform
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from optprior.data import load_setting
from optprior.evaluation.binarization import binarized
from optprior.models import METHODS
from optprior.models.base import BaseModel
from optprior.nn.precision import PRECISIONS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--setting", default="usps-mnist")
    parser.add_argument("--method", default="cvae", choices=sorted(METHODS))
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_setting(args.setting, 0, args.data_root)
    bernoulli = data.likelihood == "bernoulli"
    target = data.test.task(len(data.tasks) - 1)
    x_test = binarized(target.X) if bernoulli else target.X
    x_val = binarized(data.val.X) if bernoulli else data.val.X

    def fit(precision: str, epochs: int) -> BaseModel:
        model = METHODS[args.method](
            epochs=epochs,
            warmup_epochs=min(10, epochs),
            patience=0,
            likelihood=data.likelihood,
            precision=precision,
            progress=False,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", (ConvergenceWarning, UserWarning))
            return model.fit(data.train.X, data.train.s, data.val.X, data.val.s)

    seconds: dict[str, list[float]] = {precision: [] for precision in PRECISIONS}
    for round_ in range(args.rounds):
        for precision in PRECISIONS[:: 1 if round_ % 2 == 0 else -1]:
            seconds[precision] += [e["seconds"] for e in fit(precision, 2).fitted_history().epochs]
    rows = {}
    for precision in PRECISIONS:
        model = fit(precision, args.epochs)
        history = model.fitted_history()
        log_z = model.log_normalizer(data.train.X, data.train.s)  # 0 but for T's prior
        rows[precision] = (
            float(np.median(seconds[precision])),
            history.epochs[history.best_epoch]["val_elbo"],
            log_z,
            float(model.score_samples(x_val, data.val.s, args.samples).mean()) - log_z,
            float(model.score_samples(x_test, target.s, args.samples).mean()) - log_z,
        )
    print(
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{args.threads} thread(s): {args.method} on {args.setting} (seed 0), "
        f"{args.epochs} epochs, ln p(x|s) from {args.samples} importance samples\n"
    )
    print(
        f"| precision | seconds per epoch (median of {2 * args.rounds}, in turns) "
        "| kept epoch's validation ELBO | ln Z of the prior "
        "| validation ln p(x\\|s), prior normalised | target test ln p(x\\|s), normalised |"
    )
    print("|---|---|---|---|---|---|")
    for precision, (seconds, val_elbo, log_z, val, test) in rows.items():
        print(
            f"| {precision} | {seconds:.2f} | {val_elbo:.2f} | {log_z:.3f} | {val:.2f} "
            f"| {test:.2f} |"
        )
    (s32, e32, z32, v32, t32), (s16, e16, z16, v16, t16) = rows.values()
    print(
        f"| bfloat16 - float32 | x{s16 / s32:.2f} | {e16 - e32:+.2f} | {z16 - z32:+.3f} "
        f"| {v16 - v32:+.2f} | {t16 - t32:+.2f} |"
    )


if __name__ == "__main__":
    main()
