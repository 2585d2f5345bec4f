"""How much slower T's forward pass runs when some of its weights are subnormal.

Run: ``python benchmarks/subnormal.py [--fraction 0.2] [--points 20000] [--threads 1]``. Builds the
default discriminator T (2 x 256 tanh on a 40-d z), sets ``--fraction`` of its hidden
weights to subnormal values (as weight decay left them in one usps-mnist run), times
T on ``--points`` draws, and a copy after ``flush_subnormals_`` (what the trainer does
after every epoch and ``load`` does on reading a model), in turns (median of 7). Prints
one Markdown table. How much subnormals cost depends on the CPU: some handle them at full
speed.
"""

from __future__ import annotations

import argparse
import copy

import torch
from timing import medians_in_turns

from optprior.priors import OptimalPrior
from optprior.training.trainer import flush_subnormals_


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fraction", type=float, default=0.2)
    parser.add_argument("--points", type=int, default=20000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    prior = OptimalPrior(40).eval()
    hidden = prior.discriminator.body[2].weight  # the 256 x 256 layer
    with torch.no_grad():
        mask = torch.rand_like(hidden) < args.fraction
        hidden[mask] = 1e-39 * torch.sign(torch.randn(int(mask.sum())))
        torch.nn.init.normal_(prior.discriminator.body[-1].weight)  # T != 0
    flushed = copy.deepcopy(prior)
    flush_subnormals_(flushed)
    z = torch.randn(args.points, 40)
    with torch.no_grad():
        slow, fast = medians_in_turns([lambda: prior.log_ratio(z), lambda: flushed.log_ratio(z)], 7)
    print(
        f"| T forward on {args.points} z, {args.fraction:.0%} of the 256 x 256 weights, "
        f"{args.threads} thread(s) | seconds |"
    )
    print("|---|---|")
    print(f"| subnormal | {slow:.3f} |")
    print(f"| flushed to zero | {fast:.3f} |")
    print(f"| ratio | {slow / fast:.2f}x |")


if __name__ == "__main__":
    main()
