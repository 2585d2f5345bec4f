"""How well ln Z of a finished optimal-prior run can be estimated: importance sampling
of Z = E_N(0,I)[e^T] with several proposals fitted to the training codes, and annealed
importance sampling from the first of them.

Run: ``python benchmarks/normalizer_proposals.py RUN_FOLDER [--data-root ../shared/data]
[--components 1 3 10 30] [--seeds 0 1 2] [--draws 100000] [--temperatures 250 1000]``,
RUN_FOLDER holding a finished
run's ``result.json`` and ``model.pt``. Each proposal is N(0, I) with weight 0.1 and, with
the rest, a Gaussian mixture of K full-covariance components fitted (scikit-learn,
``reg_covar`` 1e-4) to one code drawn from each training posterior, the sample T was
fitted to; K = 1 is the proposal the runs are scored with (``code_proposal``: the codes'
mean and covariance). Per K and
sampling seed the table gives ln Z and the effective number of draws (Kish). Where a few
draws carry every estimate, ln Z moves by nats from seed to seed and no row is to be
trusted: the likelihoods that divide by Z are then unknown to that extent. The annealed
rows (``OptimalPrior.normalizer_annealed``, 500 chains started from the K = 1 proposal,
the scoring's estimator at its ``normalizer_temperatures``) give ln Z and the effective
number of chains; ln of their unbiased Z is low in expectation and rises towards ln Z as
temperatures are added, so rows that agree across temperatures and seeds are trustworthy.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from sklearn.mixture import GaussianMixture
from torch.distributions import MixtureSameFamily

from optprior.experiments.evaluate import training_posteriors
from optprior.experiments.records import RESULT_FILE, read_result_file
from optprior.experiments.runner import run_of
from optprior.models.base import BaseModel
from optprior.priors import OptimalPrior
from optprior.priors.optimal import (
    ANNEALING_CHAINS,
    code_proposal,
    posterior_codes,
    with_normal_share,
)


def fitted_proposal(codes: torch.Tensor, components: int) -> MixtureSameFamily:
    """0.1 N(0, I) + the rest a ``components``-Gaussian mixture fitted to ``codes`` (M, D);
    one component is ``code_proposal``."""
    if components == 1:
        return code_proposal(codes)
    fit = GaussianMixture(components, covariance_type="full", reg_covar=1e-4, random_state=0)
    fit.fit(codes.numpy())
    scales = torch.linalg.cholesky(torch.from_numpy(fit.covariances_))
    return with_normal_share(torch.from_numpy(fit.means_), scales, torch.from_numpy(fit.weights_))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run", type=Path, help="a finished optimal-prior run folder")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--components", type=int, nargs="+", default=[1, 3, 10, 30])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--draws", type=int, default=100_000)
    parser.add_argument("--temperatures", type=int, nargs="*", default=[250, 1000])
    args = parser.parse_args()
    result = read_result_file(args.run / RESULT_FILE)
    model = BaseModel.load(args.run / "model.pt", device="cpu")
    prior = model.fitted_module().prior
    if not isinstance(prior, OptimalPrior):
        raise SystemExit(f"{args.run} holds a {type(prior).__name__}, which has no T")
    data = run_of(result, args.run, args.data_root).load_data()
    mu, logvar, log_weights = training_posteriors(model, data)
    codes = posterior_codes(mu, logvar, log_weights, seed=0).to(torch.float64)
    print(f"{result.run}: {codes.shape[0]} training codes in {codes.shape[1]} dimensions")
    print(f"ln Z recorded by the run: {result.metrics.get('prior_log_normalizer')}")
    print()
    print(
        "| estimator | "
        + " | ".join(f"seed {s}: ln Z (effective draws or chains)" for s in args.seeds)
        + " |"
    )
    print("|---|" + "---|" * len(args.seeds))
    for components in args.components:
        proposal = fitted_proposal(codes, components)
        cells = [prior.normalizer_with(proposal, args.draws, seed) for seed in args.seeds]
        row = f"importance, K = {components}"
        print(f"| {row} | " + " | ".join(f"{z:.2f} ({n:.0f})" for z, n in cells) + " |", flush=True)
    for temperatures in args.temperatures:
        cells = [
            prior.normalizer_annealed(ANNEALING_CHAINS, temperatures, seed, codes)
            for seed in args.seeds
        ]
        row = f"annealed, {temperatures} temperatures"
        print(f"| {row} | " + " | ".join(f"{z:.2f} ({n:.0f})" for z, n in cells) + " |", flush=True)


if __name__ == "__main__":
    main()
