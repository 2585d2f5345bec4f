"""Drawing the importance-sampling proposal of ln Z (``code_proposal``: N(0, I) and one
full-covariance Gaussian, float64): torch's ``MixtureSameFamily.sample`` against
``priors.optimal.draw``, which draws each component only for the draws that chose it.

Run: ``python benchmarks/proposal_draws.py [--draws 100000] [--dims 10 40] [--rounds 3]``.
Prints, per latent size D, the median seconds of each over ``--rounds`` rounds for the
draws of one ln Z estimate (``IMPORTANCE_DRAWS`` by default, in chunks of
``NORMALIZER_CHUNK`` as the estimator draws them) and their ratio, measured in one run;
and, as a check that both draw the proposal, each sample's largest error of the mean
and of the covariance against their closed forms, relative to the largest entry of the
covariance (its square root for the mean).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial

import torch

from optprior.priors.optimal import IMPORTANCE_DRAWS, NORMALIZER_CHUNK, code_proposal, draw


def seconds(
    sample: Callable, draws: int, rounds: int, tuple_shape: bool = False
) -> tuple[float, torch.Tensor]:
    """Median wall seconds of drawing ``draws`` points chunk by chunk with ``sample``
    (given a count, or with ``tuple_shape`` a sample shape), and the last round's draws."""
    times, z = [], torch.empty(0)
    for _ in range(rounds):
        start = time.perf_counter()
        chunks = [min(NORMALIZER_CHUNK, draws - k) for k in range(0, draws, NORMALIZER_CHUNK)]
        z = torch.cat([sample((n,) if tuple_shape else n) for n in chunks])
        times.append(time.perf_counter() - start)
    return statistics.median(times), z


def exact_moments(proposal) -> tuple[torch.Tensor, torch.Tensor]:
    """The mixture's mean and covariance in closed form."""
    weights = proposal.mixture_distribution.probs
    gaussians = proposal.component_distribution
    mean = weights @ gaussians.loc
    second = gaussians.covariance_matrix + gaussians.loc[:, :, None] * gaussians.loc[:, None]
    return mean, torch.einsum("k,kij->ij", weights, second) - torch.outer(mean, mean)


def gap(z: torch.Tensor, mean: torch.Tensor, covariance: torch.Tensor) -> str:
    """The sample's largest mean and covariance errors, relative to the largest entry of
    the exact covariance."""
    scale = covariance.abs().max()
    errors = (
        (z.mean(0) - mean).abs().max() / scale.sqrt(),
        (torch.cov(z.T) - covariance).abs().max() / scale,
    )
    return " / ".join(f"{e.item():.3f}" for e in errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=IMPORTANCE_DRAWS)
    parser.add_argument("--dims", type=int, nargs="+", default=[10, 40])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    print(f"{args.draws} draws, median of {args.rounds} rounds, {threads} thread(s)\n")
    print(
        "| D | MixtureSameFamily.sample (s) | draw (s) | ratio | error of mean / covariance, "
        "torch | the same, draw |"
    )
    print("|---|---|---|---|---|---|")
    for dim in args.dims:
        codes = torch.randn(1000, dim) @ torch.randn(dim, dim) * 0.5 + 1.0
        proposal = code_proposal(codes)
        torch_s, z_torch = seconds(proposal.sample, args.draws, args.rounds, tuple_shape=True)
        ours_s, z_ours = seconds(partial(draw, proposal), args.draws, args.rounds)
        moments = exact_moments(proposal)
        print(
            f"| {dim} | {torch_s:.3f} | {ours_s:.3f} | {torch_s / ours_s:.1f} | "
            f"{gap(z_torch, *moments)} | {gap(z_ours, *moments)} |"
        )


if __name__ == "__main__":
    main()
