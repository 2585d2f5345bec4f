"""How the optimal-prior and CVAE encoders use the latent space, from saved runs.

Run: ``python benchmarks/prior_diagnostics.py RUNS_DIR [--setting usps-mnist] [--seeds 0 1]``
where RUNS_DIR is an ``optprior reproduce --out`` folder. For 2,000 test points of each
run it prints the mean KL(q(z|x,s) || N(0, I)), the number of active latent dimensions
(variance of the posterior mean over points > 0.01), and for the optimal prior the mean
and range of T(z) at z ~ q(z|x,s) (T's estimate of ln q(z)/N(z; 0, I)).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from optprior import load_model
from optprior.data import load_setting
from optprior.nn.encoder import kl_to_standard_normal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", type=Path)
    parser.add_argument("--setting", default="usps-mnist")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args()
    torch.manual_seed(0)

    print("| method | seed | KL(q(z|x,s) || N) | active dims | E_q[T] | T range |")
    print("|---|---|---|---|---|---|")
    for seed in args.seeds:
        data = load_setting(args.setting, seed, args.data_root)
        pick = np.random.default_rng(0).choice(len(data.test.X), 2000, replace=False)
        x, s = data.test.X[pick], data.test.s[pick]
        for method in ("cvae", "optimal"):
            path = args.runs / args.setting / method / f"seed-{seed}" / "model.pt"
            if not path.is_file():
                continue
            model = load_model(path)
            mu, logvar = (torch.from_numpy(a) for a in model.posterior(x, s))
            kl = float(kl_to_standard_normal(mu, logvar).mean())
            active = int((mu.var(0) > 0.01).sum())
            t_mean = t_range = ""
            prior = model.module_.prior
            if prior.has_discriminator:
                with torch.no_grad():
                    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
                    t = prior.log_ratio(z)
                t_mean, t_range = f"{float(t.mean()):.2f}", f"[{t.min():.1f}, {t.max():.1f}]"
            print(f"| {method} | {seed} | {kl:.2f} | {active} | {t_mean} | {t_range} |")


if __name__ == "__main__":
    main()
