"""The estimator API: fitting, outputs, persistence, reproducibility."""

import math
import re
import warnings
from fractions import Fraction

import numpy as np
import pytest
import torch
from helpers import FAST, fast, no_warnings

from optprior import (
    CVAE,
    VAE,
    BaseModel,
    InvariantCVAE,
    MixturePriorCVAE,
    NetworkConfig,
    OptimalPriorCVAE,
    PostHocOptimalPriorCVAE,
    TrainingConfig,
    VampPriorCVAE,
    load_model,
)

METHODS = [VAE, CVAE, OptimalPriorCVAE, MixturePriorCVAE, InvariantCVAE, VampPriorCVAE]


@pytest.mark.parametrize("method", METHODS)
def test_outputs_have_documented_shapes(method, two_tasks):
    x, s = two_tasks
    model = fast(method).fit(x[:200], s[:200], x[200:], s[200:])
    assert model.transform(x, s).shape == (240, 3)
    scores = model.score_samples(x[:10], s[:10], n_samples=20)
    bounds = model.elbo(x[:10], s[:10], n_samples=20)
    assert scores.shape == bounds.shape == (10,)
    assert np.all(scores <= 0)  # Bernoulli likelihood of binary data
    samples = model.sample(5, s=1)
    assert samples.shape == (5, 12) and samples.min() >= 0 and samples.max() <= 1
    assert len(model.history_.epochs) == 3 and 0 <= model.history_.best_epoch < 3


@pytest.mark.parametrize("method", METHODS)
def test_save_then_load_gives_identical_outputs(method, two_tasks, tmp_path):
    x, s = two_tasks
    model = fast(method).fit(x, s)
    path = tmp_path / "model.pt"
    model.save(path)
    loaded = load_model(path)
    assert type(loaded) is method and loaded.tasks_ == model.tasks_
    # its settings as saved, the display option progress (False in fast) included
    assert loaded.get_params() == model.get_params() and loaded.progress is False
    np.testing.assert_array_equal(loaded.transform(x, s), model.transform(x, s))
    for m in (model, loaded):
        torch.manual_seed(3)
        m.result = (m.score_samples(x[:20], s[:20], n_samples=30), m.sample(4, s=0))
    np.testing.assert_array_equal(loaded.result[0], model.result[0])
    np.testing.assert_array_equal(loaded.result[1], model.result[1])
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # no temporary left


def test_discriminator_is_saved_with_the_model(two_tasks, tmp_path):
    x, s = two_tasks
    model = fast(OptimalPriorCVAE).fit(x, s)
    model.save(tmp_path / "m.pt")
    loaded = OptimalPriorCVAE.load(tmp_path / "m.pt")
    z = torch.randn(50, 3)
    with torch.no_grad():
        t_saved = model.module_.prior.log_ratio(z)
        t_loaded = loaded.module_.prior.log_ratio(z)
    assert t_saved.abs().max() > 0  # T was trained, not left at zero
    torch.testing.assert_close(t_loaded, t_saved)


@pytest.mark.parametrize("schedule", ["interleaved", "deferred", "epoch"])
def test_same_seed_repeats_training_exactly(schedule, two_tasks):
    x, s = two_tasks
    runs = [
        fast(OptimalPriorCVAE, seed=seed, discriminator_schedule=schedule).fit(x, s)
        for seed in (7, 7, 8)
    ]
    first, again, other = (r.module_.state_dict() for r in runs)
    for key in first:
        torch.testing.assert_close(again[key], first[key], rtol=0, atol=0)
    assert any(not torch.equal(other[k], first[k]) for k in first)
    assert runs[0].history_.epochs[-1]["train_loss"] == runs[1].history_.epochs[-1]["train_loss"]


def test_best_epoch_is_restored(two_tasks):
    x, s = two_tasks
    model = fast(CVAE, **{"epochs": 8}, learning_rate=1e-2).fit(x[:200], s[:200], x[200:], s[200:])
    history = model.history_
    best = max(history.epochs, key=lambda r: r["val_elbo"])
    assert history.best_epoch == best["epoch"]


def test_samples_are_the_decoded_draws_of_the_fitted_prior_under_the_task_given(
    two_tasks, monkeypatch
):
    """``sample(n, s)`` decodes n draws of the model's own prior (here T's, which a draw
    from N(0, I) would bypass) with the task s, one index or one per draw."""
    x, s = two_tasks
    model = fast(OptimalPriorCVAE).fit(x[:200], s[:200])
    module = model.module_
    z = torch.randn(4, 3, generator=torch.Generator().manual_seed(1))
    monkeypatch.setattr(type(module.prior), "sample", lambda self, n: z[:n])
    with torch.no_grad():
        for tasks in (0, 1, [1], [1, 0, 1, 1]):
            decoded = module.generate(z, torch.as_tensor(np.broadcast_to(tasks, 4)))
            np.testing.assert_array_equal(model.sample(4, s=tasks), decoded.numpy())
    assert not np.array_equal(model.sample(4, s=0), model.sample(4, s=1))


def test_the_kept_epochs_weights_are_restored(two_tasks, monkeypatch):
    """A fit whose first epoch scores best ends with that epoch's weights, those of a fit
    of one epoch with the same seed, not the weights its last epoch left."""
    from optprior.training.plans import ELBOPlan

    monkeypatch.setattr(ELBOPlan, "score", lambda self, record, epoch: -float(epoch))
    x, s = two_tasks

    def fitted(epochs):
        model = fast(CVAE, epochs=epochs, warmup_epochs=0, learning_rate=1e-2)
        return model.fit(x[:200], s[:200], x[200:], s[200:])

    kept, first = fitted(3), fitted(1)
    assert kept.history_.best_epoch == 0 and len(kept.history_.epochs) == 3
    ours = kept.module_.state_dict()
    for name, value in first.module_.state_dict().items():
        torch.testing.assert_close(ours[name], value, rtol=0, atol=0, msg=name)


@pytest.mark.parametrize("estimator", ["discriminator", "mixture"])
def test_balanced_task_weights_reach_the_prior_fit(estimator, two_tasks, monkeypatch):
    """With tasks of 120 and 30 points, ``discriminator_task_weights="balanced"`` weighs
    T's positives by N / (K n_s) (150/240 and 150/60), and the exact mixture's components
    by 1 / (K n_s); ``"data"`` leaves T's unweighted and the mixture's at 1/N."""
    from optprior.priors.optimal import OptimalPrior

    x, s = two_tasks[0][:150], two_tasks[1][:150]
    seen = []
    loss = OptimalPrior.discriminator_loss

    def spy(self, z_posterior, z_normal=None, weights=None):
        seen.append(None if weights is None else {round(w, 5) for w in weights.tolist()})
        return loss(self, z_posterior, z_normal, weights)

    monkeypatch.setattr(OptimalPrior, "discriminator_loss", spy)
    for mode, t_weights, shares in (
        ("balanced", {0.625, 2.5}, [1 / 240, 1 / 60]),
        ("data", None, [1 / 150, 1 / 150]),
    ):
        seen.clear()
        model = fast(
            OptimalPriorCVAE, epochs=1, estimator=estimator, discriminator_task_weights=mode
        ).fit(x, s)
        if estimator == "discriminator":
            if t_weights is None:
                assert seen and all(w is None for w in seen)
            else:
                assert None not in seen and set().union(*seen) == t_weights
        else:
            weights = model.module_.prior.log_weights.exp().numpy()
            np.testing.assert_allclose(weights, np.where(s == 0, *shares), rtol=1e-6)


@pytest.mark.parametrize("best", [0, 1, 3])
def test_a_model_kept_from_the_warm_up_is_named(best, two_tasks, monkeypatch):
    """A monitored ELBO that only falls once the KL weight is full (beta, from epoch 1
    here) keeps a warm-up epoch, a model close to its start: the fit warns. One kept at
    full weight, the first such epoch included, does not."""
    from optprior.training.plans import ELBOPlan

    def score(self, record, epoch):
        return -abs(epoch - best)

    monkeypatch.setattr(ELBOPlan, "score", score)
    x, s = two_tasks
    model = fast(CVAE, epochs=4, warmup_epochs=2, beta=0.8)  # KL weight 0.4, then 0.8
    if best == 0:
        kept = (
            r"kept epoch, 0 \(from 0\) of the 4 trained, came before the KL warm-up ended at "
            r"epoch 1 \(from 0\): .* training ELBO"
        )
        with pytest.warns(UserWarning, match=kept):
            model.fit(x, s)
    else:
        with no_warnings():
            model.fit(x, s)
    assert model.history_.best_epoch == best


@pytest.mark.parametrize("epochs", [2, 3])
def test_a_fit_that_ends_inside_the_warm_up_is_named(epochs, two_tasks):
    """Fewer epochs than the warm-up (a natural quick try) never train at full KL weight:
    the fit warns. One epoch at full weight (epoch 3 of a 3-epoch warm-up) does not."""
    x, s = two_tasks
    model = fast(CVAE, epochs=epochs, warmup_epochs=3)
    if epochs == 2:
        with pytest.warns(UserWarning, match=r"all 2 epochs trained came before the KL warm-up"):
            model.fit(x, s)
    else:
        with no_warnings():
            model.fit(x, s)


def test_a_fit_stopped_early_inside_the_warm_up_blames_the_patience(two_tasks, monkeypatch):
    from optprior.training.plans import ELBOPlan

    monkeypatch.setattr(ELBOPlan, "score", lambda self, record, epoch: -epoch)  # never better
    x, s = two_tasks
    model = fast(CVAE, epochs=50, warmup_epochs=40, patience=2)
    with pytest.warns(UserWarning, match=r"all 3 epochs .* early stopping ended it \(patience=2\)"):
        model.fit(x, s)
    assert model.history_.stopped_early


@pytest.mark.parametrize(
    ("best", "patience", "warned"),
    [
        (5, 20, "kept epoch 5 .*: the monitored ELBO was still improving at its last epoch"),
        (5, 0, "kept epoch 5 .*: the monitored ELBO was still improving at its last epoch"),
        (3, 3, "kept epoch 3 .*: the monitored ELBO last improved 2 epoch.* fewer than patience=3"),
        (2, 2, None),
        (2, 0, None),
        (4, 0, None),
    ],
)
def test_a_fit_still_improving_when_its_epochs_ran_out_is_named(
    best, patience, warned, two_tasks, monkeypatch
):
    """scikit-learn's ConvergenceWarning where the fit trained all its epochs with its kept
    epoch among the last ``patience`` (the last one without early stopping): not where
    early stopping ended it, nor where the kept epoch lies further back."""
    from sklearn.exceptions import ConvergenceWarning

    from optprior.training.plans import ELBOPlan

    monkeypatch.setattr(ELBOPlan, "score", lambda self, record, epoch: -abs(epoch - best))
    x, s = two_tasks
    model = fast(CVAE, epochs=6, warmup_epochs=0, patience=patience)
    if warned:
        with pytest.warns(ConvergenceWarning, match=f"trained all 6 epochs and {warned}"):
            model.fit(x, s)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            model.fit(x, s)
    assert model.history_.best_epoch == best
    assert model.history_.stopped_early is (patience > 0 and not warned)


def test_a_fits_warnings_name_the_users_line_through_stages_and_pipelines(two_tasks):
    """The first stage of a post-hoc model, or a model inside a Pipeline, warns on the
    line that called fit, not inside optprior or scikit-learn."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.pipeline import make_pipeline

    x, s = two_tasks
    posthoc = fast(PostHocOptimalPriorCVAE, epochs=3, warmup_epochs=0)
    pipe = make_pipeline(fast(CVAE, epochs=3, warmup_epochs=0))
    for fit in (lambda: posthoc.fit(x, s), lambda: pipe.fit(x, s)):  # s goes as y
        with pytest.warns(ConvergenceWarning) as caught:
            fit()
        assert {w.filename for w in caught} == {__file__}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"estimator": "mixture", "discriminator_epochs": 3}, "estimator='mixture' does not"),
        ({"mixture_components": 50}, "estimator='discriminator' does not read mixture_comp"),
        (
            {"discriminator_schedule": "interleaved", "discriminator_fraction": 0.25},
            "discriminator_schedule='interleaved' does not read discriminator_fraction",
        ),
        ({"estimator": "mixture", "mixture_refresh": 3}, "mixture_subset='recent' does not"),
        ({"estimator": "mixture", "discriminator_task_weights": "balanced"}, None),
        ({"estimator": "mixture", "mixture_subset": "drawn", "mixture_refresh": 3}, None),
        ({"discriminator_schedule": "epoch", "discriminator_epochs": 2}, None),
    ],
)
def test_settings_the_models_choices_leave_unread_are_named_at_fit(settings, message, two_tasks):
    """A setting set away from its default that the fit does not read with the model's
    other choices (the exact mixture reads none of T's but its task weights, T no
    mixture_* setting, a schedule not another's settings) is named, with the choice, at
    the user's line; settings the fit reads, not."""
    from optprior import IgnoredSettingsWarning  # as the README names it

    x, s = two_tasks
    model = fast(OptimalPriorCVAE, epochs=1, warmup_epochs=0, **settings)
    if message is None:
        with no_warnings():
            model.fit(x, s)
        return
    with pytest.warns(IgnoredSettingsWarning, match=re.escape(message)) as caught:
        model.fit(x, s)
    assert {w.filename for w in caught if w.category is IgnoredSettingsWarning} == {__file__}


def test_settings_meant_for_several_methods_are_kept_where_a_model_reads_them():
    """``settings_read``: of settings shared by several methods, those the method reads
    with its choices; its own settings are kept whole, for fit to warn of."""
    shared = {"latent_dim": 2, "discriminator_epochs": 2, "mixture_components": 5}
    shared["vamp_components"] = 3
    mixture = OptimalPriorCVAE.settings_read(shared, {"estimator": "mixture"})
    assert mixture == {"latent_dim": 2, "mixture_components": 5, "estimator": "mixture"}
    assert OptimalPriorCVAE.settings_read(shared) == {"latent_dim": 2, "discriminator_epochs": 2}
    own = {"estimator": "mixture", "discriminator_epochs": 4}
    assert OptimalPriorCVAE.settings_read(shared, own)["discriminator_epochs"] == 4
    assert CVAE.settings_read({**shared, "device": "cpu"}) == {"latent_dim": 2, "device": "cpu"}


@pytest.mark.parametrize(("scale", "shift"), [(1.0, 0.0), (100.0, 0.0), (1.0, 50.0)])
def test_gaussian_data_off_the_decoders_scale_are_named(scale, shift):
    """Data the Gaussian decoder cannot fit well (a spread beyond its largest standard
    deviation, e^1 by default, or a mean far from 0) get a warning; standardised data
    none."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 3))
    x = (x - x.mean(axis=0)) * scale + shift  # centred exactly: one cause at a time
    s = np.repeat([0, 1], 30)
    model = fast(CVAE, likelihood="gaussian", epochs=1, warmup_epochs=0)
    if scale == 1.0 and shift == 0.0:
        with no_warnings():
            model.fit(x, s)
    else:
        with pytest.warns(UserWarning, match=r"standardise X \(sklearn.preprocessing"):
            model.fit(x, s)


def test_beta_weights_the_kl_term_of_the_loss_and_ends_the_warm_up(two_tasks):
    """The loss is beta KL - reconstruction on every batch, so on the epoch's averages;
    the warm-up rises to beta, and an epoch at the end of it counts as full weight."""
    from optprior.training import TrainingConfig

    config = TrainingConfig(warmup_epochs=4, beta=0.5)
    assert [config.kl_weight(e) for e in (0, 3, 10)] == [0.125, 0.5, 0.5]
    assert config.warmup_share(3) == 1.0
    x, s = two_tasks
    model = fast(CVAE, epochs=2, warmup_epochs=0, beta=0.25).fit(x, s)
    for record in model.history_.epochs:
        assert record["beta"] == 0.25
        reconstruction = record["train_elbo"] + record["train_kl"]
        expected = 0.25 * record["train_kl"] - reconstruction
        assert math.isclose(record["train_loss"], expected, rel_tol=1e-5)
    with pytest.raises(ValueError, match="beta must be a positive finite number"):
        CVAE(beta=0.0)


def test_select_after_warmup_counts_beta_as_full_weight(two_tasks, monkeypatch):
    """Epochs at the KL weight beta < 1 are past the warm-up: the best of them is kept
    (not the last epoch, as when no epoch may be kept)."""
    from optprior.training.plans import ELBOPlan

    monkeypatch.setattr(ELBOPlan, "score", lambda self, record, epoch: -abs(epoch - 2))
    x, s = two_tasks
    model = fast(CVAE, epochs=5, warmup_epochs=2, beta=0.5, select_after_warmup=True)
    assert model.fit(x, s).history_.best_epoch == 2


def test_early_stopping_stops(two_tasks):
    x, s = two_tasks
    # A learning rate this small cannot improve a noisy validation score for long.
    model = fast(CVAE, **{"epochs": 200}, patience=2, learning_rate=1e-9).fit(
        x[:200], s[:200], x[200:], s[200:]
    )
    assert model.history_.stopped_early and len(model.history_.epochs) < 200


def test_gaussian_likelihood_and_variance_bounds(two_tasks):
    x, s = two_tasks
    model = fast(CVAE, likelihood="gaussian", gaussian_logvar_bounds=(-3.0, 1.0)).fit(
        3.0 * x - 1.0, s
    )
    logvar = model.module_.decoder.log_variance
    assert logvar.min() > -3.0 and logvar.max() < 1.0
    assert np.isfinite(model.score_samples(3.0 * x[:5] - 1.0, s[:5], n_samples=10)).all()


def test_vae_ignores_tasks(two_tasks):
    x, s = two_tasks
    model = fast(VAE).fit(x)
    np.testing.assert_array_equal(model.transform(x[:5]), model.transform(x[:5], s[:5] * 0 + 1))


@pytest.mark.slow
def test_score_samples_bounded_memory_runs_many_samples():
    """1000 samples over many points goes through chunking without materialising all at once."""
    rng = np.random.default_rng(0)
    x = (rng.random((3000, 64)) < 0.5).astype(np.float32)
    model = VAE(latent_dim=4, hidden_sizes=(32,), epochs=1, progress=False).fit(x[:200])
    scores = model.score_samples(x, n_samples=1000)
    assert scores.shape == (3000,) and np.isfinite(scores).all()


def test_base_class_load_returns_saved_class(two_tasks, tmp_path):
    x, s = two_tasks
    fast(CVAE).fit(x, s).save(tmp_path / "c.pt")
    assert type(BaseModel.load(tmp_path / "c.pt")) is CVAE


def test_a_users_class_named_like_optprior_s_does_not_stand_in_for_it(
    two_tasks, tmp_path, monkeypatch
):
    from optprior.models import base

    x, s = two_tasks
    fast(CVAE).fit(x, s).save(tmp_path / "library.pt")
    monkeypatch.setattr(base, "_MODEL_CLASSES", dict(base._MODEL_CLASSES))  # undone after
    mine = type("CVAE", (VAE,), {"__module__": "my_notebook"})  # a notebook's own "CVAE"
    fast(mine).fit(x).save(tmp_path / "mine.pt")
    assert type(load_model(tmp_path / "library.pt")) is CVAE
    assert type(load_model(tmp_path / "mine.pt")) is mine
    payload = torch.load(tmp_path / "library.pt", weights_only=True)
    del payload["digest"], payload["class_path"]  # a file from before class paths
    torch.save(payload, tmp_path / "old.pt")
    assert type(load_model(tmp_path / "old.pt")) is CVAE  # the name alone: optprior's
    moved = type("Moved", (VAE,), {"__module__": "__main__"})  # a script's class
    fast(moved).fit(x).save(tmp_path / "moved.pt")
    del base._MODEL_CLASSES["__main__:Moved"]  # moved since into a package of one's own
    into = type("Moved", (VAE,), {"__module__": "my_package.models"})
    assert type(load_model(tmp_path / "moved.pt")) is into
    worker = type("Worker", (VAE,), {"__module__": "__mp_main__"})  # a spawned worker's
    assert base.class_path(worker) == "__main__:Worker"  # the script, as its parent names it
    with pytest.raises(
        base.UnknownSettingError, match="invariance_weight .a setting of .*InvariantCVAE"
    ):
        CVAE(invariance_weight=1.0)


def test_gpu_model_loads_on_a_machine_without_one(two_tasks, tmp_path, monkeypatch):
    x, s = two_tasks
    model = fast(CVAE).fit(x, s)
    expected = model.transform(x, s)
    model.device = "cuda"  # as if it had been trained on a GPU
    model.save(tmp_path / "gpu.pt")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    loaded = load_model(tmp_path / "gpu.pt")
    assert loaded.device == "cpu"
    np.testing.assert_array_equal(loaded.transform(x, s), expected)


def test_gaussian_variance_starts_inside_any_bounds(two_tasks):
    x, s = two_tasks
    model = fast(CVAE, likelihood="gaussian", gaussian_logvar_bounds=(-9.0, -1.0)).fit(x, s)
    assert -9.0 < float(model.module_.decoder.log_variance.detach().max()) < -1.0


def test_model_steps_leave_the_discriminator_untouched(two_tasks):
    """T is frozen in model steps: an epoch of model steps alone does not change it."""
    from optprior.training import DensityRatioPlan, ELBOPlan

    x, s = two_tasks
    model = fast(OptimalPriorCVAE, discriminator_schedule="epoch")
    module = model._build(x.shape[1], 2)
    torch.nn.init.normal_(module.prior.discriminator.body[-1].weight)  # T != 0
    before = {k: v.clone() for k, v in module.prior.state_dict().items()}
    plan = DensityRatioPlan(
        module, model.training, True, model.config.discriminator, model.config.schedule
    )
    x_t, s_t = torch.from_numpy(x), torch.from_numpy(s)
    plan.start(x_t, s_t, None)
    ELBOPlan.train_epoch(plan, x_t, s_t, 0, torch.Generator())  # the model steps alone
    for key, value in module.prior.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)
    assert all(p.grad is None for p in module.prior.parameters())


@pytest.mark.parametrize("encode_rows", [60, 1000])  # blocks of one batch, or all points
@pytest.mark.parametrize("fraction", [1.0, 0.5, 0.07, 0.01])  # 0.07 x 100 is 7.000000000000001
def test_epoch_schedule_fits_t_on_a_fresh_share_of_distinct_points(
    fraction, encode_rows, monkeypatch
):
    """Each pass encodes ceil(fraction x N) distinct training points afresh, in blocks of
    whole batches, and gives T each of their z once with its point's task, one batch a
    step; passes draw their shares independently."""
    from optprior.training import batches
    from optprior.training.density_ratio import DiscriminatorFit

    monkeypatch.setattr(batches, "ENCODE_ROWS", encode_rows)

    x = torch.rand(100, 12, generator=torch.Generator().manual_seed(0))  # distinct rows
    s = torch.arange(100)  # a task per point, so that tasks out of line would show
    model = fast(
        OptimalPriorCVAE,
        discriminator_schedule="epoch",
        discriminator_epochs=2,
        discriminator_fraction=fraction,
    )
    module = model._build(x.shape[1], len(s))
    fit = DiscriminatorFit(module, model.config.discriminator, model.training.batch_size, False)
    encoded, encoded_tasks, seen, seen_tasks = [], [], [], []
    inference, discriminator_step = module.inference, fit.step

    def record_inference(xb, sb):
        encoded.append(xb.clone())
        encoded_tasks.append(sb.clone())
        return inference(xb, sb)

    def t_step(z, sb):
        seen.append(z.shape[0])
        seen_tasks.append(sb.clone())
        return discriminator_step(z, sb)

    monkeypatch.setattr(module, "inference", record_inference)
    monkeypatch.setattr(fit, "step", t_step)
    fit.passes(x, s, torch.Generator(), 2, model.config.schedule.pass_points(len(x)))
    kept = math.ceil(Fraction(str(fraction)) * len(x))  # exact arithmetic
    size = model.training.batch_size
    assert seen == ([size] * (kept // size) + ([kept % size] if kept % size else [])) * 2
    passes = [  # the training-point index of every encoded row, pass by pass
        (points[:, None] == x).all(-1).nonzero()[:, 1] for points in torch.cat(encoded).split(kept)
    ]
    assert all(len(index) == len(set(index.tolist())) == kept for index in passes)
    for tasks in (encoded_tasks, seen_tasks):
        assert torch.equal(torch.cat(tasks), s[torch.cat(passes)])
    if fraction < 1:
        assert set(passes[0].tolist()) != set(passes[1].tolist())


@pytest.mark.parametrize(
    "schedule, steps, interval",
    [("interleaved", 1, 2), ("deferred", 1, 2), ("interleaved", 3, 4), ("deferred", 2, 3)],
)
def test_pooled_schedules_train_t_once_on_every_drawn_z(
    schedule, steps, interval, two_tasks, monkeypatch
):
    """T sees exactly the z the model steps drew: every ``interval`` batches' z pooled
    (the last pool what is left), ``steps`` T steps on each pool; deferred T steps come
    last."""
    from optprior.training import DensityRatioPlan

    x, s = two_tasks
    model = fast(
        OptimalPriorCVAE,
        discriminator_schedule=schedule,
        discriminator_steps=steps,
        discriminator_interval=interval,
    )
    module = model._build(x.shape[1], 2)
    plan = DensityRatioPlan(
        module, model.training, True, model.config.discriminator, model.config.schedule
    )
    events, drawn, seen = [], [], []
    objective_terms, discriminator_step = module.objective_terms, plan.discriminator.step

    def model_terms(xb, sb):
        terms = objective_terms(xb, sb)
        drawn.append(terms[2].detach().clone())
        events.append("model")
        return terms

    def t_step(z, sb):
        seen.append(z.clone())
        events.append("T")
        return discriminator_step(z, sb)

    monkeypatch.setattr(module, "objective_terms", model_terms)
    monkeypatch.setattr(plan.discriminator, "step", t_step)
    x_t, s_t = torch.from_numpy(x), torch.from_numpy(s)
    plan.start(x_t, s_t, None)
    plan.train_epoch(x_t, s_t, 0, torch.Generator())
    pools = [torch.cat(drawn[i : i + interval]) for i in range(0, len(drawn), interval)]
    assert len(drawn) == 5 and len(seen) == steps * len(pools)  # 240 points, batches of 50
    expected = torch.cat([pool for pool in pools for _ in range(steps)])
    torch.testing.assert_close(torch.cat(seen), expected, rtol=0, atol=0)
    first_t = events.index("T")
    t_moves_mid_epoch = "model" in events[first_t:]
    assert t_moves_mid_epoch == (schedule == "interleaved")


def test_a_model_file_from_before_a_training_setting_existed_loads_as_it_was_made(
    two_tasks, tmp_path
):
    """A file written before ``discriminator_fraction`` existed holds a full-pass model:
    it loads with fraction 1, not today's default."""
    x, s = two_tasks
    path = tmp_path / "old.pt"
    full = {"discriminator_schedule": "epoch", "discriminator_fraction": 1.0}
    fast(OptimalPriorCVAE, **full).fit(x, s).save(path)
    payload = torch.load(path, weights_only=False)
    payload.pop("digest")  # files from before checksums have none
    del payload["training"]["discriminator_fraction"]
    payload["training"]["retired_setting"] = 3  # a field removed since: ignored
    torch.save(payload, path)
    loaded = OptimalPriorCVAE.load(path)
    assert loaded.config.schedule.fraction == 1.0
    assert OptimalPriorCVAE().config.schedule.fraction == 0.5


def test_a_refit_that_fails_leaves_the_fitted_model_as_it_was(two_tasks, tmp_path):
    """A refit on more tasks refused (here for its validation data) or stopped keeps the
    earlier fit whole: its tasks, codes and a file that loads."""
    x, s = two_tasks
    model = fast(CVAE).fit(x, s)
    codes = model.transform(x[:20], s[:20])
    more = np.arange(len(x)) % 5
    with pytest.raises(ValueError, match="X_val has 4 features"):
        model.fit(x, more, X_val=x[:10, :4], s_val=more[:10])
    assert model.tasks_ == [0, 1]
    np.testing.assert_array_equal(model.transform(x[:20], s[:20]), codes)
    model.save(tmp_path / "m.pt")
    np.testing.assert_array_equal(
        BaseModel.load(tmp_path / "m.pt").transform(x[:20], s[:20]), codes
    )

    # Its network replaced, a refit whose closing warning is raised as an error is whole.
    with warnings.catch_warnings(), pytest.raises(UserWarning):
        warnings.simplefilter("error")
        model.fit(x, more)  # 3 epochs: the warm-up warning
    assert model.tasks_ == [0, 1, 2, 3, 4] and model.module_.encoder.n_tasks == 5
    model.save(tmp_path / "m.pt")
    assert BaseModel.load(tmp_path / "m.pt").transform(x[:5], more[:5]).shape == (5, 3)


def test_a_post_hoc_refit_stopped_in_ts_fit_leaves_the_fitted_model_as_it_was(
    two_tasks, monkeypatch
):
    from optprior.models import methods

    x, s = two_tasks
    model = fast(PostHocOptimalPriorCVAE).fit(x, s)
    codes = model.transform(x[:20], s[:20])

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl+C as T's fit starts

    monkeypatch.setattr(methods, "PriorFitPlan", stopped)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, np.arange(len(x)) % 4)
    assert model.tasks_ == [0, 1]
    np.testing.assert_array_equal(model.transform(x[:20], s[:20]), codes)


def test_fitting_leaves_the_callers_random_state_as_it_was(two_tasks):
    x, s = two_tasks
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    cvae = fast(CVAE).fit(x, s)
    PostHocOptimalPriorCVAE.from_cvae(cvae, x, s)
    assert torch.equal(torch.rand(3), expected)


def test_settings_are_listed_shown_and_copied(two_tasks):
    model = CVAE(latent_dim=3, epochs=2, hidden_sizes=(16,))
    assert repr(model) == "CVAE(latent_dim=3, hidden_sizes=(16,), epochs=2)"
    assert repr(VAE()) == "VAE()"
    params = model.get_params()
    assert params["latent_dim"] == 3 and params["learning_rate"] == 1e-4
    copy = CVAE(**params)
    assert copy.get_params() == params and copy.module_ is None
    x, s = two_tasks
    z = fast(CVAE).fit_transform(x, s)
    np.testing.assert_array_equal(z, fast(CVAE).fit(x, s).transform(x, s))


def test_balanced_validation_elbo_is_the_mean_of_the_task_means(two_tasks):
    from optprior.evaluation.bounds import elbo
    from optprior.training import ELBOPlan, TrainingConfig

    x, s = two_tasks
    keep = np.r_[0:120, 120:150]  # task 1 is a fifth of the points
    model = fast(CVAE).fit(x[keep], s[keep])
    module, xs, ss = model.module_, torch.from_numpy(x[keep]), torch.from_numpy(s[keep])
    scores = {}
    for weights in ("data", "balanced"):
        plan = ELBOPlan(module, TrainingConfig(validation_task_weights=weights), False)
        plan.start(xs, ss, (xs, ss, None))
        record = {"train_loss": 0.0, "train_elbo": 0.0}
        torch.manual_seed(0)
        scores[weights] = plan.score(record, 0)
    torch.manual_seed(0)
    per_point = elbo(module, xs, ss)
    assert scores["data"] == pytest.approx(float(per_point.mean()), rel=1e-6)
    task_means = [float(per_point[ss == k].mean()) for k in (0, 1)]
    assert scores["balanced"] == pytest.approx(np.mean(task_means), rel=1e-6)
    assert abs(scores["balanced"] - scores["data"]) > 1e-3  # the tasks differ


def test_fit_logs_its_epochs_on_request(two_tasks, caplog, monkeypatch):
    from optprior.training import trainer

    monkeypatch.setattr(trainer, "LOG_SECONDS", 0.0)  # a line after every epoch
    x, s = two_tasks
    with caplog.at_level("INFO", logger="optprior"):
        model = fast(CVAE).fit(x[:200], s[:200], x[200:], s[200:])
    lines = [r.getMessage() for r in caplog.records if r.name == "optprior.training.trainer"]
    assert [line.split(" ")[2] for line in lines[:-1]] == ["1/3", "2/3", "3/3"]
    assert lines[0].startswith("model epochs 1/3 (")
    assert "val_elbo" in lines[0] and "train_loss" in lines[0]
    best = model.history_.best_epoch
    assert lines[-1] == f"model: 3 epochs in all; keeping epoch {best} (from 0)"

    caplog.clear()
    with caplog.at_level("INFO", logger="optprior"):
        PostHocOptimalPriorCVAE.from_cvae(model, x[:200], s[:200], x[200:], s[200:])
    lines = [r.getMessage() for r in caplog.records if r.name == "optprior.training.trainer"]
    assert lines[0].startswith("prior epochs 1/3 (") and "monitored" in lines[0]
    assert re.fullmatch(r"prior: [1-3] epochs in all; keeping epoch [0-2] \(from 0\)", lines[-1])


def test_scikit_learn_clone_grid_search_and_pipeline(two_tasks):
    """The estimator contract: clone, set_params, GridSearchCV (tasks passed as the
    labels, models chosen by the mean test ln p(x|s)) and use inside a Pipeline."""
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline

    x, s = two_tasks
    model = fast(CVAE, **{"hidden_sizes": [16]})
    copy = clone(model)
    assert copy is not model and copy.get_params() == model.get_params()
    assert copy.get_params(deep=False)["hidden_sizes"] == (16,)
    assert copy.set_params(latent_dim=2) is copy and copy.config.latent_dim == 2
    with pytest.raises(TypeError, match="CVAE does not read latent "):
        copy.set_params(latent=2)
    with pytest.raises(ValueError, match="CVAE does not read latent "):  # as scikit-learn's
        copy.set_params(latent=2)
    with pytest.raises(ValueError, match="latent_dim must be"):
        copy.set_params(latent_dim=0)
    # config= and training=, as the constructor takes them, replace what they hold
    copy.set_params(config=NetworkConfig(latent_dim=7), training=TrainingConfig(epochs=4))
    assert copy.get_params() == CVAE(latent_dim=7, epochs=4, progress=False).get_params()
    copy.set_params(config=NetworkConfig(latent_dim=7), latent_dim=5)  # a named setting wins
    assert copy.config.latent_dim == 5
    with pytest.raises(TypeError, match="CVAE takes a NetworkConfig, got TrainingConfig"):
        copy.set_params(config=TrainingConfig())

    folds = StratifiedKFold(2, shuffle=True, random_state=0)  # by task: README's form
    order = np.argsort(s, kind="stable")  # sorted by task, as a user's file may be
    search = GridSearchCV(fast(CVAE), {"latent_dim": [1, 3]}, cv=folds).fit(x[order], s[order])
    assert search.best_params_["latent_dim"] in (1, 3)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    quick = GridSearchCV(  # README's quicker scoring: fewer importance samples
        fast(CVAE), {"latent_dim": [3]}, cv=folds, scoring=lambda m, X, s: m.score(X, s, 100)
    ).fit(x[order], s[order])
    assert np.isfinite(quick.cv_results_["mean_test_score"]).all()
    assert search.best_estimator_.transform(x, s).shape == (
        len(x),
        search.best_params_["latent_dim"],
    )

    y = (x[:, 0] > 0.5).astype(int)  # VAE ignores s, so a pipeline passes it nothing
    pipeline = make_pipeline(fast(VAE), LogisticRegression()).fit(x, y)
    assert pipeline.predict(x).shape == y.shape


def test_scores_and_samples_repeat_and_leave_the_callers_stream(two_tasks):
    x, s = two_tasks
    model = fast(OptimalPriorCVAE).fit(x, s)
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    first = model.score_samples(x[:30], s[:30], n_samples=20)
    assert torch.equal(torch.rand(3), expected)  # the caller's stream was left alone
    np.testing.assert_array_equal(model.score_samples(x[:30], s[:30], n_samples=20), first)
    other = model.score_samples(x[:30], s[:30], n_samples=20, random_state=1)
    assert not np.array_equal(other, first)
    np.testing.assert_array_equal(model.elbo(x[:30], s[:30]), model.elbo(x[:30], s[:30]))
    np.testing.assert_array_equal(model.sample(5, 1), model.sample(5, 1))
    assert not np.array_equal(model.sample(5, 1, random_state=2), model.sample(5, 1))
    torch.manual_seed(0)
    free = model.score_samples(x[:30], s[:30], n_samples=20, random_state=None)
    assert not np.array_equal(free, model.score_samples(x[:30], s[:30], 20, random_state=None))
    with pytest.raises(ValueError, match="random_state must be a whole number"):
        model.score_samples(x[:3], s[:3], random_state=0.5)


def test_a_points_score_does_not_depend_on_the_points_scored_with_it(two_tasks):
    """Each point's importance samples (and ELBO draws) come from a stream keyed by the
    point, its task and random_state: a subset, a reordering or one point alone score as
    in the whole set (scikit-learn's sample-order and subset invariance)."""
    x, s = two_tasks
    model = fast(CVAE).fit(x, s)
    whole = model.score_samples(x, s, n_samples=30)
    order = np.random.default_rng(1).permutation(len(x))
    np.testing.assert_allclose(model.score_samples(x[order], s[order], 30), whole[order], 1e-5)
    np.testing.assert_allclose(model.score_samples(x[7:8], s[7:8], 30), whole[7:8], 1e-5)
    elbo = model.elbo(x, s, n_samples=3)
    np.testing.assert_allclose(model.elbo(x[order], s[order], 3), elbo[order], 1e-5)
    np.testing.assert_allclose(model.elbo(x[7:8], s[7:8], 3), elbo[7:8], 1e-5)
    duplicated = model.score_samples(np.repeat(x[7:8], 2, 0), np.repeat(s[7:8], 2), 30)
    assert duplicated[0] == duplicated[1]
    again = model.score_samples(x[7:8], s[7:8], 30, random_state=1)
    assert abs(again[0] - whole[7]) > 1e-4  # the seed still moves the draws


def test_decode_and_reconstruct(two_tasks):
    x, s = two_tasks
    model = fast(CVAE).fit(x, s)
    z = model.transform(x[:10], s[:10])
    decoded = model.decode(z, s[:10])
    assert decoded.shape == (10, x.shape[1]) and ((decoded >= 0) & (decoded <= 1)).all()
    np.testing.assert_array_equal(model.reconstruct(x[:10], s[:10]), decoded)
    assert not np.array_equal(model.decode(z, 1 - s[:10]), decoded)  # s enters the decoder
    with pytest.raises(ValueError, match="Z has 2 columns, the model's latent_dim is 3"):
        model.decode(z[:, :2], s[:10])
    with pytest.raises(ValueError, match="task"):
        model.decode(z, np.full(10, 5))


def test_grey_levels_are_scored_and_validated_as_one_fixed_binarisation(two_tasks):
    """Where training binarises afresh, scores and the validation ELBO take one fixed
    Bernoulli draw per point of the grey levels given (the same for every model), so they
    equal the scores of that draw and compare across models; without dynamic binarisation
    X is scored as given."""
    from optprior.evaluation.binarization import binarized_points

    x, s = two_tasks
    rng = np.random.default_rng(1)
    grey = np.clip(x * 0.8 + 0.1 * rng.random(x.shape), 0, 1).astype(np.float32)
    val, test = grey[200:], grey[:20]
    fits = [fast(CVAE).fit(x[:200], s[:200], v, s[200:]) for v in (val, binarized_points(val))]
    curves = [[e["val_elbo"] for e in fit.history_.epochs] for fit in fits]
    assert curves[0] == curves[1]
    model = fits[0]
    np.testing.assert_array_equal(
        model.score_samples(test, s[:20], n_samples=30),
        model.score_samples(binarized_points(test), s[:20], n_samples=30),
    )
    np.testing.assert_array_equal(
        model.elbo(test, s[:20]), model.elbo(binarized_points(test), s[:20])
    )
    as_given = fast(CVAE, dynamic_binarization=False).fit(x, s)
    assert not np.array_equal(
        as_given.elbo(test, s[:20]), as_given.elbo(binarized_points(test), s[:20])
    )


def test_a_grey_point_takes_the_same_draw_whatever_it_is_scored_with():
    """``binarized_points`` keys each row's draw by the row, so a subset, a reordering or
    a single row binarise as they do in the whole array; ``binarized`` (one draw over the
    array) does not, and binary data pass unchanged."""
    from optprior.evaluation.binarization import binarized, binarized_points

    grey = np.random.default_rng(0).random((50, 30)).astype(np.float32)
    whole = binarized_points(grey)
    order = np.random.default_rng(1).permutation(50)
    np.testing.assert_array_equal(binarized_points(grey[order]), whole[order])
    np.testing.assert_array_equal(binarized_points(grey[7:8]), whole[7:8])
    assert not np.array_equal(binarized(grey[25:]), binarized(grey)[25:])
    assert 0.4 < whole.mean() < 0.6  # a draw at the grey levels, not a threshold
    assert set(np.unique(whole)) == {0.0, 1.0}
    np.testing.assert_array_equal(binarized_points(whole), whole)


def test_log_normalizer_is_zero_for_a_density_and_ln_z_for_n_times_e_t(two_tasks):
    """N(0, I) and the exact mixture are densities: ln Z = 0. N(z; 0, I) e^T with T a
    constant c integrates to e^c, whatever codes the proposal follows."""
    x, s = two_tasks
    for density in (fast(CVAE), fast(OptimalPriorCVAE, estimator="mixture")):
        assert density.fit(x, s).log_normalizer(x, s) == 0.0
    model = fast(OptimalPriorCVAE).fit(x, s)
    final = model.module_.prior.discriminator.body[-1]
    with torch.no_grad():
        final.weight.zero_()
        final.bias.fill_(0.7)
    assert model.log_normalizer(x, s, n_temperatures=100) == pytest.approx(0.7, abs=0.02)
    assert model.log_normalizer(x, s, sampler="importance") == pytest.approx(0.7, abs=0.02)
    with pytest.warns(FutureWarning, match="the keyword estimator= is now sampler="):
        by_former_name = model.log_normalizer(x, s, estimator="importance")
    assert by_former_name == model.log_normalizer(x, s, sampler="importance")
    with pytest.raises(
        TypeError,
        match=r"log_normalizer\(\) got unexpected keyword argument\(s\) \['samplr'\]; it "
        "takes X, s, random_state, sampler, n_temperatures$",
    ):
        model.log_normalizer(x, s, samplr="importance")
    assert model.log_normalizer(x[:50], s[:50], 3, n_temperatures=20) == pytest.approx(
        0.7, abs=0.05
    )
    for density in (fast(CVAE).fit(x, s), model):
        with pytest.raises(ValueError, match="unknown sampler .exact.; choose one of annealed"):
            density.log_normalizer(x, s, sampler="exact")


@pytest.mark.parametrize("weights", ["data", "balanced"])
def test_log_normalizer_starts_from_the_posteriors_of_the_data_weighted_as_t_was(
    weights, two_tasks, monkeypatch
):
    """ln Z's proposal (or the chains' start) is fitted to codes of the posteriors of the
    X, s given, each weighted as in T's loss, and the sampler and temperatures asked for
    are the ones run."""
    from optprior.priors import optimal
    from optprior.training.batches import component_log_weights

    x, s = two_tasks[0][:150], two_tasks[1][:150]  # tasks of 120 and 30 points
    model = fast(OptimalPriorCVAE, discriminator_task_weights=weights).fit(x, s)
    mu, logvar = model.posterior(x, s)
    drawn, ran = [], []
    codes_of = optimal.posterior_codes
    monkeypatch.setattr(
        optimal, "posterior_codes", lambda *args: drawn.append(args) or codes_of(*args)
    )
    for name in ("normalizer_estimate", "normalizer_annealed"):
        method = getattr(optimal.OptimalPrior, name)

        def recording(self, *args, name=name, method=method):
            ran.append((name, args))
            return method(self, *args)

        monkeypatch.setattr(optimal.OptimalPrior, name, recording)
    model.log_normalizer(x, s, n_temperatures=7)
    model.log_normalizer(x, s, sampler="importance")
    expected = component_log_weights(torch.from_numpy(s), weights)
    for posterior_mu, posterior_logvar, log_weights, _ in drawn:
        np.testing.assert_allclose(posterior_mu.numpy(), mu, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(posterior_logvar.numpy(), logvar, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(log_weights, expected)
    assert len(drawn) == 2 and [name for name, _ in ran] == [
        "normalizer_annealed",  # (chains, temperatures, seed, codes)
        "normalizer_estimate",  # (draws, seed, codes)
    ]
    assert ran[0][1][1] == 7 and all(isinstance(args[-1], torch.Tensor) for _, args in ran)


def test_set_params_after_a_fit_changes_the_next_fit_not_the_fitted_model(two_tasks, tmp_path):
    # The network keeps the settings it was built with: its codes decode, and the file
    # it is saved to loads again with those settings and the same codes.
    x, s = two_tasks
    model = fast(CVAE).fit(x, s)
    codes = model.transform(x, s)
    model.set_params(latent_dim=8, hidden_sizes=(4,))
    assert model.decode(codes, s).shape == x.shape
    model.save(tmp_path / "m.pt")
    loaded = CVAE.load(tmp_path / "m.pt")
    assert loaded.get_params()["latent_dim"] == FAST["latent_dim"]
    np.testing.assert_array_equal(loaded.transform(x, s), codes)
    assert model.fit(x, s).transform(x, s).shape == (len(x), 8)


def test_a_fitted_bernoulli_model_scores_grey_data_as_fitted_after_set_params(two_tasks):
    # Scores binarise grey levels as the fitted (Bernoulli) model does, not as the
    # likelihood named since for the next fit would.
    x, s = two_tasks
    grey = np.clip(x * 0.6 + 0.2, 0, 1)
    model = fast(CVAE).fit(grey, s)
    before = model.score_samples(grey, s, n_samples=5)
    model.set_params(likelihood="gaussian")
    np.testing.assert_array_equal(model.score_samples(grey, s, n_samples=5), before)


def test_a_pipeline_passes_the_tasks_to_fit_score_and_routed_transform(two_tasks):
    import sklearn
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    x, s = two_tasks
    pipe = make_pipeline(MinMaxScaler(clip=True), fast(CVAE)).fit(x, s)  # s as the labels
    assert np.isfinite(pipe.score(x, s))
    with pytest.raises(ValueError, match=r"enable_metadata_routing=True\), then pipe.transfo"):
        pipe.transform(x)  # without the tasks routed: the way to route them named
    with pytest.raises(ValueError, match=r"required for this model$"):  # no Pipeline there
        pipe[-1].decode(np.zeros((2, FAST["latent_dim"])))
    assert np.isfinite(pipe.score(x * 1.1, s))  # beyond the training range: clipped
    with sklearn.config_context(enable_metadata_routing=True):  # no set_*_request needed
        codes = pipe.transform(x, s=s)
        assert codes.shape == (len(x), FAST["latent_dim"])
        np.testing.assert_allclose(codes, pipe[-1].transform(pipe[0].transform(x), s), rtol=1e-6)
        # fit_transform: the tasks as the labels, routed (the labels' place then None), or both
        for args, kwargs in (((x, s), {}), ((x,), {"s": s}), ((x, s), {"s": s})):
            again = make_pipeline(MinMaxScaler(clip=True), fast(CVAE))
            np.testing.assert_array_equal(again.fit_transform(*args, **kwargs), codes)
        with pytest.raises(ValueError, match="two different task arrays"):
            pipe.fit_transform(x, s, s=1 - s)
        pipe.set_params(cvae__epochs=1).fit(x, s=s)  # fit routed the same way
        assert len(pipe[-1].fitted_history().epochs) == 1
    with pytest.raises(TypeError, match="unexpected keyword argument 'X_test'"):
        fast(CVAE).fit(x, s, X_test=x)


def test_codes_are_named_and_output_as_scikit_learn_transformers_do(two_tasks):
    import pandas as pd
    import sklearn
    from sklearn.exceptions import NotFittedError
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    from optprior.models.selection import task_information_scorer

    x, s = two_tasks
    with pytest.raises(NotFittedError):
        fast(CVAE).get_feature_names_out()
    pipe = make_pipeline(MinMaxScaler(clip=True), fast(CVAE)).fit(x, s)
    names = [f"cvae{i}" for i in range(FAST["latent_dim"])]
    assert pipe.get_feature_names_out().tolist() == names
    frame = pd.DataFrame(x, index=np.arange(1000, 1000 + len(x)))
    pipe[-1].set_output(transform="pandas")
    codes = pipe[-1].transform(frame, s)
    assert isinstance(codes, pd.DataFrame) and codes.columns.tolist() == names
    assert codes.index.tolist() == frame.index.tolist()  # the rows keep their labels
    np.testing.assert_array_equal(
        codes.to_numpy(), pipe[-1].set_output(transform="default").transform(x, s)
    )
    pipe[-1].set_params(latent_dim=FAST["latent_dim"] + 1)  # not fitted again: the fit's width
    assert pipe[-1].get_feature_names_out().tolist() == names
    # pandas output set for every transformer: optprior's own uses of the codes unchanged
    model = fast(CVAE).fit(x, s)
    with sklearn.config_context(transform_output="pandas"):
        assert isinstance(model.transform(x, s), pd.DataFrame)
        assert isinstance(model.reconstruct(x[:5], s[:5]), np.ndarray)
        assert np.isfinite(task_information_scorer()(model, x, s))


def test_saved_models_keep_set_output_and_take_a_path_under_home(two_tasks, tmp_path, monkeypatch):
    import pandas as pd

    x, s = two_tasks
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    model = fast(CVAE).fit(x[:100], s[:100]).set_output(transform="pandas")
    model.save("~/model.pt")
    assert (tmp_path / "model.pt").is_file() and not (tmp_path / "~").exists()
    loaded = CVAE.load("~/model.pt")
    assert isinstance(loaded.transform(x[:5], s[:5]), pd.DataFrame)
    model.set_output(transform="default").save(tmp_path / "plain.pt")
    assert isinstance(CVAE.load(tmp_path / "plain.pt").transform(x[:5], s[:5]), np.ndarray)


def test_score_weights_points_by_sample_weight(two_tasks):
    import sklearn
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    x, s = two_tasks
    model = fast(CVAE).fit(x, s)
    each = model.score_samples(x[:40], s[:40], n_samples=10)
    weights = np.linspace(0.0, 2.0, 40)
    weighted = model.score(x[:40], s[:40], n_samples=10, sample_weight=weights)
    assert weighted == pytest.approx(np.sum(weights * each) / np.sum(weights))
    assert model.score(x[:40], s[:40], n_samples=10, sample_weight=3.0) == pytest.approx(
        model.score(x[:40], s[:40], n_samples=10)
    )
    for bad, message in (
        (np.ones(39), r"shape \(39,\): one weight a point, \(40,\)"),
        (-weights, "non-negative"),
        (np.zeros(40), "not all zero"),
        ([np.nan] * 40, "finite"),
    ):
        with pytest.raises(ValueError, match=message):
            model.score(x[:40], s[:40], n_samples=10, sample_weight=bad)
    # A Pipeline under metadata routing passes sample_weight to score (README's recipe).
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(MinMaxScaler(clip=True), fast(CVAE))
        pipe[-1].set_transform_request(s=True).set_score_request(sample_weight=True)
        pipe.fit(x, s)
        routed = pipe.score(x[:40], s[:40], sample_weight=weights)
    direct = pipe[-1].score(pipe[0].transform(x[:40]), s[:40], sample_weight=weights)
    assert routed == pytest.approx(direct)
    assert routed != pytest.approx(pipe[-1].score(pipe[0].transform(x[:40]), s[:40]))


def test_another_librarys_name_of_a_setting_is_told_ours():
    with pytest.raises(TypeError, match=r"random_state \(did you mean 'seed'\?\)"):
        CVAE(random_state=0)
    with pytest.raises(TypeError, match=r"did you mean 'learning_rate'\?"):
        CVAE(lr=1e-3)
