"""Theorems 1 and 2 of the paper, checked numerically with exact mixtures for q(z); Theorem 2
on trained models, against the bound of the same encoder and decoder under N(0, I)."""

import copy
import math

import pytest
import torch

from optprior import OptimalPriorCVAE
from optprior.evaluation import (
    elbo,
    mixture_log_density,
    rate_decomposition,
    task_mutual_information,
)
from optprior.models import PostHocOptimalPriorCVAE
from optprior.nn.encoder import gaussian_log_prob
from optprior.priors import StandardNormalPrior


def random_posteriors(n_per_task=(6, 4, 8), dim=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    s = torch.cat([torch.full((n,), k) for k, n in enumerate(n_per_task)])
    mu = torch.randn(len(s), dim, generator=generator) + 0.8 * s[:, None].float()
    logvar = 0.5 * torch.randn(len(s), dim, generator=generator) - 1.0
    return mu, logvar, s


def test_mixture_density_matches_direct_sum():
    mu, logvar, _ = random_posteriors()
    z = torch.randn(7, 2)
    direct = torch.logsumexp(gaussian_log_prob(z[:, None], mu[None], logvar[None]), 1)
    expected = direct - math.log(len(mu))
    torch.testing.assert_close(mixture_log_density(z, mu, logvar, chunk=3), expected)


def test_theorem1_rate_decomposes():
    """R = I(S;Z) + KL(q(z) || p(z)) + sum_k pi_k I(X^k; Z^k), R in closed form."""
    mu, logvar, s = random_posteriors()
    terms = rate_decomposition(mu, logvar, s, n_samples=20000)
    total = terms["task_information"] + terms["aggregate_kl"] + terms["within_task_information"]
    assert abs(total - terms["rate"]) < 0.01 * terms["rate"]
    assert 0 < terms["task_information"] <= math.log(3)
    assert terms["aggregate_kl"] > 0
    # The CVAE's rate is a (loose) upper bound on I(S;Z).
    assert terms["rate"] > terms["task_information"]


def test_theorem1_terms_in_their_limits():
    """The sum of the terms is the rate whatever each term is: each is checked apart.
    Tasks 50 apart: I(S;Z) is the entropy of the task frequencies (6, 4, 8). One posterior
    for every point: q(z) is that posterior, so I(S;Z) and the within-task information are
    0 and KL(q(z) || N(0, I)) is the rate, in closed form."""
    mu, logvar, s = random_posteriors()
    apart = rate_decomposition(mu + 50.0 * s[:, None], logvar, s, n_samples=200)
    frequencies = torch.tensor([6.0, 4.0, 8.0]) / 18
    entropy = float(-(frequencies * frequencies.log()).sum())
    assert abs(apart["task_information"] - entropy) < 1e-4
    one = rate_decomposition(mu[:1].expand(18, -1), logvar[:1].expand(18, -1), s, n_samples=2000)
    assert abs(one["task_information"]) < 1e-5 and abs(one["within_task_information"]) < 1e-5
    assert abs(one["aggregate_kl"] - one["rate"]) < 0.03 * one["rate"]


def test_task_information_limits():
    mu, logvar, _ = random_posteriors((5, 5), seed=1)
    # Same posteriors in both tasks: z says nothing about s.
    same = task_mutual_information(
        torch.cat([mu[:5], mu[:5]]),
        torch.cat([logvar[:5], logvar[:5]]),
        torch.tensor([0] * 5 + [1] * 5),
        n_samples=2000,
    )
    assert abs(same) < 0.01
    # Tasks far apart: z reveals s, I(S;Z) = H(S) = ln 2.
    apart = task_mutual_information(
        torch.cat([mu[:5], mu[:5] + 50.0]),
        torch.cat([logvar[:5], logvar[:5]]),
        torch.tensor([0] * 5 + [1] * 5),
        n_samples=200,
    )
    assert abs(apart - math.log(2)) < 1e-3
    # Both tasks' means from one distribution, narrow posteriors that do not overlap:
    # each z names its point, so I(S;Z) of these points is near ln 2 all the same.
    g = torch.Generator().manual_seed(2)
    narrow = task_mutual_information(
        torch.randn(400, 40, generator=g),
        torch.full((400, 40), -2.0),
        torch.arange(400) % 2,
        n_samples=2,
    )
    assert narrow > 0.95 * math.log(2)


def bound_gain(model, x, s):
    """(F - F_CVAE, ln Z, KL(q(z) || N(0, I))) on the training data (nats per point): the
    model's mean ELBO minus that of its own encoder and decoder under N(0, I) on the same
    draws of z, the log normaliser of N e^T, and the aggregate KL from the exact mixture of
    the model's posteriors."""
    module = model.module_
    x_t, s_t = torch.from_numpy(x), torch.from_numpy(s)
    standard = copy.deepcopy(module)
    standard.prior = StandardNormalPrior(module.prior.latent_dim)
    torch.manual_seed(0)
    with_t = elbo(module, x_t, s_t, n_samples=100)
    torch.manual_seed(0)
    without_t = elbo(standard, x_t, s_t, n_samples=100)
    with torch.no_grad():
        mu, logvar = module.inference(x_t, s_t)
    aggregate_kl = rate_decomposition(mu, logvar, s_t, n_samples=100)["aggregate_kl"]
    return float((with_t - without_t).mean()), module.prior.log_normalizer(), aggregate_kl


def check_theorem2(gain, log_z, aggregate_kl):
    """Theorem 2: with T exact the bound rises by KL(q(z) || N(0, I)). With a learned T the
    normalised gain E_q[T] - ln E_N[e^T] is a Donsker-Varadhan lower bound on that KL, so
    it may not exceed it (beyond 0.02 nats of Monte Carlo error) and, with T trained, must
    come within 25% of it."""
    normalised = gain - log_z
    assert aggregate_kl > 0.2  # q(z) is far enough from N(0, I) for the check to bite
    assert normalised <= aggregate_kl + 0.02
    assert normalised >= 0.75 * aggregate_kl


@pytest.mark.slow
def test_theorem2_on_a_posthoc_prior(trained_prototype_cvae):
    """T fitted to a trained CVAE's encoder (same encoder and decoder as the CVAE)."""
    x, s, cvae = trained_prototype_cvae
    model = PostHocOptimalPriorCVAE.from_cvae(cvae, x, s, epochs=100, patience=10, progress=False)
    check_theorem2(*bound_gain(model, x, s))


@pytest.mark.slow
def test_theorem2_on_a_jointly_trained_prior(trained_prototype_cvae):
    """The paper's method, its bound against the CVAE bound of its own encoder and decoder."""
    x, s, _ = trained_prototype_cvae
    model = OptimalPriorCVAE(
        latent_dim=3,
        hidden_sizes=(32,),
        discriminator_hidden_sizes=(64, 64),
        epochs=30,
        learning_rate=3e-3,
        warmup_epochs=0,
        discriminator_epochs=5,
        discriminator_fraction=1.0,
        progress=False,
    ).fit(x, s)
    check_theorem2(*bound_gain(model, x, s))
