"""The post-hoc optimal prior: T fitted to a trained CVAE's aggregated posterior."""

import warnings

import numpy as np
import pytest
import torch
from helpers import FAST, FAST_T, fast, no_warnings

from optprior import (
    CVAE,
    MMDCVAE,
    VAE,
    AdversarialCVAE,
    InvariantCVAE,
    OptimalPriorCVAE,
    PostHocInvariantCVAE,
    PostHocOptimalPriorCVAE,
    VampPriorCVAE,
    load_model,
)
from optprior.evaluation import rate_decomposition
from optprior.models import NotFittedError
from optprior.priors import OptimalPrior, StandardNormalPrior


def fit_posthoc(cvae, x, s):
    return PostHocOptimalPriorCVAE.from_cvae(
        cvae,
        x,
        s,
        discriminator_hidden_sizes=(64, 64),
        discriminator_dropout=0.0,
        epochs=200,
        patience=30,
        batch_size=50,
    )


@pytest.mark.slow
def test_posthoc_gain_is_a_lower_bound_on_the_aggregate_kl(trained_prototype_cvae):
    """With the normalised prior N e^T / Z the ELBO rises by E_q[T] - ln E_N[e^T], the
    Donsker-Varadhan bound on KL(q(z) || N(0, I)): at most the exact KL of Theorem 2's
    gap, and most of it when T is fitted well."""
    x, s, cvae = trained_prototype_cvae
    before = [p.clone() for p in cvae.module_.parameters()]
    posthoc = fit_posthoc(cvae, x, s)
    for old, new in zip(before, cvae.module_.parameters(), strict=True):
        torch.testing.assert_close(old, new)  # the CVAE itself is untouched
    for name in ("encoder", "decoder"):
        for old, new in zip(
            getattr(cvae.module_, name).parameters(),
            getattr(posthoc.module_, name).parameters(),
            strict=True,
        ):
            torch.testing.assert_close(old, new)

    torch.manual_seed(1)
    elbo_cvae = float(cvae.elbo(x, s, n_samples=200).mean())
    torch.manual_seed(1)  # the same z: the two ELBOs differ exactly by E_q[T]
    elbo_posthoc = float(posthoc.elbo(x, s, n_samples=200).mean())
    gain = elbo_posthoc - posthoc.module_.prior.log_normalizer()
    with torch.no_grad():
        mu, logvar = cvae.module_.inference(torch.from_numpy(x), torch.from_numpy(s))
    kl = rate_decomposition(mu, logvar, torch.from_numpy(s), n_samples=200)["aggregate_kl"]
    assert 0.5 * kl < gain - elbo_cvae < 1.1 * kl + 0.05
    assert posthoc.history_.prior_epochs[-1]["monitored_discriminator_loss"] < np.log(2)


def test_posthoc_fit_trains_both_stages_and_round_trips(tmp_path):
    rng = np.random.default_rng(1)
    x = (rng.random((120, 12)) < 0.3).astype(np.float32)
    s = rng.integers(0, 2, 120)
    model = fast(PostHocOptimalPriorCVAE).fit(x[:100], s[:100], x[100:], s[100:])
    assert len(model.history_.epochs) == FAST["epochs"]
    assert 1 <= len(model.history_.prior_epochs) <= FAST["epochs"]
    model.save(tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt")
    assert type(loaded) is PostHocOptimalPriorCVAE
    assert loaded.history_.prior_epochs == model.history_.prior_epochs
    torch.manual_seed(0)
    expected = model.score_samples(x[100:], s[100:], n_samples=5)
    torch.manual_seed(0)
    np.testing.assert_allclose(loaded.score_samples(x[100:], s[100:], n_samples=5), expected)


def test_from_cvae_refuses_other_models(trained_prototype_cvae):
    x, s, _ = trained_prototype_cvae
    for other in (VAE, VampPriorCVAE, OptimalPriorCVAE):  # no s, or a prior of their own
        with pytest.raises(TypeError, match=f"CVAE or penalised CVAE .*got {other.__name__}"):
            PostHocOptimalPriorCVAE.from_cvae(fast(other), x, s)
    with pytest.raises(NotFittedError, match="not fitted"):
        PostHocOptimalPriorCVAE.from_cvae(fast(CVAE), x, s)
    _, _, cvae = trained_prototype_cvae
    with pytest.raises(ValueError, match="not seen in training"):
        PostHocOptimalPriorCVAE.from_cvae(cvae, x, np.full(len(x), 5))
    with pytest.raises(
        ValueError, match=r"not the first stage's networks or settings: \['latent_dim'\]"
    ):
        PostHocOptimalPriorCVAE.from_cvae(cvae, x, s, latent_dim=7)
    # same shapes, other networks: the CVAE's weights would load into the wrong model
    with pytest.raises(
        ValueError, match=r"not the first stage's networks or settings: \['activation'\]"
    ):
        PostHocOptimalPriorCVAE.from_cvae(cvae, x, s, activation="relu")


def test_from_cvae_takes_the_settings_the_cvae_was_fitted_with(two_tasks):
    """Settings changed on the CVAE after its fit do not reach T's model: its networks
    (and binarisation, seed) are those of the weights it loads."""
    x, s = two_tasks
    with no_warnings():
        cvae = fast(CVAE, epochs=1, warmup_epochs=0).fit(x, s)
    cvae.set_params(hidden_sizes=(8,), seed=5)
    with no_warnings():
        model = PostHocOptimalPriorCVAE.from_cvae(cvae, x, s, epochs=1)
    assert model.get_params()["hidden_sizes"] == FAST["hidden_sizes"]
    assert model.get_params()["seed"] == cvae.fitted_settings_["seed"]
    with no_warnings():  # the first stage's own value, as a list: no change, not refused
        PostHocOptimalPriorCVAE.from_cvae(cvae, x, s, epochs=1, hidden_sizes=[16])
    with pytest.raises(ValueError, match=r"not the first stage's networks .*'hidden_sizes'"):
        PostHocOptimalPriorCVAE.from_cvae(cvae, x, s, epochs=1, hidden_sizes=[8])


def test_t_is_monitored_on_the_codes_of_binarised_data_without_validation(monkeypatch):
    """Without X_val, T's epoch is chosen on codes of the training data binarised as T is
    trained on them, never of the grey levels the fit does not see."""
    from optprior.module import VAEModule

    rng = np.random.default_rng(0)
    x, s = rng.random((120, 12)).astype(np.float32), np.repeat([0, 1], 60)
    with no_warnings():
        cvae = fast(CVAE, epochs=1, warmup_epochs=0).fit(x, s)
    encoded, inference = [], VAEModule.inference

    def recording(self, x, s):
        encoded.append(x.detach().clone())
        return inference(self, x, s)

    monkeypatch.setattr(VAEModule, "inference", recording)
    with no_warnings():
        PostHocOptimalPriorCVAE.from_cvae(cvae, x, s, epochs=1, **FAST_T)
    assert encoded and all(bool(((e == 0) | (e == 1)).all()) for e in encoded)


@pytest.mark.parametrize("penalised", [MMDCVAE, AdversarialCVAE])
def test_from_cvae_puts_t_on_a_penalised_cvae(penalised, trained_prototype_cvae, tmp_path):
    """The penalty's weight is not a setting of the post-hoc prior, and the adversary's
    classifier is not part of the networks: T is fitted to the penalised encoder's
    codes (higher there than on N(0, I) draws, by about 0.7 where KL(q(z) || N(0, I)) is
    0.4 nats), which stay the source's."""
    x, s, _ = trained_prototype_cvae
    settings = {"latent_dim": 3, "hidden_sizes": (32,), "epochs": 30, "progress": False}
    source = penalised(**settings, learning_rate=3e-3, warmup_epochs=0, invariance_weight=1.0).fit(
        x, s
    )
    model = fit_posthoc(source, x, s)
    assert "invariance_weight" not in model.get_params()
    prior = model.fitted_module().prior
    assert isinstance(prior, OptimalPrior)
    np.testing.assert_array_equal(model.transform(x, s), source.transform(x, s))
    with torch.no_grad():
        codes = torch.from_numpy(source.transform(x, s))
        draws = torch.randn(codes.shape, generator=torch.Generator().manual_seed(0))
        assert prior.log_ratio(codes).mean() > prior.log_ratio(draws).mean() + 0.4
    model.save(tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt")
    np.testing.assert_array_equal(loaded.transform(x, s), source.transform(x, s))


def test_posthoc_invariant_fits_moyers_cvae_then_t(two_tasks, tmp_path):
    """Its first stage is the InvariantCVAE its settings make, and only that: a plain
    CVAE is refused as a source, whose penalty weight it would misstate."""
    x, s = two_tasks
    model = fast(PostHocInvariantCVAE, invariance_weight=0.5).fit(x, s)
    moyer = fast(InvariantCVAE, invariance_weight=0.5).fit(x, s)
    np.testing.assert_array_equal(model.transform(x, s), moyer.transform(x, s))
    assert isinstance(model.fitted_module().prior, OptimalPrior)
    again = PostHocInvariantCVAE.from_cvae(moyer, x, s, **FAST_T)
    assert again.get_params()["invariance_weight"] == 0.5
    for setting, value in (("invariance_weight", 3.0), ("beta", 0.2)):  # the source's
        with pytest.raises(
            ValueError, match=rf"first stage's networks or settings: \['{setting}'\]"
        ):
            PostHocInvariantCVAE.from_cvae(moyer, x, s, **{setting: value})
    with pytest.raises(TypeError, match="needs a fitted InvariantCVAE, got CVAE"):
        PostHocInvariantCVAE.from_cvae(fast(CVAE).fit(x, s), x, s)
    model.save(tmp_path / "m.pt")
    assert type(load_model(tmp_path / "m.pt")) is PostHocInvariantCVAE


def test_post_hoc_prior_does_not_read_the_joint_schedule():
    """T of the post-hoc prior is fitted by its own passes: the joint schedule's settings
    cannot change it; T's optimiser settings can."""
    reads = PostHocOptimalPriorCVAE.reads_setting
    assert not any(reads(name) for name in ("discriminator_schedule", "discriminator_fraction"))
    assert reads("discriminator_learning_rate") and reads("discriminator_task_weights")
    assert OptimalPriorCVAE.reads_setting("discriminator_fraction")


@pytest.mark.parametrize("schedule", ["interleaved", "deferred", "epoch", "posthoc"])
def test_balanced_task_weights_reach_every_discriminator_step(schedule, monkeypatch):
    rng = np.random.default_rng(2)
    x = (rng.random((200, 12)) < 0.3).astype(np.float32)
    s = (rng.random(200) < 0.1).astype(np.int64)  # task 1 is a tenth of the data
    expected = {0: 200 / (2 * (s == 0).sum()), 1: 200 / (2 * (s == 1).sum())}
    seen = []
    original = OptimalPrior.discriminator_loss

    def recording(self, z, z_normal=None, weights=None):
        seen.append(weights)
        return original(self, z, z_normal, weights)

    monkeypatch.setattr(OptimalPrior, "discriminator_loss", recording)
    settings = {**FAST, **FAST_T, "discriminator_task_weights": "balanced"}
    if schedule == "posthoc":
        PostHocOptimalPriorCVAE(**settings).fit(x, s)
    else:
        OptimalPriorCVAE(**settings, discriminator_schedule=schedule).fit(x, s)
    assert seen and all(w is not None for w in seen)
    values = np.unique(np.round(torch.cat(seen).numpy(), 4))
    np.testing.assert_allclose(values, [expected[0], expected[1]], rtol=1e-4)


def test_scoring_reports_the_same_networks_under_n01_beside_what_t_adds(two_tasks):
    """``test_log_likelihood_standard_prior`` of a post-hoc T is its CVAE's score (the
    same encoder and decoder under N(0, I)), from the same importance draws as its own:
    with T a constant c the two differ by c exactly, which scoring with T left in place
    (0) or N(0, I) drawn apart (Monte Carlo noise) would miss; ``prior_gain`` is the
    normalised score minus it."""
    from optprior.data import MultiTaskData, TaskSplit
    from optprior.experiments.config import EvaluationConfig
    from optprior.experiments.evaluate import evaluate

    x, s = two_tasks
    split = TaskSplit(X=x, s=s, y=np.arange(len(x)) % 3, index=np.arange(len(x)))
    data = MultiTaskData("toy", 0, split, split, split, ("a", "b"), (3, 4), "bernoulli", 1)
    cvae = fast(CVAE).fit(x, s)
    posthoc = PostHocOptimalPriorCVAE.from_cvae(cvae, x, s, progress=False, **FAST_T)
    final = posthoc.module_.prior.discriminator.body[-1]
    with torch.no_grad():
        final.weight.zero_()
        final.bias.fill_(3.0)
    config = EvaluationConfig(
        n_samples=200, probe_points=60, figures=False, normalizer_temperatures=50, mlp_probe=False
    )
    ours, theirs = evaluate(posthoc, data, config, seed=0), evaluate(cvae, data, config, seed=0)
    lift = ours["test_log_likelihood"] - ours["test_log_likelihood_standard_prior"]
    assert lift == pytest.approx(3.0, abs=1e-4)
    assert ours["test_log_likelihood_standard_prior"] == pytest.approx(
        theirs["test_log_likelihood"],
        abs=0.05,  # other draws: the normaliser's come first
    )
    assert ours["prior_gain"] == pytest.approx(
        ours["test_log_likelihood_normalized"] - ours["test_log_likelihood_standard_prior"]
    )
    assert ours["prior_gain/b"] == pytest.approx(
        ours["test_log_likelihood_normalized/b"] - ours["test_log_likelihood_standard_prior/b"]
    )
    assert "prior_gain" not in theirs and "test_log_likelihood_standard_prior" not in theirs

    # the same draws under each prior: the N(0, I) column is the CVAE's own score, exactly
    own = posthoc.fitted_module().prior
    both = posthoc.score_samples(x, s, 30, random_state=5, priors=[own, StandardNormalPrior(3)])
    assert both.shape == (2, len(x))
    np.testing.assert_allclose(both[0], posthoc.score_samples(x, s, 30, random_state=5), 1e-5)
    np.testing.assert_allclose(both[1], cvae.score_samples(x, s, 30, random_state=5), 1e-5)
    mine = StandardNormalPrior(3).train()
    posthoc.score_samples(x, s, 5, priors=[mine])
    assert mine.training  # a caller's prior is left in the mode it was in
    with pytest.raises(TypeError, match=r"pass \[prior\] for one"):
        posthoc.score_samples(x, s, 5, priors=mine)
    with pytest.raises(ValueError, match="priors is empty"):
        posthoc.score_samples(x, s, 5, priors=[])
    with pytest.raises(ValueError, match=r"priors\[1\] is over 2 dimensions, z over 3"):
        posthoc.score_samples(x, s, 5, priors=[own, StandardNormalPrior(2)])


@pytest.mark.parametrize(("best", "warned"), [(4, True), (1, False)])
def test_a_fit_of_t_still_improving_when_its_epochs_ran_out_is_named(
    best, warned, two_tasks, monkeypatch
):
    """The post-hoc T's own fit gets scikit-learn's ConvergenceWarning where it trained
    all its epochs with its kept epoch among the last ``patience``; not where its
    monitored loss stopped improving before."""
    from sklearn.exceptions import ConvergenceWarning

    from optprior.training.density_ratio import PriorFitPlan

    x, s = two_tasks
    with no_warnings():
        cvae = fast(CVAE, epochs=2, warmup_epochs=0).fit(x, s)
    monkeypatch.setattr(PriorFitPlan, "score", lambda self, record, epoch: -abs(epoch - best))

    def fit_t():
        return PostHocOptimalPriorCVAE.from_cvae(cvae, x, s, epochs=5, patience=2)

    if warned:
        with pytest.warns(
            ConvergenceWarning, match=r"the fit of T trained all 5 epochs and kept"
        ) as w:
            fit_t()
        assert "raise epochs (or discriminator_learning_rate)" in str(w[0].message)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert len(fit_t().history_.prior_epochs) == 4  # stopped 2 epochs after its best
