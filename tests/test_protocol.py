"""The switches of the ``author`` protocol (docs/fidelity.md), each on its own."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import FAST, fast
from scipy.stats import norm

from optprior import CVAE, OptimalPriorCVAE
from optprior.data import SETTINGS
from optprior.experiments.config import AUTHOR, read_config_file, resolve, to_toml
from optprior.experiments.config import FAST as FAST_PROTOCOL
from optprior.experiments.reproduce import configs_for
from optprior.nn import GaussianDecoder
from optprior.nn.mlp import Dropout
from optprior.priors import OptimalPrior
from optprior.training import TrainingConfig

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "paper"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.toml")), ids=lambda p: p.stem)
def test_paper_config_files_state_the_paper_protocol(path):
    raw = read_config_file(path)
    built_in = resolve(raw["setting"], protocol="paper")
    assert raw["protocol"] == "paper"
    assert configs_for(raw["setting"], file_overrides=raw) == [built_in]
    assert path.read_text() == to_toml(built_in, "paper")


@pytest.mark.parametrize("setting", SETTINGS)
def test_the_default_protocol_is_the_authors(setting):
    """``optprior reproduce SETTING`` without --protocol runs the first author's protocol,
    and ``--protocol paper`` the setting's defaults alone."""
    built_in, paper = resolve(setting), resolve(setting, protocol="paper")
    assert configs_for(setting) == [built_in]
    assert built_in != paper
    for section in ("model", "training"):
        for key, value in AUTHOR[section].items():
            assert getattr(built_in, section)[key] == value


def test_unknown_protocol_is_named():
    with pytest.raises(ValueError, match="unknown protocol 'authors'; choose one of paper, author"):
        resolve("faces", protocol="authors")


def test_fast_protocol_trains_until_it_stops_improving():
    """The fast protocol lowers the learning rate on plateaus and stops on patience long
    before its cap (patience a multiple of the decay's, so the rate falls before the stop);
    everything else is the paper protocol's."""
    fast, paper = resolve("usps-mnist", protocol="fast"), resolve("usps-mnist", protocol="paper")
    training = fast.training
    assert training["learning_rate_patience"] > 0 and training["patience"] > 0
    assert training["patience"] % training["learning_rate_patience"] == 0
    assert training["epochs"] > paper.training["epochs"]
    changed = {k for k in training if training[k] != paper.training[k]}
    assert changed == {k for k, v in FAST_PROTOCOL["training"].items() if v != paper.training[k]}
    assert fast.model == paper.model and fast.method == paper.method


def test_t_dropout_only_before_its_output():
    prior = OptimalPrior(4, (8, 8, 8), dropout=0.5, dropout_last_only=True)
    layers = list(prior.discriminator.body)
    assert [i for i, layer in enumerate(layers) if isinstance(layer, Dropout)] == [len(layers) - 2]
    every = OptimalPrior(4, (8, 8, 8), dropout=0.5)
    assert sum(isinstance(layer, Dropout) for layer in every.discriminator.body) == 3
    model = fast(OptimalPriorCVAE, discriminator_dropout_layers="last")
    assert sum(isinstance(m, Dropout) for m in model._build(12, 2).prior.modules()) == 1
    with pytest.raises(ValueError, match="unknown discriminator_dropout_layers 'first'"):
        OptimalPriorCVAE(discriminator_dropout_layers="first")


def test_variance_from_z_is_the_gaussian_density_of_its_outputs():
    torch.manual_seed(0)
    decoder = GaussianDecoder(5, 2, (7,), "tanh", variance_from_z=True)
    z, x = torch.randn(4, 2), torch.randn(4, 5)
    with torch.no_grad():
        mu, logvar = decoder.mean_and_log_variance(z, None)
    assert logvar.shape == (4, 5) and bool((logvar > -9).all() and (logvar < 2).all())
    assert float(logvar.std(0).max()) > 1e-3  # sigma^2 varies with z
    expected = norm.logpdf(x.numpy(), mu.numpy(), np.exp(0.5 * logvar.numpy()))
    np.testing.assert_allclose(
        decoder.log_prob(x, z, None).detach().numpy(), expected.sum(-1), rtol=1e-5
    )
    with pytest.raises(ValueError, match="variance depends on z"):
        decoder.set_log_variance(0.0)


def test_variance_from_z_model_fits_saves_and_scores_alike(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6)).astype(np.float32)
    s = np.repeat([0, 1], 60)
    model = fast(CVAE, likelihood="gaussian", gaussian_variance="from_z").fit(x, s)
    assert model.module_.decoder.raw_logvar is None
    model.save(tmp_path / "m.pt")
    loaded = CVAE.load(tmp_path / "m.pt")
    torch.manual_seed(0)
    first = model.score_samples(x, s, n_samples=5)
    torch.manual_seed(0)
    np.testing.assert_array_equal(loaded.score_samples(x, s, n_samples=5), first)


@pytest.mark.parametrize(
    "from_zero, expected",
    [(False, [1 / 4, 2 / 4, 3 / 4, 1, 1]), (True, [0, 1 / 4, 2 / 4, 3 / 4, 1])],
)
def test_warmup_starts_at_zero_when_asked(two_tasks, from_zero, expected):
    config = TrainingConfig(warmup_epochs=4, warmup_from_zero=from_zero)
    assert [config.kl_weight(e) for e in range(5)] == expected
    x, s = two_tasks
    model = fast(CVAE, warmup_epochs=4, warmup_from_zero=from_zero, **{"epochs": 5}).fit(x, s)
    assert [r["beta"] for r in model.history_.epochs] == expected


def test_no_epoch_is_chosen_during_warmup(two_tasks):
    """With a patience of 1, a fit stops as soon as an epoch fails to improve; with
    ``select_after_warmup`` that count starts at the first epoch of full KL weight."""
    x, s = two_tasks
    settings = {**FAST, "epochs": 12, "warmup_epochs": 6, "patience": 1, "warmup_from_zero": True}
    # During warm-up the ELBO falls as the KL weight rises, so the first epochs win.
    free = CVAE(**settings).fit(x, s, x, s)
    assert free.history_.best_epoch < 6
    chosen = CVAE(select_after_warmup=True, **settings).fit(x, s, x, s)
    assert chosen.history_.best_epoch >= 6
    assert len(chosen.history_.epochs) >= 7
    assert chosen.history_.epochs[chosen.history_.best_epoch]["beta"] == 1.0


def test_validation_tasks_monitor_only_those_points(two_tasks):
    """Monitoring task 1 of the full validation set gives the first epoch's validation ELBO
    of a fit given task 1's validation points alone (same seed, same draws)."""
    x, s = two_tasks
    settings = {**FAST, "epochs": 1}
    target = s == 1
    only = CVAE(**settings).fit(x, s, x[target], s[target])
    monitored = CVAE(validation_tasks=[1], **settings).fit(x, s, x, s)
    pooled = CVAE(**settings).fit(x, s, x, s)
    first = [m.history_.epochs[0]["val_elbo"] for m in (only, monitored, pooled)]
    assert first[0] == first[1] != first[2]
    assert monitored.training.validation_tasks == (1,)
    with pytest.raises(ValueError, match=r"validation_tasks \[5\] has no validation points"):
        CVAE(validation_tasks=[5], **settings).fit(x, s, x, s)
    with pytest.raises(ValueError, match="validation_tasks must be a sequence"):
        TrainingConfig(validation_tasks="1")


def test_stopping_is_recorded_against_the_cap():
    from optprior.experiments.records import RunResult
    from optprior.experiments.tables import runs_table

    base = {"setting": "faces", "method": "cvae", "seed": 0, "status": "ok", "config": {}}
    capped = {**base, "run": "a", "epochs_run": 300, "best_epoch": 299, "hit_epoch_cap": True}
    stopped = {**base, "run": "b", "epochs_run": 120, "best_epoch": 90, "hit_epoch_cap": False}
    old = {**base, "run": "c", "epochs_run": 300, "config": {"training": {"epochs": 300}}}
    results = [RunResult.from_dict(r) for r in (capped, stopped, old)]
    assert [r.capped for r in results] == [True, False, True]
    table = runs_table(results)
    assert "| 300 (299), cap |" in table and "| 120 (90) |" in table
    assert "2 of 3 trained runs reached the epoch cap" in table
    assert "different epoch caps" not in table
    higher = {**old, "run": "d", "config": {"training": {"epochs": 600}}, "epochs_run": 600}
    table = runs_table([*results, RunResult.from_dict(higher)])
    assert "reached different epoch caps: faces/cvae (300, 600)" in table


def test_faces_style_scores_average_tasks_and_points(two_tasks):
    """Where every task is scored, ``test_log_likelihood`` is the mean of the task means
    and ``test_log_likelihood_over_points`` the mean over all test points."""
    from optprior.data import MultiTaskData, TaskSplit
    from optprior.experiments.config import EvaluationConfig
    from optprior.experiments.evaluate import evaluate

    x, s = two_tasks
    keep = np.r_[0:100, 200:240]  # 100 points of task 0, 40 of task 1
    split = TaskSplit(X=x[keep], s=s[keep], y=np.arange(len(keep)) % 3, index=keep)
    data = MultiTaskData("toy", 0, split, split, split, ("a", "b"), (3, 4), "bernoulli", None)
    model = fast(CVAE).fit(x, s)
    metrics = evaluate(model, data, EvaluationConfig(n_samples=5, figures=False), seed=0)
    a, b = metrics["test_log_likelihood/a"], metrics["test_log_likelihood/b"]
    assert metrics["test_log_likelihood"] == pytest.approx((a + b) / 2)
    assert metrics["test_log_likelihood_over_points"] == pytest.approx((100 * a + 40 * b) / 140)
    assert abs(a - b) > 1e-3  # so the two averages differ
    # each draw's ln q(z|s) - ln q(z) is at most ln 2 (two balanced tasks); the mean of
    # draws may fall a little below 0 where z barely depends on s
    assert -0.05 <= metrics["task_mutual_information"] <= math.log(2) + 1e-9


def test_weights_tuned_under_a_protocol_run_again_under_it(tmp_path, monkeypatch, capsys):
    """``reproduce --tune`` writes the protocol it tuned under as the file's top-level
    ``protocol``, so the file passed as ``--config`` sweeps under that protocol; tuning into
    a file of another protocol is refused (it could name one only)."""
    from optprior.cli import main
    from optprior.experiments import reproduce, tuning

    monkeypatch.setattr(reproduce, "check_data", lambda *args: None)
    trained = []
    monkeypatch.setattr(tuning, "run_sweep", lambda runs, *args: trained.append(runs) or [])
    monkeypatch.setattr(tuning, "_mean_score", lambda runs: -100.0)
    out, chosen = tmp_path / "out", tmp_path / "out" / "tune" / "usps-mnist.toml"
    argv = ["reproduce", "usps-mnist", "--out", str(out), "--seeds", "1", "--quiet"]
    assert main([*argv, "--tune", "hsic=10", "--protocol", "paper"]) == 0
    raw = read_config_file(chosen)
    assert raw == {"protocol": "paper", "method": {"hsic": {"invariance_weight": 10.0}}}
    (swept,) = configs_for("usps-mnist", file_overrides=raw)
    assert swept.training == resolve("usps-mnist", protocol="paper").training

    assert main([*argv, "--tune", "mmd=1", "--config", str(chosen)]) == 0  # the file's own
    assert set(read_config_file(chosen)["method"]) == {"hsic", "mmd"}
    capsys.readouterr()
    assert main([*argv, "--tune", "mmd=1"]) == 2  # under the default, into a paper file
    assert "holds weights tuned under protocol 'paper', and this --tune runs under 'author'" in (
        capsys.readouterr().err
    )
    # Every setting's earlier file is read before any training: a refusal costs none.
    trained.clear()
    chosen.rename(chosen.with_name("faces.toml"))  # the last setting's, of another protocol
    assert main([*argv[:1], "all", *argv[2:], "--tune", "mmd=1"]) == 2
    assert not trained and "faces.toml holds weights tuned under" in capsys.readouterr().err
    chosen.write_text("[method.hsic]\ninvariance_weight = 10.0\n")  # an older file
    assert main([*argv, "--tune", "mmd=1", "--protocol", "paper"]) == 2
    assert "names no protocol (written before --tune recorded it)" in capsys.readouterr().err


def test_a_config_file_naming_no_protocol_is_told_which_it_runs_under(
    tmp_path, capsys, monkeypatch
):
    """reproduce --config with a file that names no protocol (an older file, written
    when the default was the paper's) says it runs under the default; a file or a
    --protocol naming one hears nothing."""
    from optprior.cli import main
    from optprior.experiments import reproduce as reproduce_module

    ran = []
    monkeypatch.setattr(
        reproduce_module, "reproduce", lambda configs, *a, **k: ran.append(configs) or []
    )
    config = tmp_path / "old.toml"
    command = ["reproduce", "usps-mnist", "--config", str(config), "--out", str(tmp_path)]
    note = "names no protocol: it runs under 'author', the default since 2026-12-05"
    for text, options, told in [
        ("seeds = 1\n", [], True),
        ('protocol = "paper"\nseeds = 1\n', [], False),
        ("seeds = 1\n", ["--protocol", "paper"], False),
    ]:
        config.write_text(text)
        main([*command, *options, "--quiet"])
        assert (note in capsys.readouterr().err) is told
    assert [configs[0].training["epochs"] for configs in ran] == [1000, 300, 300]
