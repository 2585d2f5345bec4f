"""The exact mixture prior's density, ln q(z) over the training posteriors, against this
machine's matrix-product rate: the cost that dominates scoring the ``mixture`` method.

Run: ``python benchmarks/mixture_density.py [--components 6662] [--points 20000]
[--latent-dim 40] [--rounds 5] [--threads 1] [--device cpu]``.
The defaults are usps-mnist's: 6662 training posteriors, 40 latent dimensions. Prints one
Markdown table; every figure comes from this one run, each the median of ``--rounds``
timings in turns. "bare product" times only the (points x 2D+1) @ (2D+1 x components)
matrix product the density needs, in float64 as the density takes it (since 2026-12-04;
before, and in the tables of session 18, float32); "x product" is the density's time over it (1
would mean the casts, the log-sum-exp and the chunking cost nothing). The last column
projects the time to score 10,000 test points (usps-mnist's) with 1000 importance samples
each against ``--components`` posteriors.
"""

from __future__ import annotations

import argparse
import platform

import torch
from timing import medians_in_turns

from optprior.priors.mixture import gaussian_mixture_log_density

SCORED_DRAWS = 1000 * 10_000  # usps-mnist: importance samples x test points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--components", type=int, default=6662)
    parser.add_argument("--points", type=int, default=20_000, help="query points z")
    parser.add_argument("--latent-dim", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    c, d, m = args.components, args.latent_dim, args.points
    mu = torch.randn(c, d, generator=g).to(args.device)
    logvar = (0.3 * torch.randn(c, d, generator=g) - 1.0).to(args.device)
    log_w = torch.log_softmax(torch.randn(c, generator=g), 0).to(args.device)
    z = torch.randn(m, d, generator=g).to(args.device)
    left = torch.randn(m, 2 * d + 1, generator=g, dtype=torch.float64).to(args.device)
    right = torch.randn(2 * d + 1, c, generator=g, dtype=torch.float64).to(args.device)

    def sync() -> None:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    def density() -> None:
        gaussian_mixture_log_density(z, mu, logvar, log_w)
        sync()

    def product() -> None:
        left @ right
        sync()

    with torch.no_grad():
        density_s, product_s = medians_in_turns([density, product], args.rounds)
    per_draw = density_s / m
    print(
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{args.threads} thread(s), {args.device}: {m} query points x {c} components x "
        f"{d} dimensions, median of {args.rounds}\n"
    )
    print(
        "| density (s) | bare product, float64 (s) | x product | ns per point and component | "
        f"scoring 10,000 test points against {c} (min) |"
    )
    print("|---|---|---|---|---|")
    print(
        f"| {density_s:.3f} | {product_s:.3f} | {density_s / product_s:.2f} | "
        f"{1e9 * per_draw / c:.2f} | {per_draw * SCORED_DRAWS / 60:.1f} |"
    )


if __name__ == "__main__":
    main()
