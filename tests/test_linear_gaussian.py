"""Importance sampling and the ELBO against the exact marginal likelihood of a
linear-Gaussian model p(z) = N(0, I), p(x | z) = N(W z + b, sigma^2 I)."""

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from optprior.evaluation import elbo, log_marginal_likelihood
from optprior.module import VAEModule
from optprior.nn import GaussianDecoder, GaussianEncoder
from optprior.priors import StandardNormalPrior

X_DIM, Z_DIM, SIGMA2 = 6, 3, 0.4


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(X_DIM, X_DIM)))
    w = q[:, :Z_DIM] * np.array([2.0, 1.0, 0.5])  # orthogonal columns: diagonal posterior
    b = rng.normal(size=X_DIM)
    z = rng.normal(size=(200, Z_DIM))
    x = z @ w.T + b + np.sqrt(SIGMA2) * rng.normal(size=(200, X_DIM))
    exact = multivariate_normal(b, w @ w.T + SIGMA2 * np.eye(X_DIM)).logpdf(x)
    return w, b, x, exact


def linear_gaussian_module(w, b, mean_shift=0.0, logvar_shift=0.0) -> VAEModule:
    """The model with its exact posterior (optionally perturbed) as the encoder."""
    encoder = GaussianEncoder(X_DIM, Z_DIM, hidden_sizes=(), activation="tanh")
    decoder = GaussianDecoder(X_DIM, Z_DIM, hidden_sizes=(), activation="tanh")
    post_var = 1.0 / (1.0 + (w**2).sum(0) / SIGMA2)  # (Z,)
    gain = post_var[:, None] * w.T / SIGMA2  # posterior mean = gain (x - b)
    with torch.no_grad():
        layer = encoder.net.input.linear
        layer.weight.zero_()
        layer.weight[:Z_DIM] = torch.tensor(gain, dtype=torch.float32)
        layer.bias[:Z_DIM] = torch.tensor(-gain @ b + mean_shift, dtype=torch.float32)
        layer.bias[Z_DIM:] = torch.tensor(np.log(post_var) + logvar_shift, dtype=torch.float32)
        decoder.net.input.linear.weight.copy_(torch.tensor(w, dtype=torch.float32))
        decoder.net.input.linear.bias.copy_(torch.tensor(b, dtype=torch.float32))
    decoder.set_log_variance(np.log(SIGMA2))
    return VAEModule(encoder, decoder, StandardNormalPrior(Z_DIM), conditional=False)


def as_tensors(x):
    return torch.tensor(x, dtype=torch.float32), torch.zeros(len(x), dtype=torch.long)


@pytest.mark.parametrize("n_samples", [1, 7, pytest.param(1000, marks=pytest.mark.slow)])
def test_exact_posterior_gives_exact_likelihood(problem, n_samples):
    w, b, x, exact = problem
    module = linear_gaussian_module(w, b)
    # A tiny chunk budget forces many point and sample chunks through the accumulator.
    estimate = log_marginal_likelihood(module, *as_tensors(x), n_samples, max_elements=5 * X_DIM)
    np.testing.assert_allclose(estimate.numpy(), exact, atol=1e-4, rtol=0)


def test_more_samples_tighten_the_bound_of_a_perturbed_proposal(problem):
    """With a proposal off the posterior the importance-weighted estimate lies below
    ln p(x) on average and closes in on it as the samples grow: log-mean-exp of the
    weights. Their mean (the ELBO) or the first alone would not close in; their maximum
    would overshoot ln p(x) (the exact posterior, above, cannot tell these apart)."""
    w, b, x, exact = problem
    module = linear_gaussian_module(w, b, mean_shift=0.4, logvar_shift=0.5)
    x_t, s_t = as_tensors(x)
    gaps = [
        float(
            (torch.as_tensor(exact) - log_marginal_likelihood(module, x_t, s_t, n, seed=0)).mean()
        )
        for n in (1, 10, 100)
    ]
    assert gaps[0] > 0.8
    assert 0.05 < gaps[1] < gaps[0] / 3
    assert -0.02 < gaps[2] < gaps[1] / 3


def test_seeded_estimates_do_not_depend_on_the_memory_budget(problem):
    """``max_elements`` sets how many draws are scored together, not which: seeded
    estimates agree to rounding across budgets (a proposal off the posterior, so that
    other draws would give other estimates)."""
    w, b, x, _ = problem
    module = linear_gaussian_module(w, b, mean_shift=0.4, logvar_shift=0.5)
    x_t, s_t = as_tensors(x[:20])
    whole = log_marginal_likelihood(module, x_t, s_t, 300, seed=0)
    for budget in (5 * X_DIM, 200 * X_DIM):  # 5 and 128 draws a chunk
        chunked = log_marginal_likelihood(module, x_t, s_t, 300, max_elements=budget, seed=0)
        np.testing.assert_allclose(chunked.numpy(), whole.numpy(), atol=1e-5, rtol=0)


@pytest.mark.slow
def test_perturbed_proposal_converges_from_below(problem):
    w, b, x, exact = problem
    torch.manual_seed(0)
    module = linear_gaussian_module(w, b, mean_shift=0.4, logvar_shift=0.5)
    x_t, s_t = as_tensors(x)
    gaps = {}
    for n in (1, 10, 100, 5000):
        gaps[n] = float(
            (torch.as_tensor(exact) - log_marginal_likelihood(module, x_t, s_t, n)).mean()
        )
    # Jensen: the expected estimate never exceeds ln p(x) and rises with the sample count.
    assert gaps[1] > gaps[10] > gaps[100] > gaps[5000]
    assert gaps[1] > 0.05  # the perturbation really matters ...
    assert abs(gaps[5000]) < 0.01  # ... and vanishes with enough samples
    bound = elbo(module, x_t, s_t, n_samples=2000).numpy()
    assert np.all(bound < exact)
    assert bound.mean() < exact.mean() - 0.05


@pytest.mark.slow
def test_exact_posterior_elbo_equals_likelihood(problem):
    """With q the exact posterior, E[ln p(x|z)] - KL(q || p) = ln p(x) (up to Monte Carlo)."""
    w, b, x, exact = problem
    torch.manual_seed(1)
    module = linear_gaussian_module(w, b)
    bound = elbo(module, *as_tensors(x), n_samples=4000).numpy()
    np.testing.assert_allclose(bound, exact, atol=0.1)
    assert abs(bound.mean() - exact.mean()) < 0.01
