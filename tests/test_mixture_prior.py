"""The exact optimal prior: the mixture of the training posteriors, its chunked density,
its leave-one-out training estimate, and what a fitted model stores."""

import math
import warnings

import numpy as np
import pytest
import torch
from helpers import FAST

from optprior import BaseModel, MixturePriorCVAE, OptimalPriorCVAE, PostHocOptimalPriorCVAE
from optprior.evaluation import elbo, rate_decomposition
from optprior.models import METHODS, ModelFileError
from optprior.models.base import UnknownSettingError
from optprior.nn.encoder import gaussian_log_prob, standard_normal_log_prob
from optprior.priors import MixturePrior, StandardNormalPrior
from optprior.priors.mixture import MAX_ELEMENTS, chunk_sizes, gaussian_mixture_log_density
from optprior.training.batches import component_log_weights
from optprior.training.mixture import LeaveOneOutMixture


def components(n, dim=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(n, dim, generator=g, dtype=torch.float64)
    logvar = 0.5 * torch.randn(n, dim, generator=g, dtype=torch.float64) - 0.5
    log_w = torch.log_softmax(torch.randn(n, generator=g, dtype=torch.float64), 0)
    return mu, logvar, log_w


def direct(z, mu, logvar, log_w):
    """The mixture density term by term, in float64."""
    return torch.logsumexp(gaussian_log_prob(z[:, None], mu[None], logvar[None]) + log_w, 1)


def test_chunked_density_equals_the_direct_sum():
    mu, logvar, log_w = components(37)
    z = torch.randn(11, 3, dtype=torch.float64)
    expected = direct(z, mu, logvar, log_w)
    for budget in (1, 5, 40, 10_000):  # chunks of points and of components, or none
        got = gaussian_mixture_log_density(z, mu, logvar, log_w, max_elements=budget)
        torch.testing.assert_close(got, expected)
    uniform = gaussian_mixture_log_density(z, mu, logvar)
    torch.testing.assert_close(uniform, direct(z, mu, logvar, torch.full((37,), -math.log(37))))


@pytest.mark.slow
def test_memory_stays_bounded_for_60000_components():
    for n in (60_000, 10_000_000):  # beyond the budget, the components are chunked too
        points, parts = chunk_sizes(1000, n, MAX_ELEMENTS)
        assert points * parts <= MAX_ELEMENTS and points >= 1
    mu, logvar, log_w = (t.float() for t in components(60_000, dim=40))
    z = torch.randn(50, 40)
    got = gaussian_mixture_log_density(z, mu, logvar, log_w)
    expected = direct(z.double(), mu.double(), logvar.double(), log_w.double())
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-4)


def test_aggregated_posterior_of_a_linear_gaussian_encoder_is_its_closed_form():
    """x ~ N(0, I) and q(z|x) = N(a x, s^2 I) give q(z) = N(0, (a^2 + s^2) I): the mixture
    of 20,000 such posteriors has that density and KL to N(0, I), up to sampling error."""
    g = torch.Generator().manual_seed(0)
    a, var = torch.tensor([1.5, 0.5]), torch.tensor([0.3, 0.8])
    mu = a * torch.randn(20_000, 2, generator=g)
    logvar = torch.log(var).expand(20_000, 2)
    prior = MixturePrior(2)
    prior.set_components(mu, logvar, torch.full((20_000,), -math.log(20_000)))
    total = torch.log(a**2 + var)
    z = torch.randn(200, 2, generator=g) * torch.exp(0.5 * total)
    error = (prior.log_prob(z) - gaussian_log_prob(z, torch.zeros(2), total)).abs()
    assert float(error.mean()) < 0.015 and float(error.max()) < 0.1  # 20,000 draws of x
    exact_kl = float(0.5 * (torch.exp(total) - 1 - total).sum())
    torch.manual_seed(1)
    draws = prior.sample(4000)  # z ~ q(z)
    estimated = float((prior.log_prob(draws) - standard_normal_log_prob(draws)).mean())
    assert estimated == pytest.approx(exact_kl, rel=0.05)


def test_one_component_gives_the_closed_form_gaussian_kl():
    mean, logvar = torch.tensor([[0.5, -1.0]]), torch.tensor([[0.2, -0.4]])
    prior = MixturePrior(2)
    prior.set_components(mean, logvar, torch.zeros(1))
    mu, q_logvar = torch.tensor([[0.1, 0.3]]), torch.tensor([[-1.0, 0.5]])
    torch.manual_seed(0)
    z = mu + torch.exp(0.5 * q_logvar) * torch.randn(200_000, 1, 2)
    estimate = float(prior.kl(z, mu, q_logvar))
    p_var, q_var = torch.exp(logvar), torch.exp(q_logvar)
    exact = float(0.5 * (q_var / p_var + (mu - mean) ** 2 / p_var - 1 + logvar - q_logvar).sum())
    assert estimate == pytest.approx(exact, abs=0.01)


def test_leave_one_out_drops_exactly_the_points_own_posterior():
    mu, logvar, log_w = (t.float() for t in components(6))
    owners = torch.tensor([10, 11, 12, 13, 14, 15])
    z = mu[[2, 4]] + 0.01  # each z sits on its own component
    loo = LeaveOneOutMixture(mu, logvar, log_w, owners, batch=torch.tensor([12, 14]))
    for row, own in enumerate((2, 4)):
        rest = [c for c in range(6) if c != own]
        weights = log_w[rest] - torch.logsumexp(log_w[rest], 0)
        expected = direct(
            z[row : row + 1].double(), mu[rest].double(), logvar[rest].double(), weights.double()
        )
        torch.testing.assert_close(loo.log_prob(z)[row].double(), expected[0], rtol=1e-5, atol=1e-5)
    outside = LeaveOneOutMixture(mu, logvar, log_w, owners, batch=torch.tensor([0, 1]))
    torch.testing.assert_close(
        outside.log_prob(z), gaussian_mixture_log_density(z, mu, logvar, log_w)
    )


def test_own_posterior_included_gives_the_exact_mixture():
    """With ``own_log_weights``, a point's prior is its own posterior at its weight plus
    the others at theirs: with every component in the subset, the full mixture."""
    mu, logvar, log_w = (t.float() for t in components(6))
    owners = torch.arange(6)
    z = mu[[2, 4]] + 0.3
    exact = LeaveOneOutMixture(mu, logvar, log_w, owners, torch.tensor([2, 4]), log_w[[2, 4]])
    kl = exact.kl(z, mu[[2, 4]], logvar[[2, 4]])
    expected = gaussian_log_prob(z, mu[[2, 4]], logvar[[2, 4]]) - gaussian_mixture_log_density(
        z, mu, logvar, log_w
    )
    torch.testing.assert_close(kl, expected, rtol=1e-5, atol=1e-5)


def test_balanced_weights_give_each_task_an_equal_share():
    s = torch.tensor([0] * 9 + [1] * 3)
    for mode, shares in (("data", [0.75, 0.25]), ("balanced", [0.5, 0.5])):
        w = torch.exp(component_log_weights(s, mode))
        torch.testing.assert_close(
            torch.stack([w[s == k].sum() for k in (0, 1)]), torch.tensor(shares)
        )


@pytest.fixture(scope="module")
def gaussian_tasks():
    rng = np.random.default_rng(0)
    s = np.repeat([0, 1], [150, 50])
    x = (rng.normal(size=(200, 6)) + 2.0 * s[:, None]).astype(np.float32)
    return x, s


@pytest.fixture(scope="module")
def fitted(gaussian_tasks):
    x, s = gaussian_tasks
    settings = {**FAST, "epochs": 8, "learning_rate": 3e-3, "likelihood": "gaussian"}
    return OptimalPriorCVAE(estimator="mixture", mixture_components=80, **settings).fit(x, s)


def test_fitted_prior_is_the_mixture_of_every_training_posterior(fitted, gaussian_tasks):
    x, s = gaussian_tasks
    prior = fitted.module_.prior
    mu, logvar = fitted.posterior(x, s)
    np.testing.assert_allclose(prior.means.numpy(), mu, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(prior.logvars.numpy(), logvar, rtol=1e-5, atol=1e-6)
    assert not prior.has_discriminator and list(prior.parameters()) == []


def test_mixture_method_is_the_optimal_prior_with_the_exact_estimator(fitted, gaussian_tasks):
    """``MixturePriorCVAE`` (method ``mixture``) trains the same model, weight for weight,
    as ``OptimalPriorCVAE(estimator="mixture")`` with the same seed and settings."""
    x, s = gaussian_tasks
    settings = {**FAST, "epochs": 8, "learning_rate": 3e-3, "likelihood": "gaussian"}
    model = MixturePriorCVAE(mixture_components=80, **settings).fit(x, s)
    assert METHODS["mixture"] is MixturePriorCVAE and not model.reads_setting("estimator")
    theirs = fitted.module_.state_dict()
    for name, value in model.module_.state_dict().items():
        torch.testing.assert_close(value, theirs[name], rtol=0, atol=0, msg=name)
    assert model.history_.best_epoch == fitted.history_.best_epoch


def test_bound_gain_over_the_cvae_bound_is_the_aggregate_kl(fitted, gaussian_tasks):
    """Theorem 2 without estimation error in the prior: the ELBO under the mixture minus
    that of the same encoder and decoder under N(0, I) is KL(q(z) || N(0, I))."""
    x, s = (torch.from_numpy(a) for a in gaussian_tasks)
    module = fitted.module_
    standard = type(module)(module.encoder, module.decoder, StandardNormalPrior(3), True)
    torch.manual_seed(0)
    gain = float((elbo(module, x, s, 200) - elbo(standard, x, s, 200)).mean())
    mu, logvar = module.inference(x, s)
    kl = rate_decomposition(mu.detach(), logvar.detach(), s, 200)["aggregate_kl"]
    assert kl > 0.05
    assert gain == pytest.approx(kl, rel=0.05, abs=0.01)


def test_saved_mixture_loads_scores_alike_and_refuses_damage(fitted, gaussian_tasks, tmp_path):
    x, s = gaussian_tasks
    path = tmp_path / "m.pt"
    fitted.save(path)
    loaded = BaseModel.load(path)
    torch.manual_seed(0)
    first = fitted.score_samples(x[:20], s[:20], 10)
    torch.manual_seed(0)
    np.testing.assert_array_equal(loaded.score_samples(x[:20], s[:20], 10), first)

    payload = torch.load(path, weights_only=True)
    payload.pop("digest")  # else the checksum refuses the file before the prior is read
    payload["state_dict"]["prior.means"][3, 1] = float("nan")
    torch.save(payload, tmp_path / "nan.pt")
    with pytest.raises(ModelFileError, match="training posteriors hold NaN"):
        BaseModel.load(tmp_path / "nan.pt")
    del payload["state_dict"]["prior.logvars"]
    torch.save(payload, tmp_path / "missing.pt")
    with pytest.raises(ModelFileError, match="logvars"):
        BaseModel.load(tmp_path / "missing.pt")


def test_saved_mixture_loads_onto_the_device_asked_for(fitted, tmp_path):
    """The components are held where the networks are (the file's are on the CPU):
    torch's storage-less "meta" device stands in for a GPU."""
    fitted.save(tmp_path / "m.pt")
    loaded = BaseModel.load(tmp_path / "m.pt", device="meta")
    tensors = [*loaded.module_.parameters(), *loaded.module_.buffers()]
    assert {t.device.type for t in tensors} == {"meta"}
    assert loaded.module_.prior.means.shape == fitted.module_.prior.means.shape


def test_bad_mixture_settings_are_named(gaussian_tasks):
    x, s = gaussian_tasks
    with pytest.warns(
        UserWarning, match=r"mixture_components \(500\) is larger than the training set \(200"
    ) as caught:
        model = OptimalPriorCVAE(
            estimator="mixture", mixture_components=500, likelihood="gaussian", **FAST
        ).fit(x, s)
    assert caught[0].filename == __file__  # the line of the fit
    assert np.isfinite(model.score_samples(x[:5], s[:5], n_samples=5)).all()
    with pytest.raises(ValueError, match="mixture_refresh must be 1"):
        OptimalPriorCVAE(estimator="mixture", mixture_gradient="components", mixture_refresh=5)
    with pytest.raises(ValueError, match="mixture_subset must be 'drawn'"):
        OptimalPriorCVAE(
            estimator="mixture",
            mixture_gradient="components",
            mixture_refresh=1,
            mixture_subset="recent",
        )
    mixture = {"estimator": "mixture", "likelihood": "gaussian", **FAST}
    for leave_one_out in (True, False):  # a subset of the point's own posterior: NaN
        alone = OptimalPriorCVAE(
            mixture_components=1, mixture_leave_one_out=leave_one_out, **mixture
        )
        with pytest.raises(ValueError, match="must be >= 2, got 1 and 200"):
            alone.fit(x, s)
    with pytest.raises(ValueError, match="must be >= 2, got 1000 and 1"):
        OptimalPriorCVAE(**mixture).fit(x[:1], s[:1])
    with warnings.catch_warnings():  # read by the exact mixture alone
        warnings.simplefilter("ignore")
        OptimalPriorCVAE(mixture_components=1, estimator="discriminator")
    with pytest.raises(ValueError, match="unknown mixture_subset 'latest'"):
        OptimalPriorCVAE(estimator="mixture", mixture_subset="latest")
    with pytest.raises(ValueError, match="unknown estimator"):
        OptimalPriorCVAE(estimator="kde")
    with pytest.raises(
        UnknownSettingError, match="PostHocOptimalPriorCVAE does not read estimator"
    ):
        PostHocOptimalPriorCVAE(estimator="mixture")
    with pytest.raises(ValueError, match="holds no training posteriors"):
        MixturePrior(2).log_prob(torch.zeros(1, 2))


def test_gradients_reach_the_components_only_when_asked(gaussian_tasks):
    x, s = gaussian_tasks
    for gradient in ("z", "components"):
        model = OptimalPriorCVAE(
            estimator="mixture",
            mixture_components=50,
            mixture_gradient=gradient,
            mixture_subset="drawn",
            mixture_refresh=1,
            likelihood="gaussian",
            **FAST,
        )
        plan = model.make_plan(model._build(6, 2))
        x_t, s_t = torch.from_numpy(x), torch.from_numpy(s)
        plan.start(x_t, s_t, None)
        plan._generator, plan._step = torch.Generator().manual_seed(0), 0
        plan.objective(x_t[:10], s_t[:10], torch.arange(10))
        assert plan._subset[0].requires_grad == (gradient == "components")


def recent_plan(gaussian_tasks):
    """The mixture plan with a "recent" subset of 25 components, started on the data and
    at an epoch's first step (20 batches) with a generator of seed 0; and the data."""
    x, s = (torch.from_numpy(a) for a in gaussian_tasks)
    model = OptimalPriorCVAE(
        estimator="mixture",
        mixture_components=25,
        mixture_subset="recent",
        likelihood="gaussian",
        **FAST,
    )
    plan = model.make_plan(model._build(6, 2))
    plan.start(x, s, None)
    plan._generator, plan._step, plan._batches = torch.Generator().manual_seed(0), 0, 20
    return plan, x, s


def test_recent_subset_holds_the_latest_batches_own_posteriors(gaussian_tasks):
    """With ``mixture_subset="recent"`` each step's own posteriors (detached, as the
    encoder gives them) replace the subset's oldest, so after three batches of 10 the 25
    components are the last 25 points seen, and each point's prior still leaves it out."""
    plan, x_t, s_t = recent_plan(gaussian_tasks)
    for first in (0, 10, 20):
        index = torch.arange(first, first + 10)
        terms = plan.objective(x_t[index], s_t[index], index)
    mu, logvar, log_weights, owners = plan._subset
    assert sorted(owners.tolist()) == list(range(5, 30))
    assert not mu.requires_grad
    latest = owners >= 20
    torch.testing.assert_close(mu[latest], terms.mu.detach()[owners[latest] - 20])
    torch.testing.assert_close(logvar[latest], terms.logvar.detach()[owners[latest] - 20])
    torch.testing.assert_close(log_weights, plan.log_weights[owners])
    prior = LeaveOneOutMixture(mu, logvar, log_weights, owners, index)
    assert prior.own.sum(1).tolist() == [1] * 10  # each point's own component, once


def test_recent_subset_holds_each_point_once(gaussian_tasks):
    """A batch point still held from the epoch's drawn subset is not counted twice: its
    older copy gets weight 0, so the prior of every other point is the mixture of the
    distinct posteriors held, the batch's own (the newer) among them."""
    plan, x_t, s_t = recent_plan(gaussian_tasks)
    drawn = torch.randperm(200, generator=torch.Generator().manual_seed(0))[:25]
    first = torch.tensor([n for n in range(200) if n not in drawn][:10])
    plan.objective(x_t[first], s_t[first], first)  # draws the subset; rows 0-9 <- first
    drawn_later = plan._subset[3][15:25].clone()  # points of the drawn subset, still held
    plan.objective(x_t[drawn_later], s_t[drawn_later], drawn_later)  # rows 10-19 <- them
    mu, logvar, log_weights, owners = plan._subset
    held = log_weights > -math.inf
    assert held.sum() == 20  # rows 20-24 held older copies of drawn_later's last five
    assert sorted(owners[held].tolist()) == sorted(set(owners[held].tolist()))
    assert set(drawn_later.tolist()) <= set(owners[held].tolist())
    z = torch.randn(4, mu.shape[1])
    others = torch.full((4,), -2)  # a point outside the subset: the prior is the whole mixture
    prior = LeaveOneOutMixture(mu, logvar, log_weights, owners, others)
    expected = gaussian_mixture_log_density(
        z, mu[held], logvar[held], torch.log_softmax(log_weights[held], 0)
    )
    torch.testing.assert_close(prior.log_prob(z), expected)


def test_calibration_of_an_exact_t_is_zero_and_shifts_with_it():
    """q = N(m, I) has ln q/N = m.z - |m|^2/2, which an affine T can be exactly."""
    from optprior.evaluation import calibration_points, discriminator_calibration
    from optprior.priors import OptimalPrior

    m = torch.tensor([[0.8, -0.3, 0.5]])
    prior = OptimalPrior(3, hidden_sizes=(), dropout=0.0)
    with torch.no_grad():
        prior.discriminator.input.linear.weight.copy_(m)
        prior.discriminator.input.linear.bias.fill_(-0.5 * float(m.pow(2).sum()))
    points = calibration_points(prior, m, torch.zeros(1, 3), n_draws=500)
    exact = discriminator_calibration(points)
    assert abs(exact["calibration_error_mean"]) < 1e-5 and exact["calibration_error_std"] < 1e-5
    assert math.isnan(exact["calibration_error_loo_mean"])  # one posterior: none held out
    assert abs(prior.log_normalizer()) < 0.01  # ln Z, the other half of T's calibration
    # At held-out codes, one from each of 400 posteriors N(5m, I): the exact ratio there,
    # m.z - |m|^2/2, is T's, of mean 4.5 |m|^2 (standard error 0.05).
    held_out = (5 * m).expand(400, 3), torch.zeros(400, 3)
    points = calibration_points(prior, m, torch.zeros(1, 3), n_draws=500, held_out=held_out)
    assert points["exact_held_out"].shape == (400,)
    torch.testing.assert_close(points["t_held_out"], points["exact_held_out"])
    expected = 4.5 * float(m.pow(2).sum())
    assert float(points["exact_held_out"].mean()) == pytest.approx(expected, abs=0.2)
    with torch.no_grad():
        prior.discriminator.input.linear.bias += 0.7
    points = calibration_points(prior, m, torch.zeros(1, 3), n_draws=500)
    shifted = discriminator_calibration(points)
    assert shifted["calibration_error_mean"] == pytest.approx(0.7, abs=1e-5)
    assert prior.log_normalizer() == pytest.approx(0.7, abs=0.01)


def test_leave_one_out_density_is_the_mixture_of_the_other_components():
    """ln q_-n(z) against the mixture of the components other than n, term by term; the
    chunks over z change nothing."""
    from optprior.evaluation.calibration import leave_one_out_log_density

    g = torch.Generator().manual_seed(3)
    mu, logvar = torch.randn(5, 2, generator=g), 0.5 * torch.randn(5, 2, generator=g)
    log_weights = torch.log_softmax(torch.randn(5, generator=g), 0)
    own = torch.tensor([0, 4, 2, 2, 1, 3, 0])
    z = mu[own] + 0.3 * torch.randn(7, 2, generator=g)
    expected = []
    for point, n in zip(z, own.tolist(), strict=True):
        others = [c for c in range(5) if c != n]
        rest = torch.log_softmax(log_weights[others], 0)
        expected.append(gaussian_mixture_log_density(point[None], mu[others], logvar[others], rest))
    expected = torch.cat(expected)
    for max_elements in (10**6, 5):  # one chunk, or one z per chunk
        loo = leave_one_out_log_density(z, mu, logvar, log_weights, own, max_elements)
        torch.testing.assert_close(loo, expected)
    assert (loo < gaussian_mixture_log_density(z, mu, logvar, log_weights)).all()
    single = leave_one_out_log_density(z, mu[:1], logvar[:1], log_weights[:1], own * 0)
    assert single.isnan().all()  # no other component


def test_held_out_calibration_leaves_out_the_posterior_that_drew_each_code():
    """q = 0.999 N(m, I) + 0.001 N(-m, I) and T = ln N(z; m, I)/N(z; 0, I): a code of the
    first posterior meets N(-m, I) alone once its own is left out, so T's error there is
    ln N(z; m, I)/N(z; -m, I) = 2 m.z, of mean 2|m|^2 on z ~ N(m, I)."""
    from optprior.evaluation import calibration_points, discriminator_calibration
    from optprior.priors import OptimalPrior

    m = torch.tensor([[0.8, -0.3, 0.5]])
    prior = OptimalPrior(3, hidden_sizes=(), dropout=0.0)
    with torch.no_grad():
        prior.discriminator.input.linear.weight.copy_(m)
        prior.discriminator.input.linear.bias.fill_(-0.5 * float(m.pow(2).sum()))
    weights = torch.tensor([0.999, 0.001]).log()
    errors = discriminator_calibration(
        calibration_points(prior, torch.cat([m, -m]), torch.zeros(2, 3), weights)
    )
    expected = 2 * float(m.pow(2).sum())  # 1.96; its standard error over 2000 draws 0.04
    assert errors["calibration_error_loo_mean"] == pytest.approx(expected, abs=0.2)
    assert abs(errors["calibration_error_mean"]) < 0.05  # T is q's log ratio but near -m


def test_narrow_components_far_from_the_origin_keep_their_density_in_float32():
    """The expanded squared distance cancels terms of size |z|^2 / var: in float32 it would
    lose about 2 nats for posteriors of variance e^-10 at |mu| about 5 (the faces models
    have such variances). Within 1e-3 nats of the float64 sum, here and in training's
    leave-one-out estimate."""
    g = torch.Generator().manual_seed(0)
    mu = 5.0 * torch.randn(50, 32, generator=g, dtype=torch.float64) / math.sqrt(32)
    mu[20:40] = mu[:20] + 0.003 * torch.randn(20, 32, generator=g, dtype=mu.dtype)  # twins
    logvar = torch.full((50, 32), -10.0, dtype=torch.float64)
    log_w = torch.full((50,), -math.log(50), dtype=torch.float64)
    z = mu[:20] + torch.exp(0.5 * logvar[:20]) * torch.randn(20, 32, generator=g, dtype=mu.dtype)
    expected = direct(z, mu, logvar, log_w)
    got = gaussian_mixture_log_density(z.float(), mu.float(), logvar.float(), log_w.float())
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), expected, rtol=0, atol=1e-3)
    own = torch.arange(20)
    loo = LeaveOneOutMixture(mu.float(), logvar.float(), log_w.float(), torch.arange(50), own)
    expected_loo = torch.logsumexp(
        gaussian_log_prob(z[:, None], mu[None], logvar[None])
        + log_w.masked_fill(torch.arange(50) == own[:, None], -math.inf),
        1,
    ) - math.log(49 / 50)
    torch.testing.assert_close(loo.log_prob(z.float()).double(), expected_loo, rtol=0, atol=1e-3)


@pytest.mark.parametrize(
    "gradient, refresh, subset", [("z", 5, "recent"), ("components", 1, "drawn")]
)
def test_the_mixture_is_made_of_posteriors_of_binarised_data(
    gradient, refresh, subset, monkeypatch
):
    """Grey levels under a Bernoulli likelihood are binarised wherever the encoder sees
    them: the prior's components (the subset of a step and the whole mixture of an epoch)
    are posteriors of 0/1 data, as the ELBO's are."""
    from optprior.module import VAEModule

    rng = np.random.default_rng(0)
    x, s = rng.random((120, 12)).astype(np.float32), np.repeat([0, 1], 60)
    encoded, inference = [], VAEModule.inference

    def recording(self, x, s):
        encoded.append(x.detach().clone())
        return inference(self, x, s)

    monkeypatch.setattr(VAEModule, "inference", recording)
    settings = {**FAST, "epochs": 2, "mixture_components": 30}
    settings.update(mixture_gradient=gradient, mixture_refresh=refresh, mixture_subset=subset)
    MixturePriorCVAE(**settings).fit(x, s)
    assert len(encoded) > 4 and all(bool(((e == 0) | (e == 1)).all()) for e in encoded)
