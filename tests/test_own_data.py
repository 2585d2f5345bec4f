"""``optprior compare``: the methods side by side on a user's own .npz file."""

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import tomllib
import torch
from helpers import REPO, count_epochs, signalled_output, sigterm

from optprior import CVAE
from optprior.cli import STOPPED_STATUS, main
from optprior.data.user import own_data_setting, sha256
from optprior.experiments import runner, status
from optprior.experiments.evaluate import NORMALIZED
from optprior.experiments.status import record_plan
from optprior.models.base import BaseModel
from optprior.training import stopping, trainer
from optprior.training.trainer import History

TINY = """
seeds = 1
[model]
latent_dim = 3
hidden_sizes = [16]
discriminator_hidden_sizes = [16]
[training]
epochs = 2
batch_size = 50
warmup_epochs = 1
[evaluation]
n_samples = 5
probe_points = 20
figures = false
normalizer_temperatures = 50
mlp_probe = false
"""


@pytest.fixture
def own_file(tmp_path, two_tasks):
    """An .npz of 240 binary 3 x 4 images in two tasks, labelled by their first pixel."""
    x, s = two_tasks
    path = tmp_path / "mine.npz"
    np.savez(path, X=x.reshape(len(x), 3, 4), s=s, y=(x[:, 0] > 0.5).astype(np.int64))
    return path


def compare_argv(data, tmp_path, toml: str = TINY) -> tuple[list[str], Path]:
    """``optprior compare`` arguments for the file ``data`` with the config ``toml``, and
    the --out folder they name."""
    config = tmp_path / "tiny.toml"
    config.write_text(toml)
    out = tmp_path / "runs"
    return ["compare", "--data", str(data), "--config", str(config), "--out", str(out)], out


def test_a_sweep_marks_runs_at_their_cap_instead_of_warning(own_file, tmp_path, capsys):
    """A run that used all its epochs is marked "cap" in the runs table; the fit's
    ConvergenceWarning, one per run, is silenced."""
    from sklearn.exceptions import ConvergenceWarning

    argv, _ = compare_argv(
        own_file, tmp_path, TINY.replace("warmup_epochs = 1", "warmup_epochs = 0")
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main([*argv, "--methods", "cvae", "--quiet", "--learning-rate", "1e-2"]) == 0
    assert not [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert "| mine/cvae/seed-0 | ok | cpu, 1 thread | 2 (1), cap |" in capsys.readouterr().out


def test_splits_share_the_test_set_and_draw_validation_by_seed(own_file):
    first = own_data_setting("mine", 0, file=str(own_file), test_fraction=0.25)
    second = own_data_setting("mine", 1, file=str(own_file), test_fraction=0.25)
    np.testing.assert_array_equal(first.test.index, second.test.index)
    assert not np.array_equal(first.val.index, second.val.index)
    for data in (first, second):
        every = np.concatenate([data.train.index, data.val.index, data.test.index])
        assert sorted(every) == list(range(240))  # disjoint and complete
        assert (data.test.s == 0).sum() == (data.test.s == 1).sum() == 30
        assert (data.val.s == 0).sum() == 9  # 0.1 of the 90 points left in task 0
    assert first.image_shape == (3, 4) and first.train.X.shape[1] == 12
    np.testing.assert_array_equal(first.test.y, (first.test.X[:, 0] > 0.5).astype(int))


def test_standardize_fits_the_points_outside_the_test_split_alone(tmp_path, capsys):
    """Each feature to mean 0 and standard deviation 1 over the training and validation
    points (the same for every seed), the test points scaled alike but never looked at;
    a constant feature is only centred. A compare with --standardize then fits without
    the warning of unscaled Gaussian data."""
    rng = np.random.default_rng(0)
    x = rng.normal([5.0, -3.0, 0.0], [10.0, 0.5, 1.0], (200, 3))
    x[:, 2] = 7.0
    path = tmp_path / "scaled.npz"
    np.savez(path, X=x, s=np.arange(200) % 2)
    options = {"file": str(path), "likelihood": "gaussian", "standardize": True}
    first, second = (own_data_setting("scaled", seed, **options) for seed in (0, 1))
    outside = np.concatenate([first.train.X, first.val.X])
    np.testing.assert_allclose(outside.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(outside.std(0), [1, 1, 0], atol=1e-5)
    rest = np.setdiff1d(np.arange(200), first.test.index)
    expected = (x[first.test.index] - x[rest].mean(0)) / np.where(
        x[rest].std(0) > 0, x[rest].std(0), 1
    )
    np.testing.assert_allclose(first.test.X, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(first.test.X, second.test.X)
    with pytest.raises(ValueError, match="standardize .* goes with the Gaussian likelihood"):
        own_data_setting("scaled", 0, file=str(path), standardize=True)
    with pytest.raises(ValueError, match="standardize must be true or false, got 'false'"):
        own_data_setting("scaled", 0, **{**options, "standardize": "false"})

    assert main(["config", "--data", str(path), "--likelihood", "gaussian", "--standardize"]) == 0
    assert "standardize = true" in capsys.readouterr().out
    argv, _ = compare_argv(path, tmp_path)
    argv += ["--likelihood", "gaussian", "--methods", "vae", "--seeds", "1", "--quiet"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main([*argv, "--standardize"]) == 0
    assert not [w for w in caught if "standardise X" in str(w.message)]


def test_bad_own_data_is_named(own_file, tmp_path):
    with pytest.raises(ValueError, match="data file .* has changed since these runs"):
        own_data_setting("mine", 0, file=str(own_file), sha256_digest="0" * 64)
    assert own_data_setting("mine", 0, file=str(own_file), sha256_digest=sha256(own_file))
    with pytest.raises(ValueError, match="not a task of"):
        own_data_setting("mine", 0, file=str(own_file), target_task=2)
    with pytest.raises(ValueError, match="target_task .* must be a whole number"):
        own_data_setting("mine", 0, file=str(own_file), target_task=1.5)
    with pytest.raises(ValueError, match=r"test_fraction .* must be a number in \(0, 1\)"):
        own_data_setting("mine", 0, file=str(own_file), test_fraction="0.2")
    with pytest.raises(ValueError, match=r"must lie in \(0, 1\), got 0"):
        own_data_setting("mine", 0, file=str(own_file), test_fraction=0)

    def saved(name, **arrays):
        np.savez(tmp_path / name, **arrays)
        return str(tmp_path / name)

    few = saved("few.npz", X=np.full((30, 2), 0.5), s=[0] * 25 + [1] * 5)
    with pytest.raises(ValueError, match=r"task\(s\) \[1\] .* fewer than 5 test points"):
        own_data_setting("few", 0, file=few)
    gaps = saved("gaps.npz", X=np.full((60, 2), 0.5), s=[0] * 30 + [2] * 30)
    with pytest.raises(ValueError, match=r"skips 1 task indices \[1\] of 0..2.*return_inverse"):
        own_data_setting("gaps", 0, file=gaps)
    ids = saved("ids.npz", X=np.full((60, 2), 0.5), s=[3, 3_000_000_000] * 30)  # subject ids
    with pytest.raises(
        ValueError, match=r"skips 2999999999 task indices \[0, 1, 2, 4, .*, '\.\.\.'\]"
    ):
        own_data_setting("ids", 0, file=ids)
    empty = saved("empty.npz", X=np.zeros((0, 4, 4)), s=np.zeros(0, int))
    with pytest.raises(ValueError, match=r"empty.npz: X of shape \(0, 4, 4\) holds no points"):
        own_data_setting("empty", 0, file=empty)
    huge = saved("huge.npz", X=np.full((40, 2), 0.5), y=[0.0, 1e30] * 20)
    with pytest.raises(ValueError, match=r"y holds 1e\+30 in row 1, too large for a class label"):
        own_data_setting("huge", 0, file=huge)
    labels = saved("labels.npz", X=np.full((40, 2), 0.5), y=[0, 1, -2, 0] * 10)
    with pytest.raises(ValueError, match="-1 where a point has none"):
        own_data_setting("labels", 0, file=labels)
    named = saved("named.npz", X=np.full((40, 2), 0.5), y=["cat", "dog"] * 20)
    with pytest.raises(ValueError, match=r"dtype <U3.*np.unique\(y, return_inverse=True\)"):
        own_data_setting("named", 0, file=named)
    whole = saved("whole.npz", X=np.full((40, 2), 0.5), y=np.tile([0.0, 1.0, -1.0, 2.0], 10))
    assert own_data_setting("whole", 0, file=whole).train.y.dtype == np.int64
    flags = saved("flags.npz", X=np.full((40, 2), 0.5), y=np.tile([True, False], 20))
    taken = own_data_setting("flags", 0, file=flags)
    assert taken.train.y.dtype == np.int64 and set(taken.train.y) == {0, 1}
    counts = saved("counts.npz", X=np.full((40, 2), 255.0))
    with pytest.raises(ValueError, match=r"Bernoulli .* --likelihood gaussian"):
        own_data_setting("counts", 0, file=counts)
    assert own_data_setting("counts", 0, file=counts, likelihood="gaussian")


def test_config_prints_the_compare_defaults_of_a_file_and_reads_them_back(
    own_file, tmp_path, capsys
):
    """``optprior config --data FILE`` prints every setting ``compare`` would use on FILE
    as TOML, which ``compare --config`` takes back unchanged (not the file's name or digest,
    which the command line gives); an edited value in it is used."""
    from optprior.experiments.config import own_data_config, read_config_file

    assert main(["config", "--data", str(own_file)]) == 0
    text = capsys.readouterr().out
    assert "optprior compare --data" in text and "sha256" not in text
    assert "latent_dim = 40" in text and "\n[method." not in text
    path = tmp_path / "mine.toml"
    path.write_text(text)
    assert own_data_config(own_file, None, read_config_file(path)) == own_data_config(
        own_file, None
    )
    path.write_text(text.replace("latent_dim = 40", "latent_dim = 7"))
    assert own_data_config(own_file, None, read_config_file(path)).model["latent_dim"] == 7
    # A built-in protocol's networks and training, over the estimators' defaults.
    assert main(["config", "--data", str(own_file), "--protocol", "author"]) == 0
    path.write_text(capsys.readouterr().out)
    author = own_data_config(own_file, None, read_config_file(path))
    assert author == own_data_config(own_file, None, protocol="author")
    assert author == own_data_config(own_file, None, {"protocol": "author"})
    assert author.training["epochs"] == 1000 and author.training["warmup_epochs"] == 100
    assert author.model["discriminator_hidden_sizes"] == [500, 500, 500]
    assert author.seeds == 3 and author.model["latent_dim"] == 40  # not the protocol's
    paper = own_data_config(own_file, None, {"training": {"epochs": 20}}, protocol="paper")
    assert (paper.training["epochs"], paper.training["patience"]) == (20, 30)
    with pytest.raises(ValueError, match="names protocol 'fast', --protocol says 'author'"):
        own_data_config(own_file, None, {"protocol": "fast"}, protocol="author")
    with pytest.raises(ValueError, match="setting 'faces' is for `optprior reproduce`"):
        own_data_config(own_file, None, read_config_file(REPO / "configs" / "faces.toml"))
    assert main(["config"]) == 2
    assert "one of the two" in capsys.readouterr().err
    for command in (["config", "faces", "--name", "x"], ["config", "--name", "x"]):
        assert main(command) == 2
        assert "--name goes with --data" in capsys.readouterr().err
    assert main(["compare", "--data", str(own_file), "--config", str(own_file)]) == 2
    assert "is not a TOML config file" in capsys.readouterr().err
    real = tmp_path / "real.npz"  # standardised, as the Gaussian likelihood takes them
    np.savez(real, X=np.random.default_rng(0).normal(size=(240, 12)), s=np.repeat([0, 1], 120))
    assert main(["config", "--data", str(real)]) == 2  # Bernoulli by default: refused
    assert main(["config", "--data", str(real), "--likelihood", "gaussian"]) == 0
    path.write_text(capsys.readouterr().out)
    assert read_config_file(path)["model"]["likelihood"] == "gaussian"


def test_config_takes_the_split_options_of_compare(tmp_path, capsys):
    """A target task of 20 points gets too few test points at the default test fraction:
    ``config --data`` takes ``--test-fraction`` (and the other split options) as
    ``compare`` does, and writes them into the TOML it prints."""
    from optprior.experiments.config import read_config_file

    small = tmp_path / "small.npz"
    rng = np.random.default_rng(0)
    np.savez(small, X=rng.random((200, 6)), s=np.repeat([0, 1], [180, 20]))
    assert main(["config", "--data", str(small)]) == 2
    assert "raise --test-fraction" in capsys.readouterr().err
    options = ["--test-fraction", "0.25", "--val-fraction", "0.2", "--target-task", "1"]
    assert main(["config", "--data", str(small), *options]) == 0
    path = tmp_path / "small.toml"
    path.write_text(capsys.readouterr().out)
    data = read_config_file(path)["data"]
    assert (data["test_fraction"], data["val_fraction"], data["target_task"]) == (0.25, 0.2, 1)
    assert main(["config", "faces", "--test-fraction", "0.25"]) == 2
    assert "--test-fraction goes with --data" in capsys.readouterr().err


@pytest.mark.slow
def test_compare_trains_scores_tabulates_skips_and_rescores_finished_runs(
    own_file, tmp_path, capsys, monkeypatch
):
    argv, out = compare_argv(own_file, tmp_path)
    assert main([*argv, "--quiet"]) == 0
    printed, err = capsys.readouterr()
    assert "3 runs planned (0 finished): mine: vae, cvae, optimal; seed 0" in err  # even quiet
    assert "### mine" in printed and "3 runs ok, 0 failed" in printed
    for method in ("vae", "cvae", "optimal"):
        assert f"| {method} | 1/0 |" in printed
    result = json.loads((out / "mine/optimal/seed-0/result.json").read_text())
    assert result["config"]["data"]["sha256_digest"] == sha256(own_file)
    assert result["metrics"]["accuracy_logistic"] is not None  # y was read
    assert "task_probe_mlp_cv" not in result["metrics"]  # [evaluation] mlp_probe = false
    assert (out / "results.png").is_file()
    written = (out / "mine/vae/seed-0/result.json").stat().st_mtime_ns

    shutil.rmtree(out / "planned")
    (out / "planned").write_text("")  # no folder for the plans: the sweep goes on without
    assert main([*argv, "--quiet"]) == 0  # finished runs are skipped
    assert (out / "mine/vae/seed-0/result.json").stat().st_mtime_ns == written
    err = capsys.readouterr().err
    assert "the runs' plan was not saved" in err and "3 runs planned (3 finished)" in err

    def no_training(self, *args, **kwargs):
        raise AssertionError("rescore must not train")

    kept = out / "mine/cvae/seed-0/model.pt"
    kept.rename(tmp_path / "cvae.pt")  # a finished run whose model was not kept
    with monkeypatch.context() as patch:
        patch.setattr(BaseModel, "fit", no_training)
        assert main([*argv, "--quiet", "--rescore"]) == 0
    assert (
        "--rescore: not scored again, having kept no model.pt (their scores stay as "
        "they were): mine/cvae/seed-0 (1 run)" in capsys.readouterr().err
    )
    assert "rescored" not in json.loads((out / "mine/cvae/seed-0/result.json").read_text())
    (tmp_path / "cvae.pt").rename(kept)
    rescored = json.loads((out / "mine/optimal/seed-0/result.json").read_text())
    assert "rescored" in rescored and rescored["wall_seconds"] == result["wall_seconds"]
    assert rescored["metrics"]["test_log_likelihood"] < 0  # scored again, Bernoulli data

    # --rescore normalizer: ln Z alone, the normalised likelihoods moved by its change, as
    # a full scoring gives them. Here the stored ln Z is 5 nats off, as is what it divides.
    path = out / "mine/optimal/seed-0/result.json"
    off = json.loads(path.read_text())
    normalised = [k for k in off["metrics"] if k.split("/")[0] in NORMALIZED]
    # test, validation and the prior's gain, each of both tasks and their mean
    assert len(normalised) == 9
    off["metrics"]["prior_log_normalizer"] += 5
    off["metrics"].update({k: off["metrics"][k] - 5 for k in normalised})
    path.write_text(json.dumps(off))
    with monkeypatch.context() as patch:
        patch.setattr(BaseModel, "fit", no_training)
        assert main([*argv, "--quiet", "--methods", "optimal,vae", "--rescore", "normalizer"]) == 0
    again = json.loads(path.read_text())
    assert again["rescored"]["metrics"] == "normalizer"
    assert again["rescored"]["earlier"] == rescored["rescored"]  # the full scoring's record
    for key, value in rescored["metrics"].items():
        assert again["metrics"][key] == pytest.approx(value, abs=1e-9), key
    vae = json.loads((out / "mine/vae/seed-0/result.json").read_text())
    assert vae["rescored"]["metrics"] == "all"  # no T: left as it was

    written = (out / "mine/vae/seed-0/result.json").stat().st_mtime_ns

    moved = tmp_path / "moved" / "mine.npz"  # the same bytes elsewhere: the same runs
    moved.parent.mkdir()
    moved.write_bytes(own_file.read_bytes())
    moved_argv = [*argv[:2], str(moved), *argv[3:]]
    assert main([*moved_argv, "--quiet"]) == 0
    assert (out / "mine/vae/seed-0/result.json").stat().st_mtime_ns == written

    np.savez(moved, X=np.full((50, 12), 0.5), s=np.repeat([0, 1], 25))
    assert main([*moved_argv, "--quiet"]) == 2
    assert "data.sha256_digest" in capsys.readouterr().err  # the file changed under its runs

    # Other evaluation settings: refused, naming --rescore, which scores under them.
    assert main([*argv, "--quiet", "--samples", "7"]) == 2
    hint = "--rescore (all metrics) scores finished runs again under the new evaluation"
    assert "evaluation.n_samples: 5 -> 7" in (err := capsys.readouterr().err) and hint in err
    assert "(0 finished, 3 refused)" in err  # the plan line says so too
    assert main([*argv, "--quiet", "--samples", "7", "--rescore", "normalizer"]) == 2
    capsys.readouterr()  # ln Z alone would leave the other scores of the old settings
    with monkeypatch.context() as patch:
        patch.setattr(BaseModel, "fit", no_training)
        assert main([*argv, "--quiet", "--methods", "vae", "--samples", "7", "--rescore"]) == 0
    assert (
        json.loads((out / "mine/vae/seed-0/result.json").read_text())["config"]["evaluation"][
            "n_samples"
        ]
        == 7
    )
    assert main([*argv, "--quiet", "--methods", "vae", "--samples", "7"]) == 0  # finished now
    assert (
        json.loads((out / "mine/vae/seed-0/result.json").read_text())["config"]["evaluation"][
            "n_samples"
        ]
        == 7
    )
    capsys.readouterr()
    # A request left unfinished (here: written by hand, naming the rescoring just done)
    # is gone on with, but a run scored under other evaluation settings is scored again.
    from optprior.experiments.runner import versions

    vae_result = out / "mine/vae/seed-0/result.json"
    done = json.loads(vae_result.read_text())["rescored"]["request"]
    request = {"metrics": "all", "started": done, "versions": versions()}
    (out / "rescore-all.json").write_text(json.dumps(request))
    with monkeypatch.context() as patch:
        patch.setattr(BaseModel, "fit", no_training)
        assert main([*argv, "--quiet", "--methods", "vae", "--samples", "9", "--rescore"]) == 0
    assert json.loads(vae_result.read_text())["config"]["evaluation"]["n_samples"] == 9
    capsys.readouterr()


@pytest.mark.slow
def test_compare_keeps_checkpoints_to_go_on_under_a_higher_cap(own_file, tmp_path, capsys):
    argv, out = compare_argv(own_file, tmp_path)
    run = out / "mine/optimal/seed-0"
    assert main([*argv, "--quiet", "--methods", "optimal", "--keep-checkpoints"]) == 0
    assert (run / "checkpoint.pt").is_file()
    assert main([*argv, "--quiet", "--methods", "optimal", "--epochs", "3"]) == 0
    result = json.loads((run / "result.json").read_text())
    assert result["epochs_run"] == 3 and result["resumed_from_checkpoint"]
    assert not (run / "checkpoint.pt").exists()  # not kept this time
    assert main([*argv, "--quiet", "--methods", "optimal", "--epochs", "4"]) == 2
    assert "cap of 3 epochs, which it reached" in capsys.readouterr().err


def test_compare_refuses_paper_names_odd_names_unknown_keys_and_mixed_executors(
    own_file, tmp_path, capsys
):
    argv = ["compare", "--data", str(own_file), "--out", str(tmp_path / "runs")]
    assert main([*argv, "--name", "usps-mnist"]) == 2
    assert "names a setting of the paper: choose another --name" in capsys.readouterr().err
    faces = tmp_path / "faces.npz"
    faces.write_bytes(own_file.read_bytes())
    assert main(["compare", "--data", str(faces), "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert (
        "'faces' (from the file name 'faces.npz') names a setting of the paper: pass --name" in err
    )
    for name in ("a/b", "../up", "two words"):
        assert main([*argv, "--name", name]) == 2
        assert "cannot name the runs' folder" in capsys.readouterr().err
    config = tmp_path / "bad.toml"
    config.write_text("[data]\nimage_size = [8, 8]\n")
    assert main([*argv, "--config", str(config)]) == 2
    assert "unknown key(s) ['image_size'] in [data]" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*argv, "--jobs", "0"])
    assert "--jobs must be a whole number >= 1" in capsys.readouterr().err
    assert main([*argv, "--address", "ray://head:10001"]) == 2
    assert "--address is the Ray cluster of --executor ray" in capsys.readouterr().err
    missing = ["compare", "--data", str(tmp_path / "none.npz"), "--address", "ray://h:1"]
    assert main(missing) == 2  # refused before the data are read
    assert "--address is the Ray cluster" in capsys.readouterr().err
    assert main([*argv, "--executor", "ray", "--jobs", "2"]) == 2
    assert "--jobs is for local processes" in capsys.readouterr().err


def test_one_task_partial_labels_and_no_validation_split(tmp_path, two_tasks, capsys):
    x, _ = two_tasks
    y = (x[:, 0] > 0.5).astype(np.int64)
    y[::3] = -1  # a third of the points, test points among them, unlabelled
    path = tmp_path / "single.npz"
    np.savez(path, X=x, y=y)  # no s: one task
    argv, out = compare_argv(path, tmp_path)
    assert main([*argv, "--methods", "vae", "--val-fraction", "0", "--quiet"]) == 0
    result = json.loads((out / "single/vae/seed-0/result.json").read_text())
    assert result["status"] == "ok" and result["config"]["data"]["val_fraction"] == 0
    assert result["metrics"]["task_probe"] is None  # one task: nothing to probe
    assert 0.0 <= result["metrics"]["accuracy_logistic"] <= 1.0


def test_vectors_get_no_image_figures(tmp_path, two_tasks, capsys):
    x, s = two_tasks
    path = tmp_path / "vectors.npz"
    np.savez(path, X=x, s=s)
    argv, out = compare_argv(path, tmp_path, TINY.replace("figures = false", "figures = true"))
    assert main([*argv, "--methods", "cvae", "--quiet"]) == 0
    figures = json.loads((out / "vectors/cvae/seed-0/result.json").read_text())["figures"]
    assert figures == ["curves.png", "embedding.png"]
    lines = (out / "results.md").read_text().splitlines()
    (row,) = [line for line in lines if line.startswith("| cvae | 1/0 |")]
    assert "| n/a | n/a |" in row and "missing" not in row  # accuracy: no y


def test_status_estimates_the_time_a_run_has_left_from_its_recent_epochs(tmp_path, monkeypatch):
    folder = tmp_path / "mine/cvae/seed-0"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"training": {"epochs": 300}}')
    (folder / "checkpoint.pt").write_bytes(b"")
    # 30 epochs: slow ones long ago, then 10 s each and one that spans a pause.
    seconds = [50.0] * 20 + [10.0] * 9 + [2000.0]
    history = History(epochs=[{"seconds": t} for t in seconds], best_epoch=29)
    monkeypatch.setattr(status, "checkpoint_history", lambda path: history)
    found = status.run_status(folder)
    assert found["state"] == "interrupted" and found["epoch_seconds"] == 2000.0
    assert found["seconds_left"] == 270 * 10.0  # the median of the last 10 epochs
    row = status.status_table([found]).splitlines()[2]
    assert row.startswith("| mine/cvae/seed-0 | interrupted | 30/300 (29) | 2000.0 | 45 min | ")


def test_status_reads_the_stage_that_trains_and_a_kept_checkpoint_before_the_model(
    tmp_path, monkeypatch
):
    """A post-hoc run training its own T shows T's epochs (its newer ``.prior``
    checkpoint), not its CVAE's; a run that kept its checkpoint (``--keep-checkpoints``)
    and saved its model after it is being scored, not trained."""
    folder = tmp_path / "mine/posthoc/seed-0"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"training": {"epochs": 300}}')
    cvae, t = folder / "checkpoint.pt", folder / "checkpoint.pt.prior"
    for path, when in ((cvae, 1000), (t, 2000)):
        path.write_bytes(b"")
        os.utime(path, (when, when))
    histories = {
        cvae: History(epochs=[{"seconds": 5.0}] * 120, best_epoch=100),
        t: History(epochs=[{"seconds": 1.0}] * 7, best_epoch=6),
    }
    monkeypatch.setattr(status, "checkpoint_history", lambda path: histories[path])
    found = status.run_status(folder)
    assert found["state"] == "interrupted" and (found["epochs"], found["best_epoch"]) == (7, 6)
    assert found["seconds_left"] == 293 * 1.0
    assert "| T's fit |" in status.status_table([found])

    host, pid = socket.gethostname(), os.getppid()  # a live process holds the run
    (folder / "lock").write_text(json.dumps({"host": host, "pid": pid, "token": "t"}))
    (folder / "model.pt").write_bytes(b"")  # saved after T's checkpoint, which is kept
    assert status.run_status(folder)["state"] == "scoring"
    (folder / "lock").unlink()  # killed while scoring: trained, its scoring left
    found = status.run_status(folder)
    assert found["state"] == "interrupted" and "| trained: its scoring is left |" in (
        status.status_table([found])
    )
    assert status.time_left([found]) == "Left to train: none (1 trained run is left to score)."

    # Killed before its first checkpoint: started, to train from the start.
    started = tmp_path / "mine/cvae/seed-0"
    started.mkdir(parents=True)
    (started / "config.json").write_text('{"training": {"epochs": 300}}')
    found = status.run_status(started)
    assert found["state"] == "interrupted"
    assert found["detail"] == "no checkpoint yet: trains from the start"


def test_status_estimates_the_sweeps_training_left_from_each_methods_finished_runs():
    def run(name: str, state: str, seconds: float | None = None) -> dict[str, object]:
        return {"run": name, "state": state, "training_seconds": seconds}

    statuses = [
        run("faces/cvae/seed-0", "finished", 100.0),
        run("faces/cvae/seed-1", "finished", 300.0),
        run("faces/cvae/seed-2", "finished", 2000.0),  # the median, 300, is the pace
        {"run": "faces/cvae/seed-3", "state": "not started"},
        run("faces/cvae/seed-4", "interrupted", 120.0),  # 180 s left
        run("faces/cvae/seed-5", "interrupted", 400.0),  # past the pace: none left
        run("usps-mnist/cvae/seed-0", "finished", 60.0),  # another setting's pace
        {"run": "usps-mnist/cvae/seed-1", "state": "failed"},
        {"run": "faces/vamp/seed-0", "state": "not started"},
        {"run": "faces/vamp/seed-1", "state": "not started"},
        {"run": "faces/cvae/seed-6", "state": "scoring", "trained": True},  # nothing left
    ]
    line = status.time_left(statuses)
    # 300 + 180 + 0 + 60 s; the trained run's scoring is left, no training
    assert line.startswith("Left to train: about 9 min for 4 runs")
    assert "(1 run already past that pace, counted as none left)" in line
    assert line.endswith("none of their method finished: faces/vamp (2).")
    assert line in status.status_table(statuses)
    assert status.time_left(statuses[:3]) == ""
    assert status.time_left(statuses[8:10]) == (
        "Left to train: not known yet; not counted, none of their method finished: faces/vamp (2)."
    )


def test_status_lists_finished_training_interrupted_and_failed_runs(
    own_file, tmp_path, capsys, monkeypatch
):
    argv, out = compare_argv(own_file, tmp_path)
    assert main([*argv, "--methods", "vae,cvae", "--quiet"]) == 0
    capsys.readouterr()

    # An interrupted run: a checkpoint after 2 epochs, no result; then the same run with a
    # live owner (this test's parent process) in its lock.
    folder = out / "mine/optimal/seed-0"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"training": {"epochs": 7}}')
    x = np.load(own_file)["X"].reshape(240, -1)
    s = np.load(own_file)["s"]
    monkeypatch.setattr(trainer, "CHECKPOINT_SECONDS", 0.0)
    CVAE(latent_dim=2, hidden_sizes=(8,), epochs=2, progress=False).fit(
        x, s, checkpoint=folder / "checkpoint.pt"
    )
    failed = out / "mine/vae/seed-1"
    failed.mkdir()
    failed_result = {"run": "mine/vae/seed-1", "setting": "mine", "method": "vae", "seed": 1}
    failed_result.update(status="failed", error="ValueError: bad\nmore")
    (failed / "result.json").write_text(json.dumps(failed_result))

    def table(folder: Path = out) -> dict[str, str]:
        assert main(["status", str(folder)]) == 0
        lines = capsys.readouterr().out.splitlines()
        rows = [line for line in lines if line.startswith("| ") and not line.startswith("| run ")]
        names = [line.split(" | ")[0][2:] for line in rows]
        assert len(set(names)) == len(names), "a run listed twice"
        return dict(zip(names, rows, strict=True))

    rows = table()
    assert " | finished | 2 (" in rows["mine/vae/seed-0"]
    assert " | finished | 2 (" in rows["mine/cvae/seed-0"]
    assert (
        " | failed | " in rows["mine/vae/seed-1"] and "ValueError: bad |" in rows["mine/vae/seed-1"]
    )
    assert " | interrupted | 2/7 (" in rows["mine/optimal/seed-0"]
    (folder / "config.json").write_text('{"training": ')  # damaged: named in its row
    assert (
        f"{folder / 'config.json'} is not a readable run configuration"
        in (table()["mine/optimal/seed-0"])
    )
    (folder / "config.json").write_text('{"training": {"epochs": 7}}')

    host, pid = socket.gethostname(), os.getppid()  # a live process
    (folder / "lock").write_text(json.dumps({"host": host, "pid": pid, "token": "t"}))
    row = table()["mine/optimal/seed-0"]
    assert " | training | 2/7 (" in row and row.endswith(f"by {host}:{pid} |")

    # A lock whose process has died is taken over by the next sweep: interrupted.
    dead = max(int(entry) for entry in os.listdir("/proc") if entry.isdigit()) + 10_000
    (folder / "lock").write_text(json.dumps({"host": host, "pid": dead, "token": "t"}))
    assert " | interrupted | 2/7 (" in table()["mine/optimal/seed-0"]

    # The failed run being tried again: training, with the earlier error beside the owner;
    # once its process is gone, its newer model means interrupted, not failed.
    (failed / "lock").write_text(json.dumps({"host": host, "pid": pid, "token": "t"}))
    row = table()["mine/vae/seed-1"]
    assert " | training | " in row and row.endswith(
        f"by {host}:{pid}; an earlier try failed: ValueError: bad |"
    )
    (failed / "model.pt").write_bytes(b"")
    os.utime(failed / "result.json", (0, 0))
    assert " | scoring | " in table()["mine/vae/seed-1"]  # trained again, being scored
    (failed / "lock").unlink()
    assert " | interrupted | " in table()["mine/vae/seed-1"]

    # A part of the sweep: one run's folder (also as "."), a setting's or a method's.
    everything = set(table())
    monkeypatch.chdir(folder)
    parts = {
        folder: {"mine/optimal/seed-0"},
        Path("."): {"mine/optimal/seed-0"},  # named by the folders above it
        out / "mine": everything,
        out / "mine" / "vae": {"mine/vae/seed-0", "mine/vae/seed-1"},
    }
    for part, names in parts.items():
        assert set(table(part)) == names
    assert " | interrupted | 2/7 (" in table(Path("."))["mine/optimal/seed-0"]

    # A run a sweep planned but none has started has no folder; the sweeps' plans name it.
    (plan,) = (out / "planned").glob("*.json")
    assert json.loads(plan.read_text()) == ["mine/cvae/seed-0", "mine/vae/seed-0"]
    record_plan(["mine/optimal/seed-1", "mine/vae/seed-0"], out)  # another sweep's plan
    rows = table()
    assert " | not started | " in rows["mine/optimal/seed-1"]
    assert " | finished | " in rows["mine/vae/seed-0"]
    assert len(rows) == 5

    # A damaged result is an unreadable run; a damaged plan is a warning, the rest stays.
    (out / "mine/cvae/seed-0/result.json").write_text("{not json")
    plan.write_text('{"not": "a list"}')
    (out / "planned" / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    assert main(["status", str(out)]) == 0
    printed = capsys.readouterr()
    assert "| mine/cvae/seed-0 | unreadable | " in printed.out
    assert "| mine/vae/seed-0 | finished | " in printed.out
    assert "| mine/optimal/seed-1 | not started | " in printed.out  # the intact plan
    assert f"its runs not started are missing: {plan}: not a list of run names" in printed.err
    assert "deep.json: maximum recursion depth" in printed.err
    assert "planned" not in printed.out

    assert main(["status", str(tmp_path / "nothing")]) == 2
    assert "no folder" in capsys.readouterr().err


@pytest.mark.slow
def test_paired_points_compares_two_runs_on_the_same_points(tmp_path, two_tasks, capsys):
    """scripts/paired_points.py scores both runs' points afresh: a run against itself
    differs by exactly 0 on every point (same points, binarisation and draws); against
    another method, the rows count the validation and test points of the target."""
    x, s = two_tasks
    path = tmp_path / "pair.npz"
    np.savez(path, X=x, s=s)
    argv, out = compare_argv(path, tmp_path)
    assert main([*argv, "--methods", "vae,cvae", "--target-task", "1", "--quiet"]) == 0
    script = [sys.executable, str(REPO / "scripts/paired_points.py"), "--samples", "5"]
    runs = [str(out / f"pair/{method}/seed-0") for method in ("cvae", "cvae", "vae")]
    same = subprocess.run([*script, *runs[:2]], capture_output=True, text=True, check=True)
    rows = [line for line in same.stdout.splitlines() if line.startswith("| task-1 |")]
    assert len(rows) == 2 and all("+0.00 ± 0.00 | 0 |" in row for row in rows), same.stdout
    other = subprocess.run([*script, *runs[1:]], capture_output=True, text=True, check=True)
    result = json.loads((out / "pair/cvae/seed-0/result.json").read_text())
    assert "vae/seed-0 minus cvae/seed-0" in other.stdout
    assert "| task-1 | validation | 10 |" in other.stdout and "| task-1 | test |" in other.stdout
    assert result["status"] == "ok"
    # the curves of the same runs, with the estimate's own noise from their model.pt
    curves = [sys.executable, str(REPO / "scripts/compare_curves.py"), "--draws", "3"]
    curves += ["--from-epoch", "0", "--window", "1", "--every", "1"]
    labelled = [f"{m}={out / 'pair' / m}" for m in ("cvae", "vae")]
    table = subprocess.run([*curves, *labelled], capture_output=True, text=True)
    assert table.returncode == 0, table.stderr
    rows = [line for line in table.stdout.splitlines() if line.startswith(("| cvae", "| vae"))]
    assert len(rows) == 2 and all(row.endswith("(1 run) |") for row in rows), table.stdout
    assert "too short" in rows[0]  # 2 epochs: no 51-epoch mean to measure noise around


def test_sigterm_stops_a_sweep_as_a_time_limit_passing_then_and_the_same_command_goes_on(
    own_file, tmp_path, capfd, monkeypatch
):
    argv, out = compare_argv(own_file, tmp_path)
    argv += ["--methods", "cvae", "--seeds", "2", "--quiet"]
    first, second = out / "mine/cvae/seed-0", out / "mine/cvae/seed-1"
    handler = signal.getsignal(signal.SIGTERM)
    # As its first epoch starts: the first run stops after that epoch with its checkpoint
    # written, the second does not start; the tables are written, exit status 3.
    with monkeypatch.context() as patch:
        count_epochs(patch, interrupt_at=1, interrupt=sigterm)
        assert main(argv) == STOPPED_STATUS
    assert signal.getsignal(signal.SIGTERM) is handler  # the command's own is gone
    printed = capfd.readouterr()
    assert "optprior: SIGTERM: each run in training stops after its epoch" in printed.err
    assert "Stopped (SIGTERM asked to stop): 2 of this sweep's runs left" in printed.out
    assert "seed-0 stopped: after epoch 1 of at most 2 (SIGTERM asked to stop)" in printed.out
    assert "seed-1 stopped: not started: SIGTERM asked to stop" in printed.out
    assert first.joinpath("checkpoint.pt").is_file() and not first.joinpath("result.json").exists()
    assert not second.exists()

    # While a trained run is scored: it stops at once unscored, its model kept.
    scored = []

    def terminated_while_scoring(*args, **kwargs):
        scored.append(1)
        sigterm()
        raise AssertionError("scoring went on after SIGTERM")

    with monkeypatch.context() as patch:
        patch.setattr(runner, "evaluate", terminated_while_scoring)
        assert main(argv) == STOPPED_STATUS
    assert scored == [1]  # the second run did not start
    assert "seed-0 stopped: trained, not scored: SIGTERM asked to stop" in capfd.readouterr().out
    assert first.joinpath("model.pt").is_file() and not first.joinpath("result.json").exists()

    assert main(argv) == 0  # the same command goes on: the first run scored, the second run
    assert "2 runs ok, 0 failed" in capfd.readouterr().out
    result = json.loads(first.joinpath("result.json").read_text())
    assert result["resumed_from_model"] and result["epochs_run"] == 2


@pytest.mark.slow
@pytest.mark.parametrize("to", ["group", "sweep"])
def test_sigterm_stops_a_sweep_of_workers_after_their_epochs(to, own_file, tmp_path):
    """SIGTERM to the sweep's process group (a batch job's end) or to its process alone
    (``kill PID``): both runs in training stop after their epoch with their checkpoints
    written, the two queued do not start, the tables are written, exit status 3."""
    endless = TINY.replace("epochs = 2", "epochs = 1000000\npatience = 0")
    argv, out = compare_argv(own_file, tmp_path, endless)
    argv += ["--methods", "cvae,vae", "--seeds", "2", "--jobs", "2", "--quiet"]
    sweep = subprocess.Popen(
        [sys.executable, "-m", "optprior.cli", *argv],
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while len(list(out.glob("mine/*/seed-*/config.json"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    send = os.killpg if to == "group" else os.kill
    printed, err = signalled_output(sweep, send, signal.SIGTERM, timeout=120)
    assert sweep.returncode == STOPPED_STATUS, err
    assert "Stopped (SIGTERM asked to stop): 4 of this sweep's runs left" in printed, printed
    assert printed.count("(SIGTERM asked to stop); ") == 2  # stopped after an epoch
    assert printed.count("stopped: not started: SIGTERM asked to stop") == 2
    assert len(list(out.glob("mine/*/seed-*/checkpoint.pt"))) == 2
    assert not list(out.glob("mine/*/seed-*/result.json")) and "Traceback" not in err


def test_a_sweep_stops_at_its_time_limit_and_the_same_command_goes_on(
    own_file, tmp_path, capsys, monkeypatch
):
    argv, out = compare_argv(own_file, tmp_path)
    argv += ["--methods", "cvae", "--seeds", "2", "--quiet", "--time-limit", "60"]
    first, second = out / "mine/cvae/seed-0", out / "mine/cvae/seed-1"

    def clock_late_once(late: Callable[[], Any]) -> SimpleNamespace:
        """The trainer's clocks, with time.time() far past any limit once ``late()``."""

        def now() -> float:
            return math.inf if late() else time.time()

        return SimpleNamespace(time=now, monotonic=time.monotonic, perf_counter=time.perf_counter)

    # Late once the first run has started: it stops after its first epoch with its
    # checkpoint written, and the second does not start.
    with monkeypatch.context() as patch:
        patch.setattr(stopping, "time", clock_late_once(first.joinpath("config.json").is_file))
        assert main(argv) == STOPPED_STATUS
    printed = capsys.readouterr().out
    assert "0 runs ok, 0 failed" in printed and "limit: 2 of this sweep's runs" in printed
    assert "seed-0 stopped: after epoch 1 of at most 2 (the time limit had passed)" in printed
    assert "seed-1 stopped: not started" in printed
    assert first.joinpath("checkpoint.pt").is_file() and not first.joinpath("result.json").exists()
    assert not second.exists()

    # Late once the first run is trained: its model is kept, the run left unscored.
    with monkeypatch.context() as patch:
        patch.setattr(stopping, "time", clock_late_once(first.joinpath("model.pt").is_file))
        assert main(argv) == STOPPED_STATUS
    assert "seed-0 stopped: trained, not scored" in capsys.readouterr().out
    assert first.joinpath("model.pt").is_file() and not first.joinpath("result.json").exists()

    assert main(argv) == 0  # the same command goes on: the first run scored, the second run
    assert "2 runs ok, 0 failed" in capsys.readouterr().out
    result = json.loads(first.joinpath("result.json").read_text())
    assert result["resumed_from_model"] and "stop_at" not in result["config"]
    with pytest.raises(SystemExit):
        main([*argv[:-2], "--time-limit", "0"])
    assert "--time-limit must be minutes > 0, got '0'" in capsys.readouterr().err

    # --rescore keeps to the limit too: past it, finished runs keep their scores, and the
    # same command goes on with the runs it had not reached, not with those it had.
    def rescored(folder: Path) -> dict | None:
        return json.loads(folder.joinpath("result.json").read_text()).get("rescored")

    capsys.readouterr()
    with monkeypatch.context() as patch:  # late once the first run is scored again
        patch.setattr(stopping, "time", clock_late_once(lambda: rescored(first)))
        assert main([*argv, "--rescore"]) == STOPPED_STATUS  # runs are left: go on
    request = out / "rescore-all.json"
    assert rescored(first) is not None and rescored(second) is None and request.is_file()
    printed = capsys.readouterr().out
    assert "1 run not scored again yet (--rescore all" in printed
    assert "seed-1 stopped: not scored again: the time limit had passed" in printed
    assert main(["status", str(out)]) == 0
    assert f"unfinished: --rescore all ({request})" in capsys.readouterr().out
    first_rescoring = rescored(first)
    assert main([*argv, "--rescore"]) == 0
    capsys.readouterr()
    assert main(["status", str(out)]) == 0 and "unfinished" not in capsys.readouterr().out
    assert rescored(first) == first_rescoring  # done by this request: not redone
    assert rescored(second)["request"] == first_rescoring["request"] and not request.exists()
    # A new request scores every run again, but not a run its sweep trains (and so scores).
    assert main([*argv, "--seeds", "3", "--rescore"]) == 0
    assert rescored(first)["request"] == rescored(second)["request"] != first_rescoring["request"]
    assert rescored(first)["earlier"] == first_rescoring and not request.exists()
    assert rescored(out / "mine/cvae/seed-2") is None
    # A request made by other code is not gone on with: every run is scored again.
    latest = rescored(first)["request"]
    with monkeypatch.context() as patch:  # late once the first run is scored anew
        patch.setattr(
            stopping, "time", clock_late_once(lambda: rescored(first)["request"] != latest)
        )
        assert main([*argv, "--seeds", "3", "--rescore"]) == STOPPED_STATUS
    stored = json.loads(request.read_text())
    assert rescored(first)["request"] == stored["started"]
    request.write_text(json.dumps({**stored, "versions": {"optprior": "0.0"}}))
    assert main([*argv, "--seeds", "3", "--rescore"]) == 0
    assert rescored(first)["request"] != stored["started"] and not request.exists()


def test_a_sweep_says_why_its_runs_failed_after_its_tables(own_file, tmp_path, capsys):
    """The reason of a failed run is printed last, under the count, and written under the
    Runs table, not only into its result.json."""
    argv, out = compare_argv(own_file, tmp_path)
    assert main([*argv, "--methods", "cvae", "--learning-rate", "1e6", "--quiet"]) == 1
    printed = capsys.readouterr().out.rstrip().splitlines()
    assert printed[-2] == f"0 runs ok, 1 failed; tables in {out}"
    assert printed[-1].startswith("  failed: mine/cvae/seed-0: FloatingPointError: training di")
    table = (out / "results.md").read_text()
    assert "Why runs failed" in table and "- mine/cvae/seed-0: FloatingPointError" in table


@pytest.mark.slow
def test_the_warnings_of_a_sweeps_workers_read_as_the_command_lines(own_file, tmp_path, capfd):
    """Warnings raised in --jobs workers are shown as the single process shows them
    (``optprior: warning: ...``), not as Python's source-line warnings."""
    argv, _ = compare_argv(
        own_file, tmp_path, TINY.replace("warmup_epochs = 1", "warmup_epochs = 5")
    )
    assert main([*argv, "--methods", "vae,cvae", "--jobs", "2", "--threads", "1", "--quiet"]) == 0
    printed = capfd.readouterr().err  # the workers' own stderr
    assert "optprior: warning: mine/vae/seed-0: all 2 epochs trained came before the KL" in printed
    assert "UserWarning" not in printed


def test_a_rescoring_cut_short_does_not_score_again_the_runs_its_sweeps_trained(own_file):
    """A run a --rescore sweep trained (and so scored, with the request's code, after it
    began) is done by that request also when the request goes on in a later sweep; one
    scored before it began, or by other code, is scored again."""
    from dataclasses import replace

    from optprior.experiments.config import own_data_config
    from optprior.experiments.runner import _now, plan, to_rescore, versions

    before = _now()
    request = _now()
    (run,) = plan(
        own_data_config(own_file, None, {**tomllib.loads(TINY), "methods": ["cvae"], "seeds": 1}),
        own_file.parent,
    )
    run = replace(run, rescore="all", rescore_request=request)
    run.folder.mkdir(parents=True)
    (run.folder / "model.pt").write_bytes(b"")
    trained = run.result("ok", config=run.resolved(), versions=versions())
    assert to_rescore(run, trained)  # scored when? unknown (written before scored_at)
    assert not to_rescore(run, replace(trained, scored_at=_now()))
    assert to_rescore(run, replace(trained, scored_at=before))
    assert to_rescore(run, replace(trained, scored_at=_now(), versions={"optprior": "0.0"}))


def test_an_unfinished_run_of_another_config_is_refused_and_kept(own_file, monkeypatch):
    """A run started (checkpoint written) and then asked for with another configuration
    is refused with the difference named, its checkpoint kept for the first config."""
    from helpers import count_epochs

    from optprior.experiments.config import own_data_config
    from optprior.experiments.runner import execute, plan

    tiny = {**tomllib.loads(TINY), "methods": ["cvae"]}
    (run,) = plan(
        own_data_config(own_file, None, tiny, {"training": {"epochs": 4}}), own_file.parent
    )
    (other,) = plan(
        own_data_config(
            own_file, None, tiny, {"training": {"epochs": 4}, "evaluation": {"n_samples": 7}}
        ),
        own_file.parent,
    )
    monkeypatch.setattr(trainer, "CHECKPOINT_SECONDS", 0.0)
    with monkeypatch.context() as patch:
        count_epochs(patch, interrupt_at=3)
        with pytest.raises(KeyboardInterrupt):
            execute(run)
    checkpoint = run.folder / "checkpoint.pt"
    saved = checkpoint.read_bytes()
    refused = execute(other)  # a sweep refuses it before any run (stored_results)
    assert refused.status == "failed" and refused.error.startswith("ConfigMismatchError")
    assert "was started with a different configuration (evaluation.n_samples: 5 -> 7" in (
        refused.error
    )
    assert checkpoint.read_bytes() == saved
    leftover = run.folder / ".checkpoint.pt.0123456789ab.tmp"  # a write cut off by a kill
    leftover.write_bytes(b"partial")
    started = count_epochs(monkeypatch)
    result = execute(run)
    assert result.status == "ok" and result.resumed_from_checkpoint and len(started) == 2
    assert not leftover.exists()


def test_figures_are_drawn_again_from_a_finished_runs_model(
    own_file, tmp_path, capsys, monkeypatch
):
    """``optprior figures``: a sweep without figures gets them afterwards, T's calibration
    for the optimal prior among them, each listed in its run's result."""
    argv, out = compare_argv(own_file, tmp_path)
    argv += ["--methods", "cvae,optimal", "--quiet"]
    assert main(argv) == 0
    optimal, cvae = out / "mine/optimal/seed-0", out / "mine/cvae/seed-0"
    assert not list(out.glob("mine/*/seed-0/*.png"))  # figures = false
    (cvae / "model.pt").rename(tmp_path / "kept.pt")  # a run without its model: passed over
    capsys.readouterr()
    assert main(["figures", str(out), "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    assert f"{cvae}: skipped, its model.pt was not kept" in printed
    drawn = ["calibration.png", "curves.png", "embedding.png", "reconstructions.png"]
    assert f"{optimal}: {', '.join(drawn)}" in printed
    assert all((optimal / name).is_file() for name in drawn)
    assert json.loads((optimal / "result.json").read_text())["figures"] == drawn
    assert "links them in OUT/results.md" in printed
    assert main(["figures", str(out / "mine" / "cvae")]) == 0  # a method's folder, as status
    nothing = capsys.readouterr()  # nothing to draw: said, not 'links them'
    assert f"{cvae}: skipped" in nothing.out
    assert "links them" not in nothing.out
    assert "no figures drawn: none of these runs kept its model.pt" in nothing.err
    assert main(["figures", str(optimal / "nowhere")]) == 2
    assert "no folder" in capsys.readouterr().err
    # A run held by another process is passed over, named; the others are drawn.
    (optimal / "embedding.png").unlink()
    owner = {"host": "another-machine", "pid": 1, "token": "its own"}
    (optimal / "lock").write_text(json.dumps(owner))
    (tmp_path / "kept.pt").rename(cvae / "model.pt")
    assert main(["figures", str(out)]) == 1
    printed = capsys.readouterr()
    assert f"{optimal}: not drawn: RuntimeError: held by" in printed.err
    assert f"{cvae}: curves.png, embedding.png, reconstructions.png" in printed.out
    assert not (optimal / "embedding.png").exists()
    (optimal / "lock").unlink()
    monkeypatch.chdir(optimal)  # a run folder named relative to where the command runs
    assert main(["figures", "."]) == 0 and (optimal / "embedding.png").is_file()


def test_the_embedding_names_a_few_classes_and_scales_many(own_file, tmp_path):
    """Class labels get a colour and a legend entry each (two here: no colour bar of a
    continuous 0-1 scale); many classes share a colour bar."""
    from optprior.experiments.figures import LEGEND_CLASSES, embedding_figure

    data = own_data_setting("mine", 0, file=str(own_file))
    model = CVAE(latent_dim=2, hidden_sizes=(8,), epochs=1, warmup_epochs=0, progress=False)
    model.fit(data.train.X, data.train.s)
    figure = embedding_figure(model, data)
    assert len(figure.axes) == 2  # no colour bar
    assert [t.get_text() for t in figure.axes[1].get_legend().get_texts()] == ["0", "1"]
    x = np.load(own_file)
    many = tmp_path / "many.npz"
    np.savez(many, X=x["X"], s=x["s"], y=np.arange(len(x["s"])) % (LEGEND_CLASSES + 1))
    figure = embedding_figure(model, own_data_setting("many", 0, file=str(many)))
    assert len(figure.axes) == 3 and figure.axes[1].get_legend() is None  # a colour bar


def test_status_of_a_folder_without_runs_says_what_it_expected(tmp_path, capsys):
    # e.g. a setting's folder given instead of the sweep's --out
    (tmp_path / "mine" / "cvae").mkdir(parents=True)
    assert main(["status", str(tmp_path / "mine")]) == 2
    assert "no runs in" in capsys.readouterr().err


def test_the_tuned_weight_is_the_best_finite_mean_once_every_weight_finished():
    from optprior.models.selection import best_weight

    assert best_weight({0.1: math.nan, 1.0: -50.0, 10.0: -40.0}) == 10.0
    assert best_weight({0.1: -math.inf, 1.0: -50.0}) == 1.0
    assert best_weight({0.1: -math.inf, 1.0: math.nan}) is None
    assert best_weight({0.1: -1.0, 1.0: None}) is None  # not finished yet


def test_within_k_nats_the_tuned_weight_is_the_largest_that_close_to_the_best():
    from optprior.models.selection import best_weight

    scores = {0.0: -100.0, 0.1: -99.5, 1.0: -100.4, 10.0: -103.0, 100.0: math.nan}
    assert best_weight(scores) == 0.1
    assert best_weight(scores, within=1.0) == 1.0  # 0.9 below the best
    assert best_weight(scores, within=0.5) == 0.1  # -100.4 is 0.9 below
    assert best_weight(scores, within=10.0) == 10.0  # NaN is never chosen
    assert best_weight({**scores, 1.0: None}, within=1.0) is None
    assert best_weight({0.1: -5.0, 1000.0: -5.0}) == 0.1  # a tie: the weaker penalty


def test_tune_within_says_its_rule_and_needs_tune(own_file, tmp_path, monkeypatch, capsys):
    argv, _ = compare_argv(own_file, tmp_path)
    late = SimpleNamespace(
        time=lambda: math.inf, monotonic=time.monotonic, perf_counter=time.perf_counter
    )
    monkeypatch.setattr(stopping, "time", late)  # past the limit before any run starts
    tune = ["--quiet", "--tune", "hsic=1,10", "--time-limit", "60", "--tune-within", "2"]
    assert main([*argv, *tune]) == STOPPED_STATUS
    assert "| chosen (the largest within 2 nats of the best) |" in capsys.readouterr().out
    for nats in ("2", "0"):
        assert main([*argv, "--quiet", "--tune-within", nats]) == 2
        assert "--tune-within chooses among the weights of --tune" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*argv, "--tune", "hsic=1", "--tune-within", "-1"])
    assert "--tune-within must be nats >= 0" in capsys.readouterr().err


def test_compare_tunes_under_the_protocol_named(own_file, tmp_path, monkeypatch):
    """The weights file a --tune writes names the protocol the grid trained under (the
    one given, by option or file), none for the estimators' defaults."""
    from optprior.experiments import tuning

    argv, _ = compare_argv(own_file, tmp_path)
    seen = []
    monkeypatch.setattr(
        tuning, "tune", lambda *a, protocol=None, **k: seen.append(protocol) or ("", [], True)
    )
    tune = ["--quiet", "--tune", "hsic=1,10"]
    assert main([*argv, *tune]) == 0 and main([*argv, *tune, "--protocol", "fast"]) == 0
    config = tmp_path / "author.toml"
    config.write_text('protocol = "author"\n' + TINY)
    assert main([*argv, *tune, "--config", str(config)]) == 0  # the last --config counts
    assert seen == [None, "fast", "author"]


def test_method_tables_of_methods_left_out_are_named(own_file, tmp_path, monkeypatch, capsys):
    """A file of [method.NAME] tables alone (what --tune writes) passed as --config runs the
    default methods: the tables it would leave unused are named, unless --methods (or the
    file's methods) chose the sweep's methods."""
    argv, _ = compare_argv(own_file, tmp_path, TINY + "[method.hsic]\ninvariance_weight = 10.0\n")
    late = SimpleNamespace(
        time=lambda: math.inf, monotonic=time.monotonic, perf_counter=time.perf_counter
    )
    monkeypatch.setattr(stopping, "time", late)  # past the limit: nothing is trained
    stopped = ["--quiet", "--time-limit", "60"]
    assert main([*argv, *stopped]) == STOPPED_STATUS
    assert (
        "has [method.NAME] tables for hsic, which this sweep does not run (it runs cvae, "
        "optimal, vae): add them with --methods" in capsys.readouterr().err
    )
    assert main([*argv, *stopped, "--methods", "cvae,hsic"]) == STOPPED_STATUS
    assert "warning" not in capsys.readouterr().err


def test_quick_compare_is_one_seed_of_a_small_budget_the_options_override(
    own_file, tmp_path, monkeypatch, capsys
):
    planned = []
    monkeypatch.setattr(
        "optprior.experiments.runner.plan",
        lambda chosen, *args, **kwargs: planned.append(chosen) or [],
    )
    data = ["compare", "--data", str(own_file), "--out", str(tmp_path), "--quiet", "--quick"]
    assert main(data) == 0 and main([*data, "--epochs", "7"]) == 0
    small = ["--latent-dim", "3", "--hidden-sizes", "8,4", "--learning-rate", "1e-3"]
    assert main([*data, *small]) == 0
    quick, shorter, smaller = planned
    assert quick.seeds == 1 and quick.training["epochs"] == 30
    assert shorter.training["epochs"] == 7  # the option over --quick
    assert (smaller.model["latent_dim"], smaller.model["hidden_sizes"]) == (3, [8, 4])
    assert smaller.training["learning_rate"] == 1e-3
    for bad in (["--hidden-sizes", "8,0"], ["--learning-rate", "-1"]):
        with pytest.raises(SystemExit):
            main([*data, *bad])
    evaluation = quick.evaluation
    assert (evaluation.n_samples, evaluation.normalizer_temperatures) == (50, 100)
    assert not evaluation.mlp_probe
    # A config file's values come after --quick's, named where they take one over.
    config = tmp_path / "mine.toml"
    config.write_text("[training]\nepochs = 500\n[model]\nlatent_dim = 5\n")
    assert main([*data, "--config", str(config)]) == 0
    assert planned[-1].seeds == 1 and planned[-1].training["epochs"] == 500
    assert planned[-1].model["latent_dim"] == 5
    assert f"note: {config} sets training.epochs itself" in capsys.readouterr().err
    # A protocol's long warm-up is cut to the quick budget's.
    assert main([*data, "--protocol", "author"]) == 0
    assert (planned[-1].training["epochs"], planned[-1].training["warmup_epochs"]) == (30, 3)


def test_tune_stopped_at_its_time_limit_exits_as_a_sweep_does(
    own_file, tmp_path, monkeypatch, capsys
):
    argv, out = compare_argv(own_file, tmp_path)
    late = SimpleNamespace(
        time=lambda: math.inf, monotonic=time.monotonic, perf_counter=time.perf_counter
    )
    monkeypatch.setattr(stopping, "time", late)  # past the limit before any run starts
    assert main([*argv, "--quiet", "--tune", "hsic=1,10", "--time-limit", "60"]) == STOPPED_STATUS
    assert "| hsic | not finished (1.0), not finished (10.0) |  |" in capsys.readouterr().out
    assert not (out / "tune" / "mine.toml").exists()


def test_a_weight_whose_mean_score_is_not_finite_is_marked_and_not_chosen(
    own_file, tmp_path, monkeypatch, capsys
):
    from optprior.experiments import tuning

    argv, _ = compare_argv(own_file, tmp_path)
    late = SimpleNamespace(
        time=lambda: math.inf, monotonic=time.monotonic, perf_counter=time.perf_counter
    )
    monkeypatch.setattr(stopping, "time", late)  # nothing trains: the scores below are read
    scores = iter([math.nan, -50.0])  # a seed of weight 1 diverged; weight 10 is worse
    monkeypatch.setattr(tuning, "_mean_score", lambda runs: next(scores))
    assert main([*argv, "--quiet", "--tune", "hsic=1,10", "--time-limit", "60"]) == STOPPED_STATUS
    printed = capsys.readouterr().out
    assert "| hsic | nan\\* (1.0), -50.00 (10.0) | 10.0 |" in printed
    assert "\\* not finite: a run's score at that weight is NaN or infinite" in printed


def test_tune_with_runs_held_by_another_process_exits_as_a_sweep_does(own_file, tmp_path, capsys):
    """Exit status 4, not 1: a job script restarting the command until it exits 0 goes on
    once the other process's runs finish."""
    from optprior.cli import HELD_STATUS

    argv, out = compare_argv(own_file, tmp_path)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        folder = out / "tune" / "hsic-1.0" / "mine" / "hsic" / "seed-0"
        folder.mkdir(parents=True)
        lock = {"host": socket.gethostname(), "pid": sleeper.pid}
        (folder / "lock").write_text(json.dumps(lock))
        assert main([*argv, "--quiet", "--tune", "hsic=1"]) == HELD_STATUS
    finally:
        sleeper.kill()
        sleeper.wait()
    assert "| hsic | not finished (1.0) |  |" in capsys.readouterr().out


def test_a_tuned_first_stage_weight_is_its_post_hoc_methods_too(
    own_file, tmp_path, monkeypatch, capsys
):
    """``posthoc-invariant`` reuses the ``invariant`` runs of its weight: tuning Moyer's
    weight writes it for both, and a sweep that runs the two at different weights warns."""
    from optprior.experiments import tuning

    monkeypatch.setattr(tuning, "run_sweep", lambda *args: [])  # nothing is trained
    monkeypatch.setattr(tuning, "_mean_score", lambda runs: -1.0)
    argv, out = compare_argv(own_file, tmp_path)
    assert main([*argv, "--quiet", "--seeds", "1", "--tune", "invariant=10"]) == 0
    printed = capsys.readouterr().out
    assert "posthoc-invariant takes invariant's weight (its first stage)" in printed
    assert "run the sweep with --methods invariant (and any others)" in printed
    chosen = tomllib.loads((out / "tune" / "mine.toml").read_text())["method"]
    assert chosen == {m: {"invariance_weight": 10.0} for m in ("invariant", "posthoc-invariant")}
    # Tuned on its own, the post-hoc method keeps its weight and is named for the sweep.
    assert main([*argv, "--quiet", "--seeds", "1", "--tune", "posthoc-invariant=1"]) == 0
    assert "--methods invariant,posthoc-invariant (and" in capsys.readouterr().out

    late = SimpleNamespace(
        time=lambda: math.inf, monotonic=time.monotonic, perf_counter=time.perf_counter
    )
    monkeypatch.setattr(stopping, "time", late)  # past the limit: nothing is trained
    both = ["--quiet", "--time-limit", "60", "--methods", "invariant,posthoc-invariant"]
    weights = {"invariant": "10.0", "posthoc-invariant": "1.0"}
    for shared in (False, True):
        tables = [f"[method.{m}]\ninvariance_weight = {w}\n" for m, w in weights.items()]
        argv, _ = compare_argv(own_file, tmp_path, TINY + "".join(tables))
        assert main([*argv, *both]) == STOPPED_STATUS
        warned = (
            "warning: mine: posthoc-invariant trains a first stage of its own rather than "
            "reuse the invariant runs, as their settings differ (invariant's -> "
            "posthoc-invariant's: model.invariance_weight: 10.0 -> 1.0)"
        )
        assert (warned in capsys.readouterr().err) is not shared
        weights["posthoc-invariant"] = "10.0"
    # Any setting of the first stage counts, as for the reuse itself, not the weight alone.
    narrower = "[method.posthoc-invariant]\ninvariance_weight = 10.0\nhidden_sizes = [8]\n"
    tables = "[method.invariant]\ninvariance_weight = 10.0\n" + narrower
    argv, _ = compare_argv(own_file, tmp_path, TINY + tables)
    assert main([*argv, *both]) == STOPPED_STATUS
    assert "model.hidden_sizes: [16] -> [8])" in capsys.readouterr().err


@pytest.mark.slow
def test_tune_trains_each_weight_and_writes_the_best_on_validation(own_file, tmp_path, capsys):
    trained = TINY.replace("epochs = 2", "epochs = 10\nlearning_rate = 1e-2")
    argv, out = compare_argv(own_file, tmp_path, trained)
    assert main([*argv, "--quiet", "--seeds", "2", "--tune", "invariant=1000,0"]) == 0
    printed = capsys.readouterr().out
    scores = {}
    for weight in (0.0, 1000.0):
        found = [
            json.loads(
                (
                    out / f"tune/invariant-{weight!r}/mine/invariant/seed-{seed}/result.json"
                ).read_text()
            )
            for seed in (0, 1)
        ]
        assert {r["config"]["model"]["invariance_weight"] for r in found} == {weight}
        scores[weight] = np.mean([r["metrics"]["val_log_likelihood"] for r in found])
        assert f"{scores[weight]:.2f} ({weight!r})" in printed
    # Moyer's penalty at 1000 costs likelihood: a report that gave every weight one
    # weight's score (the runs share their names across the grid) would fail here.
    assert abs(scores[0.0] - scores[1000.0]) > 0.05
    best = max(scores, key=scores.__getitem__)
    chosen = out / "tune/mine.toml"
    assert chosen.read_text() == "\n".join(
        f"[method.{m}]\ninvariance_weight = {best!r}\n" for m in ("invariant", "posthoc-invariant")
    )
    assert "as --config where you have none) and run the sweep with --methods invariant" in printed
    assert not (out / "mine").exists()  # the sweep itself is not run
    assert main(["status", str(out)]) == 0  # the grid's runs, by grid point
    listed = capsys.readouterr().out
    for weight in (0.0, 1000.0):
        assert f"--tune grid point invariant-{weight!r} (" in listed
    assert listed.count("| mine/invariant/seed-1 | finished |") == 2

    # The chosen weights as the sweep's config: its invariant runs train with that weight.
    assert (
        main(
            [*argv[:4], str(chosen), *argv[5:], "--quiet", "--methods", "invariant", "--seeds", "1"]
        )
        == 0
    )
    result = json.loads((out / "mine/invariant/seed-0/result.json").read_text())
    assert result["config"]["model"]["invariance_weight"] == best
    assert main([*argv, "--quiet", "--seeds", "1", "--tune", "mmd=1"]) == 0
    tables = chosen.read_text()  # a later method's choice joins the earlier one's
    assert f"[method.invariant]\ninvariance_weight = {best!r}\n" in tables
    assert "[method.mmd]\ninvariance_weight = 1.0\n" in tables
    with pytest.raises(SystemExit):
        main([*argv, "--tune", "cvae=1,2"])  # no penalty weight to tune
    assert (
        "--tune takes METHOD=W1,W2,... of adversarial, hsic, invariant, mmd"
        in capsys.readouterr().err
    )


def test_a_sweep_refuses_options_it_cannot_honour_before_any_work(own_file, tmp_path, capsys):
    """--out naming a file, a device this machine lacks, and --tune with options only a
    sweep reads or without validation data: each refused up front (exit 2), nothing run."""
    argv, out = compare_argv(own_file, tmp_path)
    taken = tmp_path / "taken.txt"
    taken.write_text("")
    assert main([*argv[:-1], str(taken)]) == 2
    assert f"--out {taken} is a file" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main([*argv, "--device", "cuda"]) == 2
        assert "torch.cuda.is_available() is False" in capsys.readouterr().err
    tune = [*argv, "--tune", "invariant=0,1"]
    assert main([*tune, "--methods", "cvae"]) == 2
    assert "--methods are for sweeps" in capsys.readouterr().err
    assert main([*tune, "--val-fraction", "0"]) == 2
    assert "val_fraction 0 leaves none" in capsys.readouterr().err
    assert not out.exists()
