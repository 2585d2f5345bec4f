"""Methods of one's own on the command line: installed packages' entry points."""

import json
import sys

import numpy as np
import pytest
import torch
from helpers import fast
from test_own_data import compare_argv

from optprior import CVAE, load_model, register_method
from optprior.cli import main
from optprior.models import base, methods

PLUGIN = """
import torch
from optprior import PenalisedCVAE


def task_mean_gap(terms, s):
    gaps = [(terms.mu[s == k].mean(0) - terms.mu.mean(0)).pow(2).sum() for k in s.unique()]
    return torch.stack(gaps).mean()


class MeanGapCVAE(PenalisedCVAE):
    penalty = task_mean_gap
"""


@pytest.fixture
def registry(monkeypatch):
    """The methods' registry (one dict, as every module sees it) as it was after the test."""
    monkeypatch.setattr(methods, "_plugins_loaded", False)
    monkeypatch.setattr(methods, "_in_process", set())
    monkeypatch.setattr(methods, "METHODS", dict(methods.METHODS))
    for module in ("optprior.cli", "optprior.experiments.config", "optprior.experiments.runner"):
        monkeypatch.setattr(f"{module}.METHODS", methods.METHODS)


@pytest.fixture
def installed(tmp_path, monkeypatch, registry):
    """An installed package ``my-methods`` (a module and its ``.dist-info`` on the path,
    which worker processes inherit) whose entry points declare method ``meangap`` and a
    broken one; the registry as it was after the test."""
    site = tmp_path / "site"
    info = site / "my_methods-0.1.dist-info"
    info.mkdir(parents=True)
    (site / "my_methods.py").write_text(PLUGIN)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-methods\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        f"[{methods.PLUGIN_GROUP}]\nmeangap = my_methods:MeanGapCVAE\n"
        "broken = no_such_package:Model\n"
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "my_methods", raising=False)  # imported afresh
    monkeypatch.setattr(base, "_MODEL_CLASSES", dict(base._MODEL_CLASSES))


@pytest.mark.filterwarnings("ignore:all .* epochs trained came before the KL warm-up")
def test_an_installed_method_trains_compares_and_loads(installed, two_tasks, tmp_path, capsys):
    own_file = tmp_path / "mine.npz"
    np.savez(own_file, X=two_tasks[0], s=two_tasks[1])
    model_path = tmp_path / "m.pt"
    train = ["train", "--data", str(own_file), "--out", str(model_path), "--method", "meangap"]
    with pytest.warns(UserWarning, match="method broken = no_such_package:Model .* not loaded"):
        assert main([*train, "--epochs", "2", "--latent-dim", "2", "--quiet"]) == 0
    assert type(load_model(model_path)).__name__ == "MeanGapCVAE"
    argv, out = compare_argv(own_file, tmp_path)
    assert main([*argv, "--quiet", "--methods", "cvae,meangap"]) == 0
    result = json.loads((out / "mine/meangap/seed-0/result.json").read_text())
    assert result["status"] == "ok" and np.isfinite(result["metrics"]["test_log_likelihood"])
    assert "| meangap |" in (out / "results.md").read_text()
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main([*argv, "--quiet", "--methods", "nope"])
    assert "vamp, meangap" in capsys.readouterr().err  # offered among the valid methods


def test_register_method_refuses_taken_names_and_non_models(registry, two_tasks, tmp_path, capsys):

    class MyCVAE(CVAE):
        pass

    with pytest.raises(ValueError, match="'cvae' is taken by optprior.models.methods:CVAE"):
        register_method("cvae", MyCVAE)
    with pytest.raises(ValueError, match="lower-case letters"):
        register_method("My Method", MyCVAE)
    with pytest.raises(TypeError, match="not a subclass of an optprior model"):
        register_method("mine", dict)
    register_method("mine", MyCVAE)
    register_method("mine", MyCVAE)  # again, as a notebook cell run twice: the same class
    assert methods.METHODS["mine"] is MyCVAE
    data = tmp_path / "mine.npz"
    np.savez(data, X=two_tasks[0], s=two_tasks[1])
    argv, out = compare_argv(data, tmp_path)
    assert main([*argv, "--quiet", "--methods", "cvae,mine", "--jobs", "2"]) == 2
    error = capsys.readouterr().err  # refused before a worker starts: they would not know it
    assert "['mine'] were registered in this process alone" in error
    assert main([*argv, "--quiet", "--methods", "mine"]) == 0  # in this process it runs


@pytest.mark.slow
def test_worker_processes_read_the_installed_methods(installed, two_tasks, tmp_path):
    data = tmp_path / "mine.npz"
    np.savez(data, X=two_tasks[0], s=two_tasks[1])
    argv, out = compare_argv(data, tmp_path)
    with pytest.warns(UserWarning, match="method broken"):
        code = main([*argv, "--quiet", "--methods", "meangap", "--seeds", "2", "--jobs", "2"])
    assert code == 0
    for seed in (0, 1):
        result = json.loads((out / f"mine/meangap/seed-{seed}/result.json").read_text())
        assert result["status"] == "ok"


def test_load_model_reads_the_installed_methods(installed, two_tasks, tmp_path):
    x, s = two_tasks
    fast(CVAE).fit(x, s).save(tmp_path / "cvae.pt")
    payload = torch.load(tmp_path / "cvae.pt", weights_only=True)
    del payload["digest"]  # as written by the plug-in's class, not imported here yet
    payload["class"], payload["class_path"] = "MeanGapCVAE", "my_methods:MeanGapCVAE"
    torch.save(payload, tmp_path / "meangap.pt")
    assert "my_methods" not in sys.modules
    with pytest.warns(UserWarning, match="method broken"):
        assert type(load_model(tmp_path / "meangap.pt")).__name__ == "MeanGapCVAE"
