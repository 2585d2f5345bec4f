"""How the optimal-prior and CVAE encoders use the latent space, from saved runs.

Run: ``python benchmarks/prior_diagnostics.py RUNS_DIR [--setting usps-mnist] [--seeds 0 1]``
where RUNS_DIR is an ``optprior reproduce --out`` folder (``--method`` names the method
folder of the optimal-prior runs, default ``optimal``). For each task and each of the
training and test splits (at most 2,000 points each) it prints the mean
KL(q(z|x,s) || N(0, I)), the number of active latent dimensions on test points (variance
of the posterior mean over points > 0.01), and for the optimal prior the mean of T(z) at
z ~ q(z|x,s), T's estimate of ln q(z)/N(z; 0, I).

Two facts to read it with. KL(q(z) || N) = E_x KL(q(z|x) || N) - I(x; z) and
I(x; z) <= ln(number of training points), so the exact optimal prior is at least
``E KL - ln N`` nats away from N(0, I) and its rate term E KL(q(z|x) || q(z)) = I(x; z) is
at most ln N. A T that is larger on training encodings than on test encodings of the same
task has fitted the finite training set, not the task. For a prior with T, a last row per
run, task ``all``, averages the training E_q[T] over the tasks weighted by their training
points: how much the bound on the training data gains over a CVAE with the same encoder
and decoder under the prior N(0, I) exp(T). For a T fitted to the data's mixture q(z) it
estimates KL(q(z) || N(0, I)), Theorem 2's gain; a T with balanced task weights gains less
on the training data by design.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch

from optprior import load_model
from optprior.data import TaskSplit
from optprior.experiments.records import RESULT_FILE, read_result_file
from optprior.experiments.runner import run_of
from optprior.nn.encoder import GaussianEncoder, kl_to_standard_normal

POINTS = 2000


def subset(split: TaskSplit, k: int) -> TaskSplit:
    part = split.task(k)
    if len(part.s) <= POINTS:
        return part
    keep = np.sort(np.random.default_rng(0).choice(len(part.s), POINTS, replace=False))
    return TaskSplit(part.X[keep], part.s[keep], part.y[keep], part.index[keep])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", type=Path)
    parser.add_argument("--setting", default="usps-mnist")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=["cvae", "optimal"])
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args()
    torch.manual_seed(0)

    print(
        "| method | seed | task | ln N train | KL(q(z|x,s) || N) train / test | "
        "E_q[T] train / test | active dims (test) |"
    )
    print("|---|---|---|---|---|---|---|")
    for seed in args.seeds:
        for method in args.methods:
            folder = args.runs / args.setting / method / f"seed-{seed}"
            path = folder / "model.pt"
            if not path.is_file() or not (folder / RESULT_FILE).is_file():
                continue
            # the run's own split and data options ([data] of its config), not the defaults
            result = read_result_file(folder / RESULT_FILE)
            data = run_of(result, folder, args.data_root).load_data()
            model = load_model(path)
            prior = model.module_.prior
            weighted_t, total = 0.0, 0
            for k, task in enumerate(data.tasks):
                cells = {}
                for name, split in (("train", data.train), ("test", data.test)):
                    part = subset(split, k)
                    mu, logvar = (torch.from_numpy(a) for a in model.posterior(part.X, part.s))
                    kl = float(kl_to_standard_normal(mu, logvar).mean())
                    t = float("nan")
                    if prior.has_discriminator:
                        with torch.no_grad():
                            z = GaussianEncoder.rsample(mu, logvar)
                            t = float(prior.log_ratio(z).mean())
                    cells[name] = (kl, t, int((mu.var(0) > 0.01).sum()))
                (kl_tr, t_tr, _), (kl_te, t_te, active) = cells["train"], cells["test"]
                n_train = int((data.train.s == k).sum())
                t_cell = f"{t_tr:.2f} / {t_te:.2f}" if prior.has_discriminator else ""
                print(
                    f"| {method} | {seed} | {task} | {math.log(n_train):.2f} | "
                    f"{kl_tr:.2f} / {kl_te:.2f} | {t_cell} | {active} |"
                )
                weighted_t, total = weighted_t + n_train * t_tr, total + n_train
            if prior.has_discriminator:
                mix = weighted_t / total
                print(f"| {method} | {seed} | all | {math.log(total):.2f} | | {mix:.2f} / | |")


if __name__ == "__main__":
    main()
