"""Theorems 1 and 2 of the paper, checked numerically with exact mixtures for q(z)."""

import math

import torch

from optprior.evaluation import mixture_log_density, rate_decomposition, task_mutual_information
from optprior.nn.encoder import gaussian_log_prob


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


def test_theorem2_optimal_prior_bound_is_tighter(trained_prototype_cvae):
    """F_proposed = F_CVAE + KL(q(z) || p(z)) >= F_CVAE on a trained CVAE."""
    x, s, model = trained_prototype_cvae
    module = model.module_
    x_t, s_t = torch.from_numpy(x), torch.from_numpy(s)
    torch.manual_seed(0)
    with torch.no_grad():
        mu, logvar = module.inference(x_t, s_t)
        z = module.encoder.rsample(mu, logvar, 200)  # (200, N, D)
        reconstruction = module.decoder.log_prob(x_t, z, s_t).mean()
        f_cvae = reconstruction - module.prior.kl(z, mu, logvar).mean()
        log_q_point = gaussian_log_prob(z, mu, logvar)
        log_q_aggregate = mixture_log_density(z.reshape(-1, 3), mu, logvar).reshape(z.shape[:2])
        f_proposed = reconstruction - (log_q_point - log_q_aggregate).mean()
    gap = float(f_proposed - f_cvae)
    assert gap > 0
    aggregate_kl = rate_decomposition(mu, logvar, s_t, n_samples=200)["aggregate_kl"]
    assert abs(gap - aggregate_kl) < 0.05 * aggregate_kl + 0.05
