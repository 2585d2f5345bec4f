"""priors.normalizer: ln Z of N(z; 0, I) e^f(z) by annealed importance sampling, against
closed forms, from N(0, I) and from other bases."""

import importlib.util
import math

import pytest
import torch
from helpers import REPO
from torch.distributions import (
    Categorical,
    Independent,
    MixtureSameFamily,
    MultivariateNormal,
    Normal,
)

from optprior.nn.encoder import standard_normal_log_prob
from optprior.priors.normalizer import annealed_log_normalizer, sigmoid_schedule

DIM = 5


def normal(dim, mean=0.0, sd=1.0):
    """N(mean, sd^2 I) on (dim,) vectors, float64."""
    return Independent(Normal(torch.full((dim,), mean, dtype=torch.float64), sd), 1)


def annealed(f, dim, *args, base=None, **kwargs):
    """ln Z of N(z; 0, I) e^f(z), annealed from ``base`` (default N(0, I))."""
    target = lambda z: standard_normal_log_prob(z) + f(z)  # noqa: E731
    return annealed_log_normalizer(target, base or normal(dim), *args, **kwargs)


def affine(z):
    """f(z) = a.z + b: Z = e^(b + |a|^2 / 2), here ln Z = 0.5 + 8 (|a| = 4)."""
    a = torch.zeros(DIM, dtype=z.dtype)
    a[0], a[1] = 4.0 * 0.6, 4.0 * 0.8
    return z @ a + 0.5


def narrowing(z):
    """f(z) = -3 |z|^2 / 2: the target N(0, I/4), Z = 4^(-D/2)."""
    return -1.5 * z.pow(2).sum(-1)


CENTRES = torch.tensor(
    [[1.5, 0.0, 0.0], [-1.0, 1.0, 0.5], [0.0, -1.5, 1.0], [0.5, 0.5, -1.5]], dtype=torch.float64
)


def comb(z):
    """ln q(z) - ln N(z; 0, I) for q an equal mixture of 4 narrow Gaussians (sd 0.2) in 3
    dimensions: q is normalised, so Z = 1; e^f peaks 11 nats above N(0, I) at the
    spikes and is far below it between them (the shape of an exact optimal prior)."""
    sd = 0.2
    squared = (z[:, None] - CENTRES).pow(2).sum(-1) / sd**2
    log_q = torch.logsumexp(-0.5 * squared, 1) - math.log(4) - 3 * math.log(sd)
    return log_q + 0.5 * z.pow(2).sum(-1)


@pytest.mark.parametrize(
    ("f", "dim", "log_z"),
    [(affine, DIM, 8.5), (narrowing, DIM, -0.5 * DIM * math.log(4)), (comb, 3, 0.0)],
    ids=["shifted", "narrower", "comb"],
)
def test_annealing_recovers_closed_form_normalisers(f, dim, log_z):
    estimate = annealed(f, dim, n_chains=200, n_temperatures=200, seed=0)
    assert estimate.log_z == pytest.approx(log_z, abs=0.1)
    assert estimate.effective_samples > 50


def test_more_temperatures_raise_the_expected_log_estimate_towards_ln_z():
    # ln of an unbiased estimate of Z is low in expectation (Jensen); with two
    # temperatures the estimate is nearly importance sampling from N(0, I), far below
    # ln Z = 8.5 here, and the mean over seeds rises towards it as temperatures are added.
    means = [
        sum(annealed(affine, DIM, 50, n, seed=k).log_z for k in range(5)) / 5 for n in (2, 20, 200)
    ]
    assert means[0] < means[1] < means[2] <= 8.5 + 0.1
    assert means[0] < 8.5 - 1.0


def test_a_seed_gives_the_same_estimate_and_leaves_the_callers_stream_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = annealed(affine, DIM, 20, 10, seed=7)
    assert torch.rand(1) == expected_next
    assert annealed(affine, DIM, 20, 10, seed=7) == first
    assert annealed(affine, DIM, 20, 10, seed=8) != first


def test_the_schedule_runs_from_zero_to_one_and_bad_sizes_are_refused():
    betas = sigmoid_schedule(10)
    assert betas.shape == (11,) and betas[0] == 0 and betas[-1] == 1
    assert bool((betas.diff() > 0).all())
    with pytest.raises(ValueError, match="n_temperatures must be >= 1"):
        annealed(affine, DIM, 10, 0)
    with pytest.raises(ValueError, match="n_chains must be >= 1"):
        annealed(affine, DIM, 0, 10)


def test_a_base_near_the_target_needs_fewer_temperatures():
    # The target N(0, I) e^(a.z + b) is N(a, I) times e^(b + |a|^2 / 2): from the base
    # N(a, 1.2^2 I), 10 temperatures find ln Z = 8.5 with most chains counting; from
    # N(0, I) a few dozen of the 200 carry the estimate.
    a = torch.zeros(DIM, dtype=torch.float64)
    a[0], a[1] = 2.4, 3.2
    near = Independent(Normal(a, 1.2), 1)
    from_near = annealed(affine, DIM, 200, 10, base=near)
    assert from_near.log_z == pytest.approx(8.5, abs=0.05)
    assert from_near.effective_samples > 150
    assert annealed(affine, DIM, 200, 10).effective_samples < 50


def test_the_proposal_is_drawn_component_by_component_with_its_own_moments():
    """``draw`` of a defensive Gaussian mixture (N(0, I) share and two full-covariance
    components whose Cholesky factors are not symmetric) matches the mixture's mean and
    covariance in closed form; other distributions are drawn by their own ``sample``."""
    from optprior.priors.optimal import draw, with_normal_share

    torch.manual_seed(0)
    locations = torch.tensor([[2.0, -1.0, 0.5], [-3.0, 0.0, 1.0]], dtype=torch.float64)
    trils = torch.tensor(
        [
            [[1.0, 0, 0], [0.9, 0.5, 0], [-0.7, 0.4, 0.3]],
            [[0.4, 0, 0], [-1.2, 1.0, 0], [0, 0.8, 2.0]],
        ],
        dtype=torch.float64,
    )
    proposal = with_normal_share(locations, trils, torch.tensor([1.0, 3.0]))
    z = draw(proposal, 200_000)
    spec = importlib.util.spec_from_file_location(
        "proposal_draws", REPO / "benchmarks/proposal_draws.py"
    )
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    mean, covariance = benchmark.exact_moments(proposal)
    assert z.shape == (200_000, 3) and z.dtype == torch.float64
    torch.testing.assert_close(z.mean(0), mean, atol=0.03, rtol=0)
    torch.testing.assert_close(torch.cov(z.T), covariance, atol=0.05, rtol=0)
    assert draw(normal(3), 4).shape == (4, 3)
    batched = MixtureSameFamily(  # a batch of mixtures: drawn by torch's own sample
        Categorical(torch.ones(2, 2)),
        MultivariateNormal(torch.zeros(2, 2, 3), scale_tril=torch.eye(3).expand(2, 2, 3, 3)),
    )
    assert draw(batched, 4).shape == (4, 2, 3)
