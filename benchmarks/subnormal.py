"""How much slower T's forward pass runs when some of its weights are subnormal.

Run: ``python benchmarks/subnormal.py [--fraction 0.2] [--points 20000]``. Builds the
default discriminator T (2 x 256 tanh on a 40-d z), sets ``--fraction`` of its hidden
weights to subnormal values (as weight decay left them in one usps-mnist run), times
T on ``--points`` draws, then again after ``flush_subnormals_`` (what the trainer does
after every epoch and ``load`` does on reading a model). Prints one Markdown table.
"""

from __future__ import annotations

import argparse
import time

import torch

from optprior.priors import OptimalPrior
from optprior.training.trainer import flush_subnormals_


@torch.no_grad()
def seconds(prior: OptimalPrior, z: torch.Tensor, repeats: int = 5) -> float:
    """Median wall time of one forward pass of T on ``z``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        prior.log_ratio(z)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fraction", type=float, default=0.2)
    parser.add_argument("--points", type=int, default=20000)
    args = parser.parse_args()
    torch.manual_seed(0)
    prior = OptimalPrior(40).eval()
    hidden = prior.discriminator.body[2].weight  # the 256 x 256 layer
    with torch.no_grad():
        mask = torch.rand_like(hidden) < args.fraction
        hidden[mask] = 1e-39 * torch.sign(torch.randn(int(mask.sum())))
        torch.nn.init.normal_(prior.discriminator.body[-1].weight)  # T != 0
    z = torch.randn(args.points, 40)
    slow = seconds(prior, z)
    flush_subnormals_(prior)
    fast = seconds(prior, z)
    print(
        f"| T forward on {args.points} z, {args.fraction:.0%} of the 256 x 256 weights | seconds |"
    )
    print("|---|---|")
    print(f"| subnormal | {slow:.3f} |")
    print(f"| flushed to zero | {fast:.3f} |")
    print(f"| ratio | {slow / fast:.0f}x |")


if __name__ == "__main__":
    main()
