"""The density-ratio discriminator recovers ln q(z)/N(z; 0, I) for a known Gaussian q."""

import math

import numpy as np
import pytest
import torch

from optprior.nn.encoder import gaussian_log_prob, standard_normal_log_prob
from optprior.priors import OptimalPrior
from optprior.training.batches import task_weights

MEAN = torch.tensor([1.0, -0.5])
LOGVAR = torch.log(torch.tensor([0.5, 1.8]) ** 2)


def closed_form_kl() -> float:
    var = torch.exp(LOGVAR)
    return float(0.5 * (var + MEAN**2 - 1.0 - LOGVAR).sum())


def draw(n: int) -> torch.Tensor:
    return MEAN + torch.exp(0.5 * LOGVAR) * torch.randn(n, 2)


@pytest.mark.slow
def test_discriminator_recovers_kl_and_log_ratio():
    torch.manual_seed(0)
    prior = OptimalPrior(2, hidden_sizes=(64, 64), activation="tanh", dropout=0.0)
    optimizer = torch.optim.Adam(prior.parameters(), lr=3e-3)
    for _ in range(2500):
        loss = prior.discriminator_loss(draw(512))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    prior.eval()
    with torch.no_grad():
        z = draw(20000)
        estimated = prior.log_ratio(z)
        true = gaussian_log_prob(z, MEAN, LOGVAR) - standard_normal_log_prob(z)
    kl = closed_form_kl()
    assert abs(float(estimated.mean()) - kl) < 0.1 * kl
    assert np.corrcoef(estimated.numpy(), true.numpy())[0, 1] > 0.95
    assert float((estimated - true).abs().median()) < 0.15


def test_untrained_prior_is_standard_normal():
    """T starts at zero, so the optimal-prior model starts as a CVAE."""
    prior = OptimalPrior(3, hidden_sizes=(16,))
    z = torch.randn(10, 3)
    torch.testing.assert_close(prior.log_prob(z), standard_normal_log_prob(z))


def test_prior_sampling_follows_exp_t():
    """SIR draws from N(0, I) exp(T): with T = ln q/N they follow q."""
    torch.manual_seed(0)
    prior = OptimalPrior(2, hidden_sizes=(), dropout=0.0, sir_pool=256)
    # With no hidden layer T is affine; T(z) = a.z gives the tilted density N(a, I).
    with torch.no_grad():
        prior.discriminator.input.linear.weight.copy_(torch.tensor([[1.0, -0.5]]))
    z = prior.sample(20000)
    np.testing.assert_allclose(z.mean(0).numpy(), [1.0, -0.5], atol=0.05)
    np.testing.assert_allclose(z.std(0).numpy(), [1.0, 1.0], atol=0.05)


def test_log_normalizer_matches_closed_form():
    """With T(z) = a.z, Z = E_N[exp(a.z)] = exp(|a|^2 / 2), by either proposal."""
    prior = OptimalPrior(2, hidden_sizes=(), dropout=0.0)
    a = torch.tensor([[0.6, -0.3]])
    with torch.no_grad():
        prior.discriminator.input.linear.weight.copy_(a)
    codes = a + torch.randn(500, 2, generator=torch.Generator().manual_seed(1))  # N(a, I)
    for given in (None, codes):
        assert abs(prior.log_normalizer(200_000, codes=given) - float((a**2).sum() / 2)) < 0.01
    assert abs(prior.normalizer_annealed(200, 100).log_z - float((a**2).sum() / 2)) < 0.02


def test_log_normalizer_from_codes_is_exact_where_normal_draws_fail(monkeypatch):
    """T the exact ln q/N of q = N(m, 0.3^2 I) in 40 dimensions, so Z = 1: the proposal
    fitted to codes from q finds ln Z = 0 with most of its draws counting, while N(0, I)
    draws, which almost never land where q is, are off by nats with a handful counting."""
    dim, sd = 40, 0.3
    mean = torch.full((dim,), 0.5)
    logvar = torch.full((dim,), 2 * math.log(sd))
    prior = OptimalPrior(dim, hidden_sizes=(4,), dropout=0.0)
    monkeypatch.setattr(
        prior,
        "log_ratio",
        lambda z: gaussian_log_prob(z, mean, logvar) - standard_normal_log_prob(z),
    )
    codes = mean + sd * torch.randn(2000, dim, generator=torch.Generator().manual_seed(0))
    fitted = prior.normalizer_estimate(50_000, seed=3, codes=codes)
    assert abs(fitted.log_z) < 0.02 and fitted.effective_samples > 20_000
    normal = prior.normalizer_estimate(50_000, seed=3)
    assert abs(normal.log_z) > 1 and normal.effective_samples < 50
    with pytest.raises(ValueError, match=r"codes must be \(M >= 2, 40\), got \(1, 40\)"):
        prior.normalizer_estimate(10, codes=codes[:1])
    # annealing from N(0, I) needs no codes: 200 chains find ln Z = 0 as well, given
    # enough temperatures (1000 here; at 300 the estimate is off by up to a nat)
    annealed = prior.normalizer_annealed(200, 1000, seed=3)
    assert abs(annealed.log_z) < 0.15 and annealed.effective_samples > 30


def test_optimal_prior_kl_has_the_one_sample_expectation():
    """Closed-form KL(q || N) - T(z) and ln q - ln N - T agree in expectation."""
    torch.manual_seed(0)
    prior = OptimalPrior(2, hidden_sizes=(8,), dropout=0.0)
    torch.nn.init.normal_(prior.discriminator.body[-1].weight)
    mu, logvar = torch.tensor([[0.5, -1.0]]), torch.tensor([[-0.5, 0.3]])
    z = mu + torch.exp(0.5 * logvar) * torch.randn(200_000, 1, 2)
    with torch.no_grad():
        low_variance = prior.kl(z, mu, logvar)
        generic = super(OptimalPrior, prior).kl(z, mu, logvar)  # Prior's one-sample estimate
    torch.testing.assert_close(low_variance, generic, atol=0.02, rtol=0)


@pytest.mark.slow
def test_weight_decay_keeps_the_discriminator_small(two_tasks):
    """The trainer hands ``discriminator_weight_decay`` to T's optimiser: with a strong
    penalty T's values stay smaller than without one."""
    from helpers import FAST, FAST_T

    from optprior import OptimalPriorCVAE

    x, s = two_tasks
    size = {}
    for decay in (0.0, 1.0):
        model = OptimalPriorCVAE(
            **{**FAST, **FAST_T, "epochs": 20},
            discriminator_learning_rate=1e-2,
            discriminator_weight_decay=decay,
            seed=0,
        ).fit(x, s)
        with torch.no_grad():
            z = torch.from_numpy(model.transform(x, s))
            size[decay] = float(model.module_.prior.log_ratio(z).abs().mean())
    assert size[1.0] < 0.5 * size[0.0]


def test_subnormal_weights_are_flushed_to_zero():
    """Weight decay can leave subnormal weights, which make CPU arithmetic crawl."""
    from optprior.training.trainer import flush_subnormals_

    prior = OptimalPrior(3, hidden_sizes=(4,))
    weight = prior.discriminator.input.linear.weight
    with torch.no_grad():
        weight[0, 0], weight[0, 1], weight[0, 2] = 1e-40, -1e-39, 1e-30
    normal = weight[1:].clone()
    flush_subnormals_(prior)
    assert weight[0, 0] == 0 and weight[0, 1] == 0 and weight[0, 2] == 1e-30
    assert torch.equal(weight[1:], normal)


def test_loading_a_model_flushes_subnormal_weights(two_tasks, tmp_path):
    """Model files written before the trainer flushed subnormals are cleaned on reading."""

    from helpers import fast

    from optprior import OptimalPriorCVAE, load_model

    model = fast(OptimalPriorCVAE).fit(*two_tasks)
    with torch.no_grad():
        model.module_.prior.discriminator.input.linear.weight[0, 0] = 1e-40
    model.save(tmp_path / "model.pt")
    loaded = load_model(tmp_path / "model.pt")
    assert loaded.module_.prior.discriminator.input.linear.weight[0, 0] == 0


@pytest.mark.slow
def test_task_weights_make_t_estimate_the_balanced_mixture():
    """Weighted logistic regression on 90% / 10% task draws recovers the ratio of the
    tasks' equal-weight mixture, not of the data's 90/10 mixture."""
    torch.manual_seed(0)
    means = torch.tensor([[1.5, 0.0], [-1.5, 0.0]])
    logvar = torch.log(torch.tensor([0.6, 0.6]) ** 2)

    def draw_tasks(n: int, share_of_second: float) -> tuple[torch.Tensor, torch.Tensor]:
        s = (torch.rand(n) < share_of_second).long()
        return means[s] + torch.exp(0.5 * logvar) * torch.randn(n, 2), s

    def log_ratio(z: torch.Tensor, share_of_second: float) -> torch.Tensor:
        components = torch.stack([gaussian_log_prob(z, m, logvar) for m in means])
        shares = torch.tensor([1 - share_of_second, share_of_second])[:, None]
        return torch.logsumexp(components + shares.log(), 0) - standard_normal_log_prob(z)

    prior = OptimalPrior(2, hidden_sizes=(64, 64), activation="tanh", dropout=0.0)
    optimizer = torch.optim.Adam(prior.parameters(), lr=3e-3)
    _, s_all = draw_tasks(100_000, 0.1)
    weights = task_weights(s_all, "balanced")
    np.testing.assert_allclose(weights.numpy(), [0.5 / 0.9, 0.5 / 0.1], rtol=0.05)
    for _ in range(2500):
        z, s = draw_tasks(512, 0.1)
        loss = prior.discriminator_loss(z, weights=weights[s])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    prior.eval()
    with torch.no_grad():
        z, _ = draw_tasks(20_000, 0.5)
        estimated = prior.log_ratio(z)
    balanced_error = float((estimated - log_ratio(z, 0.5)).abs().median())
    data_error = float((estimated - log_ratio(z, 0.1)).abs().median())
    assert balanced_error < 0.15
    assert data_error > 3 * balanced_error
    assert task_weights(s_all, "data") is None
