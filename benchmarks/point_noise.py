"""What per-point random streams cost importance sampling.

Run: ``python benchmarks/point_noise.py [--points 200] [--samples 1000] [--rounds 3]``.

``score_samples`` draws each point's importance samples from a stream keyed by the point
(``bounds.point_streams``), so that a point's score does not depend on the points scored
with it. This prints, from one run, the time of ``log_marginal_likelihood`` on
``--points`` usps-mnist-sized points (784 pixels, the default networks) at ``--samples``
samples with those streams (``seed=0``) and with one draw per chunk from torch's global
stream (``seed=None``, as before), after a warm-up, in turns, medians of ``--rounds``.
"""

from __future__ import annotations

import argparse
import platform
import warnings

import numpy as np
import torch
from timing import medians_in_turns

from optprior import CVAE
from optprior.evaluation.bounds import log_marginal_likelihood

X_DIM = 784


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=200)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = (rng.random((max(args.points, 200), X_DIM)) < 0.2).astype(np.float32)
    s = np.arange(len(x)) % 2
    with warnings.catch_warnings():  # one epoch: a model of the right sizes, not a fit
        warnings.simplefilter("ignore")
        model = CVAE(epochs=1, warmup_epochs=0, progress=False).fit(x[:200], s[:200])
    module = model.module_
    xt, st = torch.from_numpy(x[: args.points]), torch.from_numpy(s[: args.points])
    names = {"per point (seed=0)": 0, "per chunk (seed=None)": None}
    works = [
        lambda seed=seed: log_marginal_likelihood(module, xt, st, args.samples, seed=seed)
        for seed in names.values()
    ]
    medians = dict(zip(names, medians_in_turns(works, args.rounds), strict=True))
    print(
        f"{platform.node()}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"{args.points} points x {args.samples} samples, latent {module.prior.latent_dim}"
    )
    print("| importance draws | seconds (median) | ratio |")
    print("|---|---|---|")
    base = medians["per chunk (seed=None)"]
    for name, median in medians.items():
        print(f"| {name} | {median:.2f} | {median / base:.3f} |")


if __name__ == "__main__":
    main()
