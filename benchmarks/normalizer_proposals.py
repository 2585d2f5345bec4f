"""How well ln Z of a finished optimal-prior run can be estimated: importance sampling
of Z = E_N(0,I)[e^T] with several proposals fitted to the training codes.

Run: ``python benchmarks/normalizer_proposals.py RUN_FOLDER [--data-root ../shared/data]
[--components 1 3 10 30] [--seeds 0 1 2] [--draws 100000]``, RUN_FOLDER holding a finished
run's ``result.json`` and ``model.pt``. Each proposal is N(0, I) with weight 0.1 and, with
the rest, a Gaussian mixture of K full-covariance components fitted (scikit-learn,
``reg_covar`` 1e-4) to one code drawn from each training posterior, the sample T was
fitted to; K = 1 is the proposal the runs are scored with (``code_proposal``: the codes'
mean and covariance). Per K and
sampling seed the table gives ln Z and the effective number of draws (Kish). Where a few
draws carry every estimate, ln Z moves by nats from seed to seed and no row is to be
trusted: the likelihoods that divide by Z are then unknown to that extent.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
from sklearn.mixture import GaussianMixture
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal

from optprior.experiments.evaluate import training_posteriors
from optprior.experiments.records import RESULT_FILE, read_result_file
from optprior.experiments.runner import run_of
from optprior.models.base import BaseModel
from optprior.nn.encoder import standard_normal_log_prob
from optprior.priors import OptimalPrior
from optprior.priors.mixture import mixture_draws
from optprior.priors.optimal import NORMAL_SHARE, code_proposal

CHUNK = 10_000


def fitted_proposal(codes: torch.Tensor, components: int) -> MixtureSameFamily:
    """NORMAL_SHARE N(0, I) + the rest a ``components``-Gaussian mixture fitted to
    ``codes`` (M, D), float64; for more than one component (one is ``code_proposal``)."""
    fit = GaussianMixture(components, covariance_type="full", reg_covar=1e-4, random_state=0)
    fit.fit(codes.numpy())
    dim = codes.shape[1]
    eye = torch.eye(dim, dtype=torch.float64)
    locations = torch.cat([torch.zeros(1, dim, dtype=torch.float64), torch.from_numpy(fit.means_)])
    scales = torch.cat([eye[None], torch.linalg.cholesky(torch.from_numpy(fit.covariances_))])
    shares = torch.cat(
        [torch.tensor([NORMAL_SHARE]), (1 - NORMAL_SHARE) * torch.from_numpy(fit.weights_)]
    )
    return MixtureSameFamily(
        Categorical(probs=shares.to(torch.float64)),
        MultivariateNormal(locations, scale_tril=scales),
    )


@torch.no_grad()
def estimate(
    prior: OptimalPrior, proposal: MixtureSameFamily, draws: int, seed: int
) -> tuple[float, float]:
    """ln Z and the effective number of ``draws`` from ``proposal``."""
    torch.manual_seed(seed)
    parts = []
    for start in range(0, draws, CHUNK):
        z = proposal.sample((min(CHUNK, draws - start),))
        t = prior.log_ratio(z.to(torch.float32)).to(torch.float64)
        parts.append(standard_normal_log_prob(z) + t - proposal.log_prob(z))
    log_weights = torch.cat(parts)
    log_sum = torch.logsumexp(log_weights, 0)
    effective = torch.exp(2 * log_sum - torch.logsumexp(2 * log_weights, 0))
    return float(log_sum - math.log(draws)), float(effective)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run", type=Path, help="a finished optimal-prior run folder")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--components", type=int, nargs="+", default=[1, 3, 10, 30])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--draws", type=int, default=100_000)
    args = parser.parse_args()
    result = read_result_file(args.run / RESULT_FILE)
    model = BaseModel.load(args.run / "model.pt", device="cpu")
    prior = model.fitted_module().prior
    if not isinstance(prior, OptimalPrior):
        raise SystemExit(f"{args.run} holds a {type(prior).__name__}, which has no T")
    prior.eval()
    data = run_of(result, args.run, args.data_root).load_data()
    mu, logvar, log_weights = training_posteriors(model, data)
    generator = torch.Generator().manual_seed(0)
    codes, _ = mixture_draws(mu, logvar, log_weights, mu.shape[0], generator)
    codes = codes.to(torch.float64)
    print(f"{result.run}: {codes.shape[0]} training codes in {codes.shape[1]} dimensions")
    print(f"ln Z recorded by the run: {result.metrics.get('prior_log_normalizer')}")
    print()
    print(
        "| mixture components | "
        + " | ".join(f"seed {s}: ln Z (effective draws)" for s in args.seeds)
        + " |"
    )
    print("|---|" + "---|" * len(args.seeds))
    for components in args.components:
        proposal = code_proposal(codes) if components == 1 else fitted_proposal(codes, components)
        cells = [estimate(prior, proposal, args.draws, seed) for seed in args.seeds]
        print(f"| {components} | " + " | ".join(f"{z:.2f} ({n:.0f})" for z, n in cells) + " |")


if __name__ == "__main__":
    main()
