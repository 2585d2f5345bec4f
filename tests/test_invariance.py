"""The invariance-regularised CVAE (Moyer et al. 2018), checked against its equations."""

import math

import numpy as np
import pytest
import torch
from helpers import FAST, fast
from torch.distributions import Normal, kl_divergence

from optprior import CVAE, InvariantCVAE, PenalisedCVAEConfig
from optprior.nn.encoder import mean_pairwise_kl


def random_posteriors(batch: int, dim: int, spread: float, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    mu = spread * torch.randn(batch, dim, generator=generator, dtype=torch.float64)
    logvar = 0.5 * torch.randn(batch, dim, generator=generator, dtype=torch.float64)
    return mu, logvar


def test_mean_pairwise_kl_is_the_average_kl_over_all_pairs():
    mu, logvar = random_posteriors(7, 5, spread=1.0)
    q = Normal(mu, torch.exp(0.5 * logvar))
    pairs = [
        kl_divergence(
            Normal(q.loc[i], q.scale[i]),
            Normal(q.loc[j], q.scale[j]),
        ).sum()
        for i in range(7)
        for j in range(7)
    ]
    torch.testing.assert_close(mean_pairwise_kl(mu, logvar), torch.stack(pairs).mean())


def test_mean_pairwise_kl_keeps_float32_precision_under_a_shared_offset():
    mu, logvar = random_posteriors(100, 32, spread=1e-3, seed=3)
    logvar = logvar - 12.0  # narrow posteriors: terms of order 25 e^12 cancel to about 10
    exact = mean_pairwise_kl(mu, logvar)  # float64
    shifted = mean_pairwise_kl((mu + 5.0).float(), logvar.float())
    torch.testing.assert_close(shifted.double(), exact, rtol=1e-4, atol=0)


def test_mean_pairwise_kl_bounds_the_kl_to_the_batch_mixture():
    """By convexity, (1/B) sum_i KL(q_i || (1/B) sum_j q_j) <= (1/B^2) sum_ij KL(q_i || q_j);
    the left side is estimated by Monte Carlo (it has no closed form)."""
    batch, dim, draws = 6, 2, 200_000
    mu, logvar = random_posteriors(batch, dim, spread=0.7, seed=1)
    std = torch.exp(0.5 * logvar)
    generator = torch.Generator().manual_seed(2)
    z = mu + std * torch.randn(draws, batch, dim, generator=generator, dtype=torch.float64)
    # log q_i(z) for z ~ q_i, and log of the mixture at the same z: (draws, batch)
    components = Normal(mu, std)  # batch x dim
    log_own = components.log_prob(z).sum(-1)
    log_each = components.log_prob(z.unsqueeze(2)).sum(-1)  # (draws, batch_i, batch_j)
    log_mixture = torch.logsumexp(log_each, dim=-1) - math.log(batch)
    gaps = log_own - log_mixture
    estimate, error = gaps.mean(), gaps.mean(1).std() / math.sqrt(draws)
    bound = mean_pairwise_kl(mu, logvar)
    assert 0 < estimate < math.log(batch)  # a KL to a mixture that includes q_i
    assert estimate - 4 * error < bound
    assert bound - estimate > 0.05  # not equal: the components differ


def test_loss_is_the_cvae_loss_plus_lambda_times_the_information_bound(two_tasks):
    x, s = two_tasks
    weight, beta = 2.5, 0.3
    model = fast(InvariantCVAE, invariance_weight=weight)
    module = model._build(x.shape[1], 2)
    plan = model.make_plan(module)
    x_t, s_t = torch.from_numpy(x), torch.from_numpy(s)
    terms = module.objective_terms(x_t, s_t)
    expected = (
        beta * terms.kl - (1 + weight) * terms.reconstruction
    ).mean() + weight * mean_pairwise_kl(terms.mu, terms.logvar)
    losses = plan.loss(terms, s_t, beta)
    torch.testing.assert_close(losses["loss"], expected)
    assert set(losses) == {"loss", "penalty"}
    cvae = fast(CVAE)
    assert set(cvae.make_plan(module).loss(terms, s_t, beta)) == {"loss"}


def test_zero_weight_trains_exactly_the_cvae(two_tasks):
    x, s = two_tasks
    cvae = fast(CVAE).fit(x, s)
    invariant = fast(InvariantCVAE, invariance_weight=0.0).fit(x, s)
    np.testing.assert_array_equal(invariant.transform(x, s), cvae.transform(x, s))


@pytest.mark.slow
def test_larger_weight_fits_posteriors_closer_together(two_tasks):
    """A sanity check of the fitted behaviour (the loss itself is pinned by the test above):
    the penalised quantity, the posteriors' mean pairwise KL on the training data, falls
    as lambda grows (0.070, 0.019, 0.010 nats when written; small throughout, as these
    tiny models code little)."""
    x, s = two_tasks
    settings = {**FAST, "epochs": 30, "learning_rate": 3e-3, "warmup_epochs": 0}
    spread = []
    for weight in (0.0, 1.0, 10.0):
        model = InvariantCVAE(**settings, invariance_weight=weight).fit(x, s)
        with torch.no_grad():
            mu, logvar = model.module_.inference(torch.from_numpy(x), torch.from_numpy(s))
        spread.append(float(mean_pairwise_kl(mu, logvar)))
    assert spread[0] > 2 * spread[1] > 2 * spread[2] > 0


@pytest.mark.parametrize("weight", [-1.0, math.inf, math.nan, "1"])
def test_bad_invariance_weight_is_named(weight):
    with pytest.raises(ValueError, match="invariance_weight"):
        PenalisedCVAEConfig(invariance_weight=weight)
