"""How much slower T's forward pass runs when some of its weights are subnormal.

Run: ``python benchmarks/subnormal.py [--fraction 0.2] [--points 20000] [--threads 1]``. Builds the
default discriminator T (2 x 256 tanh on a 40-d z), sets ``--fraction`` of its hidden
weights to subnormal values (as weight decay left them in one usps-mnist run), times
T on ``--points`` draws, and a copy after ``flush_subnormals_`` (what the trainer does
after every epoch and ``load`` does on reading a model), in turns. Prints one Markdown
table. How much subnormals cost depends on the CPU: some handle them at full speed.
"""

from __future__ import annotations

import argparse
import copy
import time

import torch

from optprior.priors import OptimalPrior
from optprior.training.trainer import flush_subnormals_


@torch.no_grad()
def medians(priors: list[OptimalPrior], z: torch.Tensor, repeats: int = 7) -> list[float]:
    """Median wall time of one forward pass of each prior's T on ``z``, after one untimed
    pass each, timed in turns (first, second, second, first, ...) so that the host's
    drift falls on both alike."""
    for prior in priors:
        prior.log_ratio(z)
    times: list[list[float]] = [[] for _ in priors]
    for repeat in range(repeats):
        order = range(len(priors)) if repeat % 2 == 0 else reversed(range(len(priors)))
        for k in order:
            start = time.perf_counter()
            priors[k].log_ratio(z)
            times[k].append(time.perf_counter() - start)
    return [sorted(t)[len(t) // 2] for t in times]


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
    slow, fast = medians([prior, flushed], z)
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
