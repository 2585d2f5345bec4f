"""The experiment layer: configs, sweeps, resumption, failures and tables."""

import contextlib
import csv
import json
import logging
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers import count_epochs, fast, signalled_output

from optprior import cli
from optprior.data.registry import get_dataset
from optprior.experiments import executors, runner
from optprior.experiments.config import (
    BASELINE_WEIGHTS,
    DEFAULT_PROTOCOL,
    ExperimentConfig,
    quick_overrides,
    quick_settings_overridden,
    read_config_file,
    resolve,
    to_toml,
)
from optprior.experiments.executors import WORKER_LOST, local_executor
from optprior.experiments.records import RunResult, read_result_file, write_result_file
from optprior.experiments.reproduce import (
    check_data,
    collect,
    configs_for,
    describe_plan,
    reproduce,
    stored_results,
    sweep,
    write_tables,
)
from optprior.experiments.runner import ConfigMismatchError, plan, run_sweep
from optprior.models import CVAE, METHODS, InvariantCVAE, PostHocInvariantCVAE
from optprior.models.base import BaseModel

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
(USPS_H5_SHA256,) = get_dataset("usps").variant("h5").train[0].sha256

#: A budget far below --quick, for tests of the sweep machinery.
TINY = {
    "seeds": 2,
    "methods": ["cvae", "optimal"],
    "data": {"n_source": 300, "n_target_val": 50},
    "model": {"latent_dim": 4, "hidden_sizes": [32], "discriminator_hidden_sizes": [32]},
    "training": {"epochs": 2, "learning_rate": 1e-3, "warmup_epochs": 1},
    "evaluation": {
        "n_samples": 5,
        "test_points": 100,
        "probe_points": 60,
        "figures": False,
        "normalizer_temperatures": 50,
        "mlp_probe": False,
    },
}


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.toml")), ids=lambda p: p.stem)
def test_config_files_state_the_built_in_protocol(path):
    raw = read_config_file(path)
    built_in = resolve(raw["setting"])
    assert raw["protocol"] == DEFAULT_PROTOCOL == "author"
    assert configs_for(raw["setting"], file_overrides=raw) == [built_in]
    assert path.read_text() == to_toml(built_in)  # every value written out, none stale


def test_every_setting_has_a_config_file():
    assert sorted(p.stem for p in CONFIGS.glob("*.toml")) == sorted(
        ["usps-mnist", "mnist-usps", "synth-svhn", "svhn-synth", "faces"]
    )


def test_a_config_files_values_come_after_quick_and_the_sweep_names_them(tmp_path, capsys):
    """An ablation file trains the --quick budget for longer: its epochs win over
    --quick's, the rest of --quick holds; the sweep names the settings the file takes over
    (a whole protocol written out by ``optprior config`` takes over all of them)."""
    from optprior.cli import main

    ablation = {"training": {"epochs": 100}, "methods": ["cvae"]}
    (quick,) = configs_for("usps-mnist", quick=True, file_overrides=ablation)
    built_in_quick = resolve("usps-mnist", quick_overrides("usps-mnist"))
    assert quick.training == {**built_in_quick.training, "epochs": 100}
    assert quick.model == built_in_quick.model and quick.seeds == built_in_quick.seeds
    path = tmp_path / "ablation.toml"
    path.write_text('methods = ["cvae"]\n[training]\nepochs = 100\n')
    refused = ["reproduce", "usps-mnist", "--quick", "--config", str(path), "--out", __file__]
    assert main(refused) == 2  # refused at --out, after the note
    assert f"note: {path} sets training.epochs itself, over --quick's" in capsys.readouterr().err
    full = quick_settings_overridden(
        quick_overrides("usps-mnist"), read_config_file(CONFIGS / "usps-mnist.toml")
    )
    assert {"seeds", "training.epochs", "model.hidden_sizes", "evaluation.n_samples"} <= set(full)
    (ours,) = configs_for(
        "usps-mnist", quick=True, file_overrides=ablation, cli_overrides={"seeds": 3}
    )
    assert ours.seeds == 3


def test_all_methods_in_a_config_file_as_on_the_command_line():
    assert resolve("usps-mnist", {"methods": "all"}).methods == list(METHODS)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"methods": ["gan"]}, r"unknown method\(s\) \['gan'\]; valid: vae, cvae, optimal"),
        ({"methods": "cvae"}, r"methods must be a list of method names, .* or \"all\"; got 'cvae'"),
        (
            {"training": {"epoch": 3}},
            r"unknown key\(s\) \['epoch'\] in \[training\] \(did you mean 'epochs'\?\); valid: \[",
        ),
        (
            {"model": {"latent": 3}},
            r"\[model\] \(did you mean 'latent_dim'\?\); valid: \['activation'",
        ),
        (
            {"data": {"n_target": 3}},
            r"\[data\] \(did you mean 'n_target_val'\?\); valid: \['image_size'",
        ),
        (
            {"evaluation": {"samples": 3}},
            r"\[evaluation\] \(did you mean 'n_samples'\?\); valid: \['figures'",
        ),
        ({"seed": 3}, r"unknown key\(s\) \['seed'\] in \[top level\] \(did you mean 'seeds'\?\)"),
        ({"protocl": "author"}, r"\['protocl'\] in \[top level\] \(did you mean 'protocol'\?\)"),
        ({"model": {"likelihood": "poisson"}}, "unknown likelihood"),
        ({"seeds": 0}, "seeds must be a count >= 1 or a list of seed numbers, got 0"),
        ({"seeds": []}, r"seeds must be a count >= 1 or a list of seed numbers, got \[\]"),
        ({"seeds": [2, 2]}, r"seed numbers must be distinct and >= 0, got \[2, 2\]"),
    ],
)
def test_bad_config_keys_list_the_valid_ones(overrides, message):
    with pytest.raises(ValueError, match=message):
        resolve("usps-mnist", overrides)


def test_missing_data_stops_the_sweep_before_any_folder_is_made(tmp_path, monkeypatch):
    """One error naming the file and the root; no run folder, table or data folder."""
    from optprior.data import DatasetNotFoundError, download

    def offline(*args, **kwargs):
        raise OSError("offline")

    monkeypatch.setattr(download, "_fetch", offline)
    monkeypatch.delenv("OPTPRIOR_NO_DOWNLOAD", raising=False)
    (config,) = configs_for("usps-mnist", file_overrides=TINY)
    root, out = tmp_path / "no-data", tmp_path / "runs"
    with pytest.raises(DatasetNotFoundError, match=r"no-data/usps/usps\.h5"):
        reproduce([config], out, local_executor(1), str(root), progress=False)
    assert not out.exists() and not root.exists()


def test_unknown_setting_lists_valid_ones():
    with pytest.raises(
        ValueError, match="unknown setting 'mnist-svhn'; choose one of usps-mnist, mnist-usps"
    ):
        resolve("mnist-svhn")
    with pytest.raises(ValueError, match="config file is for setting 'faces'"):
        configs_for("usps-mnist", file_overrides={"setting": "faces"})


def test_a_sweep_gives_each_method_the_settings_it_may_read_without_warning(digits_root, tmp_path):
    """A config file's settings go to every method whose class reads them: the optimal
    prior's T run gets the exact mixture's too, which its fit ignores; a sweep does not
    warn of them (a model fitted by hand does: ``IgnoredSettingsWarning``)."""
    from optprior.models import IgnoredSettingsWarning

    training = {**TINY["training"], "mixture_components": 30}  # for the exact mixture's runs
    overrides = {**TINY, "methods": ["optimal"], "training": training}
    (config,) = configs_for("usps-mnist", file_overrides=overrides)
    run = plan(config, tmp_path, data_root=digits_root)[0]
    assert runner.run_model(run).ignored_settings() == {
        "mixture_components": "estimator='discriminator'"
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error", IgnoredSettingsWarning)
        assert runner.execute(run).status == "ok"


def test_a_sweeps_training_warnings_name_their_run(digits_root, tmp_path):
    """Among the warnings of many runs, each names the run it is about."""
    overrides = {**TINY, "seeds": 1, "methods": ["cvae"]}
    overrides["training"] = {**TINY["training"], "warmup_epochs": 5}  # ends inside it
    (config,) = configs_for("usps-mnist", file_overrides=overrides)
    (run,) = plan(config, tmp_path, data_root=digits_root)
    with pytest.warns(UserWarning) as caught:
        assert runner.execute(run).status == "ok"
    messages = [str(w.message) for w in caught if "KL warm-up" in str(w.message)]
    assert messages and all(m.startswith("usps-mnist/cvae/seed-0: all 2 epochs") for m in messages)


@pytest.mark.slow
def test_sweep_resumes_without_redoing_finished_runs(digits_root, tmp_path):
    (config,) = configs_for("usps-mnist", file_overrides=TINY)
    runs = plan(config, tmp_path, data_root=digits_root)
    assert len(runs) == 4

    def interrupted(todo, done):  # the sweep is killed after its first run
        done(runner.execute(todo[0]))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(runs, interrupted)
    first = runs[0].folder / "result.json"
    stamp = first.stat().st_mtime_ns
    started = []
    run_sweep(runs, lambda todo, done: (started.extend(todo), local_executor(1)(todo, done)))
    assert runs[0] not in started and len(started) == 3
    assert first.stat().st_mtime_ns == stamp
    assert all(r.folder.joinpath("result.json").is_file() for r in runs)

    # Killed after training but before its result: the saved model is scored, not retrained.
    runs[1].folder.joinpath("result.json").unlink()
    result = runner.execute(runs[1])
    assert result.status == "ok" and result.resumed_from_model

    # Another configuration in the same folder is refused, not mixed in; so is a higher
    # epoch cap, as the runs reached theirs and kept no checkpoint to go on from.
    training = {**TINY["training"], "learning_rate": 1e-2}
    (changed,) = configs_for("usps-mnist", file_overrides={**TINY, "training": training})
    with pytest.raises(ConfigMismatchError, match=r"different configuration \(training.learn"):
        run_sweep(plan(changed, tmp_path, data_root=digits_root), local_executor(1))
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    rescoring = plan(changed, tmp_path, data_root=digits_root, rescore="all")
    with pytest.raises(ConfigMismatchError):  # refused before its request or plan is written
        sweep(rescoring, tmp_path, local_executor(1), progress=False)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    (raised,) = configs_for(
        "usps-mnist", file_overrides={**TINY, "training": {**TINY["training"], "epochs": 3}}
    )
    with pytest.raises(ConfigMismatchError, match=r"cap of 2 epochs, .*--keep-checkpoints"):
        run_sweep(plan(raised, tmp_path, data_root=digits_root), local_executor(1))


@pytest.mark.slow
def test_a_higher_cap_trains_the_runs_that_reached_theirs_on_from_kept_checkpoints(
    digits_root, tmp_path, monkeypatch
):
    """As if trained under the higher cap from the start, even when killed between
    training and scoring; a run that stopped early stands under any cap it stopped
    within, and a posthoc run is refused (its T fitted a CVAE that would train on)."""

    def capped(epochs: int, **overrides: Any) -> ExperimentConfig:
        training = {**TINY["training"], "epochs": epochs}
        (config,) = configs_for(
            "usps-mnist", file_overrides={**TINY, **overrides, "training": training}
        )
        return config

    kept, fresh = tmp_path / "kept", tmp_path / "fresh"
    run_sweep(
        plan(capped(2), kept, data_root=digits_root, keep_checkpoints=True), local_executor(1)
    )
    assert all(all(p.is_file() for p in run.checkpoints) for run in plan(capped(2), kept))
    high = plan(capped(4), kept, data_root=digits_root)

    def killed(*args: Any) -> None:
        raise KeyboardInterrupt  # as if killed while scoring, its model.pt saved

    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(runner, "evaluate", killed)
        run_sweep(high, local_executor(1))
    first = high[0].folder
    assert (first / "result-epochs-2.json").is_file() and not (first / "result.json").exists()
    lower = runner.execute(plan(capped(2), kept)[0])  # no longer finds it finished
    assert lower.status == "failed" and "was started with a different configuration" in lower.error

    went_on = run_sweep(high, local_executor(1))
    anew = run_sweep(plan(capped(4), fresh, data_root=digits_root), local_executor(1))
    assert len(went_on) == len(anew) == 4
    for result, reference in zip(sorted(went_on, key=_name), sorted(anew, key=_name), strict=True):
        assert (
            result.resumed_from_model
            if result.run == high[0].name
            else result.resumed_from_checkpoint
        )
        assert result.epochs_run == 4 and result.hit_epoch_cap
        assert result.config == reference.config and result.metrics == reference.metrics
    assert not any(p.is_file() for run in high for p in run.checkpoints)

    # Stopped early after 4 epochs (recorded so): its own under a cap of 6 or 4, not 3.
    early = plan(capped(6), kept, data_root=digits_root)[0]
    stored = read_result_file(early.folder / "result.json")
    stopped = replace(stored, stopped_early=True, hit_epoch_cap=False)
    write_result_file(early.folder, replace(stopped, config=early.resolved()))
    assert runner.read_result(early) == replace(stopped, config=early.resolved())
    assert runner.read_result(plan(capped(4), kept)[0]) is not None
    with pytest.raises(ConfigMismatchError, match=r"cap of 6 epochs, and trained 4, more than"):
        runner.read_result(plan(capped(3), kept)[0])
    with pytest.raises(ConfigMismatchError, match=r"cap of 4 epochs, which it reached, and kept"):
        runner.read_result(plan(capped(6), kept)[1])
    for epochs, reused in ((8, True), (3, False)):  # its CVAE stage for a posthoc run
        posthoc = plan(capped(epochs, methods=["posthoc"]), kept)[0]
        found = runner.reusable_cvae(posthoc)
        assert (found is not None and found.folder == early.folder) is reused

    run_sweep(
        plan(capped(2, methods=["posthoc"]), kept, data_root=digits_root, keep_checkpoints=True),
        local_executor(1),
    )
    assert not any(p.is_file() for p in plan(capped(2, methods=["posthoc"]), kept)[0].checkpoints)
    with pytest.raises(ConfigMismatchError, match=r"different configuration \(training.epochs"):
        runner.read_result(plan(capped(4, methods=["posthoc"]), kept)[0])


def test_an_unscored_model_of_a_lower_cap_is_kept_unless_a_higher_cap_can_use_it(
    digits_root, tmp_path
):
    """A run trained under a lower epoch cap and not scored (as ``--time-limit`` leaves
    it), with no checkpoint: under a higher cap its model is refused and kept where it
    reached its cap, and scored where it stopped early within the new one."""
    overrides = {**TINY, "seeds": 1, "methods": ["cvae"]}

    def capped(epochs: int) -> ExperimentConfig:
        training = {**TINY["training"], "epochs": epochs}
        (config,) = configs_for("usps-mnist", file_overrides={**overrides, "training": training})
        return config

    (run,) = plan(capped(2), tmp_path, data_root=digits_root)
    assert runner.execute(run).status == "ok"
    (run.folder / "result.json").unlink()
    model_path = run.folder / "model.pt"
    saved = model_path.read_bytes()
    (higher,) = plan(capped(3), tmp_path, data_root=digits_root)
    refused = runner.execute(higher)  # a failure outside training: named, not written
    assert refused.status == "failed" and "cap of 2 epochs, which it reached" in refused.error
    assert model_path.read_bytes() == saved and not (run.folder / "result.json").exists()

    model = BaseModel.load(model_path)
    model.history_ = replace(model.history_, stopped_early=True)
    model.save(model_path)
    result = runner.execute(higher)
    assert result.status == "ok" and result.resumed_from_model and result.epochs_run == 2


def _name(result: RunResult) -> str:
    return result.run


@pytest.mark.slow
def test_run_killed_while_training_goes_on_from_its_checkpoint(digits_root, tmp_path, monkeypatch):
    overrides = {**TINY, "seeds": 1, "methods": ["optimal"], "training": {"epochs": 4}}
    (config,) = configs_for("usps-mnist", file_overrides=overrides)
    (whole,) = plan(config, tmp_path / "whole", data_root=digits_root)
    (run,) = plan(config, tmp_path / "killed", data_root=digits_root)
    expected = runner.execute(whole)

    started, result = killed_and_run_again(run, monkeypatch)
    checkpoint = run.folder / "checkpoint.pt"
    assert len(started) == 2  # epochs 2 and 3
    assert result.status == "ok" and result.resumed_from_checkpoint
    assert result.started_by["threads"] == torch.get_num_threads()  # the killed start's
    assert result.started_by["at"] < result.scored_at
    assert not checkpoint.exists()  # removed once model.pt was written
    assert result.metrics == expected.metrics  # the same model, scored the same
    # The training time counts the epochs of both processes; wall_seconds only the last.
    seconds = [float(r["seconds"]) for r in csv.DictReader(open(run.folder / "curves.csv"))]
    assert len(seconds) == 4 and result.training_seconds == pytest.approx(sum(seconds))

    # A checkpoint that cannot be resumed (say, from an older optprior) is replaced.
    (run.folder / "result.json").unlink()
    (run.folder / "model.pt").unlink()
    checkpoint.write_bytes(b"from another version")
    result = runner.execute(run)
    assert result.status == "ok" and not result.resumed_from_checkpoint
    assert "not a readable training checkpoint" in result.checkpoint_discarded
    assert result.started_by is None  # trained anew, by this process alone
    assert result.metrics == expected.metrics


@pytest.mark.slow
def test_post_hoc_run_killed_while_t_trains_goes_on_from_its_checkpoint(
    digits_root, tmp_path, monkeypatch
):
    """A post-hoc run that reuses the CVAE of its seed checkpoints T's fit: killed in
    it, the run trains only T's remaining epochs and scores as an uninterrupted run."""
    overrides = {**TINY, "seeds": 1, "methods": ["cvae", "posthoc"], "training": {"epochs": 4}}
    (config,) = configs_for("usps-mnist", file_overrides=overrides)
    cvae_run, run = plan(config, tmp_path, data_root=digits_root)
    whole = plan(config, tmp_path / "whole", data_root=digits_root)[1]
    assert runner.execute(cvae_run).ok
    whole = replace(whole, cvae_runs=tmp_path)
    expected = runner.execute(whole)
    assert expected.cvae_reused

    started, result = killed_and_run_again(run, monkeypatch)
    checkpoint = run.folder / "checkpoint.pt"
    assert len(started) == len(prior_curves(whole)) - 2  # T's epochs 0 and 1 kept
    assert result.status == "ok" and result.resumed_from_checkpoint and result.cvae_reused
    assert not checkpoint.exists()
    assert result.metrics == expected.metrics


def test_a_run_goes_on_only_on_the_dataset_files_its_training_started_on(
    digits_root, tmp_path, monkeypatch
):
    """The files a run's training started on are recorded then, and a run killed while
    training goes on from its checkpoint only on the same files: its result names those."""
    run, _ = four_epochs_of("cvae", digits_root, tmp_path)
    kill_while_training(run, monkeypatch, interrupt_at=3)
    record = run.folder / runner.TRAINING_STARTED_FILE
    started = json.loads(record.read_text())
    started_on = started["data_files"]
    assert {f["dataset"] for f in started_on} == {"usps", "mnist"}
    assert started["threads"] == torch.get_num_threads() and started["device"] == "cpu"

    # The files read now are not those it started on (say, USPS replaced by other bytes).
    other = [
        {**f, "digest": "sha256 " + "0" * 64} if f["dataset"] == "usps" else f for f in started_on
    ]
    record.write_text(json.dumps({**started, "data_files": other}))
    refused = runner.execute(run)
    assert refused.status == "failed" and "training started on other dataset files" in refused.error
    assert "usps: 'h5/usps.h5 sha256 000000000000' -> 'h5/usps.h5 sha256 734f88c54110'" in (
        refused.error
    )
    assert (run.folder / "checkpoint.pt").is_file()  # kept, to go on with the right files

    # Gone on with by a process of other code and threads: the result says so.
    earlier = {**started, "threads": 8, "versions": {"optprior": "0.0"}}
    record.write_text(json.dumps(earlier))
    result = runner.execute(run)
    assert result.ok and result.resumed_from_checkpoint and result.data_files == started_on
    assert result.started_by == {k: v for k, v in earlier.items() if k != "data_files"}
    assert result.threads == torch.get_num_threads() and result.versions["optprior"] != "0.0"


def test_a_higher_cap_on_other_dataset_files_leaves_the_lower_caps_run_as_it_was(
    digits_root, tmp_path
):
    """A finished run taken to a higher cap on files other than those its training
    started on fails saying so, with its result, model, config and checkpoints of the
    lower cap untouched; on its own files it then goes on."""
    run, overrides = four_epochs_of("cvae", digits_root, tmp_path)
    low = replace(run, training={**run.training, "epochs": 2}, keep_checkpoints=True)
    assert runner.execute(low).ok
    record = run.folder / runner.TRAINING_STARTED_FILE
    started = json.loads(record.read_text())
    other = [{**f, "digest": "sha256 " + "0" * 64} for f in started["data_files"]]
    record.write_text(json.dumps({**started, "data_files": other}))
    before = {p.name: p.read_bytes() for p in run.folder.iterdir()}
    refused = runner.execute(run)
    assert refused.status == "failed" and "past its cap of 2 epochs" in refused.error
    assert "training started on other dataset files" in refused.error
    assert {p.name: p.read_bytes() for p in run.folder.iterdir()} == before
    assert runner.execute(low).ok  # still finished under its own cap

    record.write_text(json.dumps(started))
    went_on = runner.execute(run)
    assert went_on.ok and went_on.resumed_from_checkpoint and went_on.epochs_run == 4


def test_a_run_only_started_under_another_configuration_is_refused_before_the_sweep(
    digits_root, tmp_path, monkeypatch
):
    """A run killed while training (its config.json and checkpoint, no result) is refused
    by a sweep of another configuration before anything is trained or written, as a
    finished one is, not when its turn comes after the runs before it."""
    run, overrides = four_epochs_of("cvae", digits_root, tmp_path)
    kill_while_training(run, monkeypatch, interrupt_at=3)
    training = {**overrides["training"], "learning_rate": 1e-2}
    (changed,) = configs_for(
        "usps-mnist", file_overrides={**overrides, "methods": ["vae", "cvae"], "training": training}
    )
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    started = count_epochs(monkeypatch)
    with pytest.raises(ConfigMismatchError, match=r"seed-0 was started with a different config"):
        sweep(plan(changed, tmp_path, data_root=digits_root), tmp_path, local_executor(1), False)
    assert not started  # not the VAE run before it either
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_a_run_whose_model_file_cannot_be_read_says_how_to_train_it_again(
    digits_root, tmp_path, monkeypatch
):
    (config,) = configs_for("usps-mnist", file_overrides={**TINY, "seeds": 1, "methods": ["cvae"]})
    (run,) = plan(config, tmp_path, data_root=digits_root)

    def killed(*args: Any) -> None:
        raise KeyboardInterrupt  # killed while scoring, its model.pt saved

    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(runner, "evaluate", killed)
        runner.execute(run)
    model = run.folder / "model.pt"
    model.write_bytes(model.read_bytes()[:1000])  # cut off, say by a full disk
    result = runner.execute(run)
    assert result.status == "failed" and "not a readable optprior model file" in result.error
    assert f"trained but not scored: delete {model} to train it again" in result.error


def test_a_refused_checkpoint_of_t_leaves_the_finished_cvae_stage(
    digits_root, tmp_path, monkeypatch
):
    """A post-hoc run training its own CVAE, killed while T trains: T's checkpoint, if
    refused (damaged, another version), is deleted alone, and the run goes on from its
    CVAE's checkpoint, training T's epochs only."""
    run, _ = four_epochs_of("posthoc", digits_root, tmp_path)
    cvae_checkpoint, t_checkpoint = run.checkpoints
    kill_while_training(run, monkeypatch, interrupt_at=6)  # the CVAE's 4 epochs, T's second
    assert cvae_checkpoint.is_file() and t_checkpoint.is_file()
    t_checkpoint.write_bytes(b"from another version")
    started = count_epochs(monkeypatch)
    result = runner.execute(run)
    assert result.ok and result.resumed_from_checkpoint, result.traceback
    assert (
        "checkpoint.pt.prior is not a readable training checkpoint" in result.checkpoint_discarded
    )
    assert len(started) == len(prior_curves(run))  # T's epochs alone, from its first


def test_a_finished_run_scored_on_other_dataset_files_is_refused_not_reused(
    digits_root, tmp_path, monkeypatch
):
    """A finished run whose recorded dataset files differ from those its data options
    read now (another --data-root, a file replaced) is refused before the sweep, as one
    of another configuration is; on the same files it is reused without training."""
    run, _ = four_epochs_of("cvae", digits_root, tmp_path)
    assert sweep([run], tmp_path, local_executor(1), False)[0].ok
    path = run.folder / "result.json"
    kept = path.read_text()
    stored = json.loads(kept)
    stored["data_files"][0]["digest"] = "sha256 " + "0" * 64
    path.write_text(json.dumps(stored))
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    started = count_epochs(monkeypatch)
    with pytest.raises(ConfigMismatchError, match=r"seed-0/result.json was scored on other data"):
        sweep([run], tmp_path, local_executor(1), False)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    path.write_text(kept)
    assert sweep([run], tmp_path, local_executor(1), False)[0].ok
    assert not started


def test_a_grid_run_scored_on_other_dataset_files_is_refused_by_tune(digits_root, tmp_path):
    """--tune reuses its finished grid runs as a sweep does, so it refuses the same ones."""
    from optprior.experiments.tuning import tune

    run, overrides = four_epochs_of("invariant", digits_root, tmp_path)
    (config,) = configs_for("usps-mnist", file_overrides=overrides)
    grid = {"invariant": [1.0]}
    tune([config], grid, tmp_path, local_executor(1), data_root=digits_root, progress=False)
    (path,) = tmp_path.glob("tune/invariant-1.0/usps-mnist/invariant/seed-0/result.json")
    stored = json.loads(path.read_text())
    stored["data_files"][0]["digest"] = "sha256 " + "0" * 64
    path.write_text(json.dumps(stored))
    with pytest.raises(ConfigMismatchError, match="scored on other dataset files"):
        tune([config], grid, tmp_path, local_executor(1), data_root=digits_root, progress=False)


def four_epochs_of(method: str, digits_root, tmp_path) -> tuple[runner.Run, dict[str, Any]]:
    """A TINY usps-mnist run of ``method`` (seed 0) under a cap of 4 epochs, and the
    overrides that made it."""
    overrides = {**TINY, "seeds": 1, "methods": [method]}
    overrides["training"] = {**TINY["training"], "epochs": 4}
    (config,) = configs_for("usps-mnist", file_overrides=overrides)
    (run,) = plan(config, tmp_path, data_root=digits_root)
    return run, overrides


def kill_while_training(run, monkeypatch, interrupt_at: int = 3) -> None:
    """Execute ``run``, killed (KeyboardInterrupt) as its ``interrupt_at``-th epoch
    starts (1-based, over its stages), with its checkpoint written after every epoch."""
    from optprior.training import trainer as trainer_module

    monkeypatch.setattr(trainer_module, "CHECKPOINT_SECONDS", 0.0)
    with monkeypatch.context() as patch:
        count_epochs(patch, interrupt_at=interrupt_at)
        with pytest.raises(KeyboardInterrupt):
            runner.execute(run)


def killed_and_run_again(run, monkeypatch) -> tuple[list[int], runner.RunResult]:
    """Execute ``run``, killed (KeyboardInterrupt) as its third epoch starts, with its
    checkpoint written after every epoch; then again: the epochs the second execution
    started and its result."""
    kill_while_training(run, monkeypatch, interrupt_at=3)
    assert (run.folder / "checkpoint.pt").is_file() and not (run.folder / "model.pt").exists()
    with monkeypatch.context() as patch:
        started = count_epochs(patch)
        return started, runner.execute(run)


def prior_curves(run) -> list[dict[str, str]]:
    """The rows of a finished post-hoc run's T curves."""
    return list(csv.DictReader(open(run.folder / "prior_curves.csv")))


@pytest.mark.slow
def test_rescore_updates_metrics_without_training(digits_root, tmp_path, monkeypatch):
    (config,) = configs_for("usps-mnist", file_overrides={**TINY, "seeds": 1})
    reproduce([config], tmp_path, local_executor(1), digits_root, progress=False)
    path = tmp_path / "usps-mnist/optimal/seed-0/result.json"
    old = json.loads(path.read_text())
    # A run recorded before a TrainingConfig field existed: the field is absent from its
    # config, and it still matches while the current value is the default. A field that
    # no longer exists is ignored.
    del old["config"]["training"]["discriminator_weight_decay"]
    del old["config"]["data"]["verify"]  # a data option added since, at its default
    old["config"]["evaluation"]["retired_option"] = 10  # a field removed since: ignored
    old["config"]["training"]["device"] = "cuda"  # trained on a GPU, scored again here
    old["metrics"] = {"test_log_likelihood": 0.0}
    path.write_text(json.dumps(old))

    def no_training(self, *args, **kwargs):
        raise AssertionError("rescore must not train")

    monkeypatch.setattr(BaseModel, "fit", no_training)
    results = reproduce(
        [config], tmp_path, local_executor(1), digits_root, progress=False, rescore="all"
    )
    assert all(r.status == "ok" for r in results)
    new = json.loads(path.read_text())
    assert new["metrics"]["test_log_likelihood"] < 0  # recomputed, Bernoulli data
    assert math.isfinite(new["metrics"]["val_log_likelihood"])
    assert new["config"]["training"]["discriminator_weight_decay"] == 0.0
    assert "rescored" in new and new["wall_seconds"] == old["wall_seconds"]
    assert new["rescored"]["threads"] == torch.get_num_threads()  # of the scoring process
    assert new["rescored"]["device"] == "cpu" and new["config"]["training"]["device"] == "cuda"
    # The files it was trained on and scored on again: USPS's h5 comes before libsvm.
    usps = {"dataset": "usps", "variant": "h5", "name": "usps.h5"}
    usps["digest"] = f"sha256 {USPS_H5_SHA256}"
    assert usps in new["data_files"] and usps in new["rescored"]["data_files"]
    assert {f["dataset"] for f in new["data_files"]} == {"usps", "mnist"}

    # Scored again on other bytes than it was trained on: refused, the result kept.
    trained_on = json.loads(path.read_text())
    for record in trained_on["data_files"]:
        if record["dataset"] == "usps":
            record["digest"] = "sha256 " + "0" * 64
    path.write_text(json.dumps(trained_on))
    results = reproduce(
        [config], tmp_path, local_executor(1), digits_root, progress=False, rescore="all"
    )
    (refused,) = [r for r in results if r.run == "usps-mnist/optimal/seed-0"]
    assert refused.status == "failed" and "not those it was trained (or last" in refused.error
    assert "usps: 'h5/usps.h5 sha256 000000000000' -> 'h5/usps.h5 sha256 734f88c54110'" in (
        refused.error
    )
    assert json.loads(path.read_text()) == trained_on

    # A run made with a non-default value of the new field is another configuration.
    changed = {
        **TINY,
        "seeds": 1,
        "training": {**TINY["training"], "discriminator_weight_decay": 0.1},
    }
    (other,) = configs_for("usps-mnist", file_overrides=changed)
    del new["config"]["training"]["discriminator_weight_decay"]
    path.write_text(json.dumps(new))
    with pytest.raises(ConfigMismatchError):
        runner.read_result(plan(other, tmp_path, data_root=digits_root)[-1])


ALL_METHODS = ["vae", "cvae", "optimal", "posthoc", "invariant"]


def test_discriminator_settings_tell_apart_only_runs_that_have_one(tmp_path):
    overrides = {**TINY, "seeds": 1, "methods": ALL_METHODS}
    (config,) = configs_for("usps-mnist", file_overrides=overrides)
    training = {
        **config.training,
        "discriminator_schedule": "interleaved",
        "discriminator_weight_decay": 0.1,
    }
    changed = replace(config, training=training)
    for before, after in zip(plan(config, tmp_path), plan(changed, tmp_path), strict=True):
        same = runner.same_config(before.resolved(), after.resolved())
        assert same == (before.method not in ("optimal", "posthoc")), before.method


def test_settings_a_schedule_does_not_read_do_not_tell_runs_apart(tmp_path):
    (config,) = configs_for("usps-mnist", file_overrides={**TINY, "seeds": 1})

    def optimal(**training):
        changed = replace(config, training={**config.training, **training})
        return plan(changed, tmp_path)[-1].resolved()

    interleaved, epoch = (
        {"discriminator_schedule": "interleaved"},
        {"discriminator_schedule": "epoch"},
    )
    assert runner.same_config(
        optimal(**interleaved), optimal(**interleaved, discriminator_epochs=3)
    )
    assert runner.same_config(optimal(**epoch), optimal(**epoch, discriminator_interval=5))
    assert not runner.same_config(
        optimal(**epoch, discriminator_fraction=1.0), optimal(**epoch, discriminator_fraction=0.5)
    )
    # A record from before the fraction existed was a full pass under the epoch schedule.
    old = optimal(**epoch, discriminator_fraction=1.0)
    del old["training"]["discriminator_fraction"]
    assert runner.same_config(old, optimal(**epoch, discriminator_fraction=1.0))
    assert runner.config_differences(old, optimal(**epoch, discriminator_fraction=0.5)) == [
        "training.discriminator_fraction: 1.0 -> 0.5"
    ]
    # Runs on two schedules differ in the schedule alone, not in what neither reads.
    old_interleaved = optimal(**interleaved)
    del old_interleaved["training"]["discriminator_fraction"]
    assert runner.config_differences(old_interleaved, optimal(**epoch)) == [
        "training.discriminator_schedule: 'interleaved' -> 'epoch'"
    ]


def test_invariance_weight_tells_apart_only_invariant_runs(tmp_path):
    overrides = {**TINY, "seeds": 1, "methods": ALL_METHODS}
    (config,) = configs_for("usps-mnist", file_overrides=overrides)
    weighted = {**overrides, "model": {**TINY["model"], "invariance_weight": 5.0}}
    (changed,) = configs_for("usps-mnist", file_overrides=weighted)
    for before, after in zip(plan(config, tmp_path), plan(changed, tmp_path), strict=True):
        same = runner.same_config(before.resolved(), after.resolved())
        assert same == (before.method != "invariant"), before.method


def test_each_baseline_runs_at_its_own_weight(tmp_path):
    """``--methods all`` runs every penalised method at the weight validation chose for
    it ([method.NAME]); a weight given in a file's [model] table applies to all of them,
    one in [method.NAME] to that method alone, and every entry is checked."""

    def weights(setting: str = "usps-mnist", **file: object) -> dict[str, float]:
        (config,) = configs_for(
            setting, file_overrides=file, cli_overrides={"methods": list(METHODS)}
        )
        return {run.method: run.model["invariance_weight"] for run in plan(config, tmp_path)}

    for setting, own in (
        ("usps-mnist", "usps-mnist"),
        ("faces", "faces"),
        ("svhn-synth", "usps-mnist"),
    ):
        chosen = {m: v["invariance_weight"] for m, v in BASELINE_WEIGHTS[own].items()}
        assert weights(setting) == {
            **{m: 1.0 for m in METHODS},
            **chosen,
            "posthoc-invariant": chosen["invariant"],  # its first stage is Moyer's
        }
    assert weights()["hsic"] == 100.0 and weights("faces")["hsic"] == 10.0
    everywhere = weights(model={"invariance_weight": 5.0})
    assert set(everywhere.values()) == {5.0}
    one = weights(model={"invariance_weight": 5.0}, method={"mmd": {"invariance_weight": 7}})
    assert one["mmd"] == 7.0 and one["hsic"] == 5.0
    assert weights(method={"hsic": {"invariance_weight": 3}})["mmd"] == 1.0  # the protocol's
    for table, message in (
        (
            {"cvae": {"invariance_weight": 1.0}},
            r"unknown key\(s\) \['invariance_weight'\] in \[method.cvae\], which cvae does "
            r"not read: invariance_weight is read by posthoc-invariant, invariant, hsic, mmd, "
            r"adversarial \(set it in their tables",
        ),
        (  # a typo of another method's setting: the fix named, not a setting of cvae's
            {"cvae": {"invariance_wieght": 1.0}},
            r"invariance_wieght \(did you mean 'invariance_weight'\?\); cvae reads \[",
        ),
        ({"cvae": {"seed": 1}}, r"\['seed'\] in \[method.cvae\], .*: seed is set per run by"),
        ({"hsci": {"invariance_weight": 1.0}}, "unknown method 'hsci' in \\[method.hsci\\]"),
        ({"hsic": {"invariance_weight": -1.0}}, "invariance_weight must be a finite number >= 0"),
        ({"optimal": {"discriminator_dropout": 2.0}}, "discriminator_dropout must lie in"),
    ):
        with pytest.raises(ValueError, match=message):
            weights(method=table)


def test_runs_made_on_another_device_count_as_finished(tmp_path):
    (config,) = configs_for("usps-mnist", file_overrides={**TINY, "seeds": 1})
    on_gpu = replace(config, training={**config.training, "device": "cuda"})
    changed = replace(config, training={**config.training, "epochs": 3, "device": "cuda"})
    for run, gpu_run, other in zip(
        plan(config, tmp_path), plan(on_gpu, tmp_path), plan(changed, tmp_path), strict=True
    ):
        assert runner.same_config(run.resolved(), gpu_run.resolved())
        assert not runner.same_config(run.resolved(), other.resolved())


def forbid_fit(monkeypatch: pytest.MonkeyPatch, model: type[BaseModel], why: str) -> None:
    """Make ``model.fit`` fail with ``why``: a post-hoc run must reuse its first stage."""

    def no_training(self, *args, **kwargs):
        raise AssertionError(why)

    monkeypatch.setattr(model, "fit", no_training)


def test_a_posthoc_run_waits_for_its_first_stage_another_process_trains(
    digits_root, tmp_path, monkeypatch
):
    """Started while another process still trains the CVAE run of its seed (that run's
    lock held), a post-hoc run waits for it and reuses its model, not training its own."""
    from types import SimpleNamespace

    (config,) = configs_for("usps-mnist", file_overrides={**TINY, "seeds": 1})
    cvae_run, posthoc_run = plan(
        replace(config, methods=["cvae", "posthoc"]), tmp_path, data_root=digits_root
    )
    assert runner.execute(cvae_run).ok
    result_path = cvae_run.folder / "result.json"
    finished, waited = tmp_path / "finished.json", tmp_path / "waited"
    result_path.replace(finished)  # as if still training, in the process holding its lock
    # The other process holds the lock until the post-hoc run has waited once.
    other_process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from optprior.experiments.lock import run_lock\n"
            "with run_lock(Path(sys.argv[1])):\n"
            "    print('held', flush=True)\n"
            "    while not Path(sys.argv[4]).exists(): time.sleep(0.05)\n"
            "    Path(sys.argv[2]).replace(sys.argv[3])",
            str(cvae_run.folder),
            str(finished),
            str(result_path),
            str(waited),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert other_process.stdout.readline() == "held\n"

    def wait(seconds: float) -> None:
        waited.touch()
        time.sleep(seconds)

    clock = SimpleNamespace(sleep=wait, perf_counter=time.perf_counter, time=time.time)
    monkeypatch.setattr(runner, "time", clock)
    monkeypatch.setattr(runner, "FIRST_STAGE_POLL_SECONDS", 0.05)
    forbid_fit(monkeypatch, CVAE, "the CVAE stage must come from the cvae run")
    try:
        result = runner.execute(posthoc_run)
    finally:
        waited.touch()  # never left holding the lock
        assert other_process.wait(30) == 0
    assert result.ok, result.traceback
    assert result.cvae_reused == cvae_run.name


def test_a_posthoc_run_whose_wait_outlasts_the_time_limit_stops_untrained(
    digits_root, tmp_path, monkeypatch
):
    """The time limit passing while a post-hoc run waits for its first stage leaves the
    run for the next sweep, not training a CVAE stage of its own past the limit."""
    (config,) = configs_for("usps-mnist", file_overrides={**TINY, "seeds": 1})
    cvae_run, posthoc_run = plan(
        replace(config, methods=["cvae", "posthoc"]), tmp_path, data_root=digits_root
    )
    holding = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    cvae_run.folder.mkdir(parents=True)  # held by a live process on this host
    (cvae_run.folder / "lock").write_text(
        json.dumps({"host": socket.gethostname(), "pid": holding.pid})
    )
    monkeypatch.setattr(runner, "FIRST_STAGE_POLL_SECONDS", 0.05)
    forbid_fit(monkeypatch, CVAE, "past the time limit nothing trains")
    try:
        result = runner.execute(replace(posthoc_run, stop_at=time.time() + 0.5))
    finally:
        holding.kill()
        holding.wait()
    assert result.status == "stopped", result.error
    assert result.error == f"not started: the time limit had passed while {cvae_run.folder} trained"
    assert not (posthoc_run.folder / "result.json").exists()


def test_a_run_failing_outside_training_is_named_and_the_sweep_goes_on(
    digits_root, tmp_path, caplog
):
    """A run whose files cannot be written (here its config.json is a folder) fails by
    name, its traceback logged and kept, unwritten; the sweep's next run finishes."""
    (config,) = configs_for("usps-mnist", file_overrides={**TINY, "seeds": 2, "methods": ["cvae"]})
    broken_run, other = plan(config, tmp_path, data_root=digits_root)
    (broken_run.folder / "config.json").mkdir(parents=True)
    results = {r.run: r for r in run_sweep([broken_run, other], local_executor(1))}
    assert results[other.name].ok
    broken = results[broken_run.name]
    assert broken.status == "failed" and broken.error.startswith("IsADirectoryError")
    assert "config.json" in broken.traceback and not (broken_run.folder / "result.json").exists()
    (logged,) = [r for r in caplog.records if "failed outside its training" in r.getMessage()]
    assert logged.getMessage().startswith(broken_run.name) and logged.exc_info is not None

    (broken_run.folder / "config.json").rmdir()
    (broken_run.folder / "config.json").write_text('{"training": ')  # damaged
    damaged = runner.execute(broken_run)
    assert damaged.status == "failed"
    assert f"{broken_run.folder / 'config.json'} is not a readable run configuration" in (
        damaged.error
    )


@pytest.mark.slow
def test_posthoc_run_reuses_the_cvae_run_of_its_seed(digits_root, tmp_path, monkeypatch):
    (config,) = configs_for("usps-mnist", file_overrides={**TINY, "seeds": 1})
    cvae_run, posthoc_run = plan(
        replace(config, methods=["cvae", "posthoc"]), tmp_path, data_root=digits_root
    )
    assert runner.execute(cvae_run).status == "ok"

    forbid_fit(monkeypatch, CVAE, "the CVAE stage must come from the cvae run")
    result = runner.execute(posthoc_run)
    assert result.status == "ok", result.traceback
    assert result.cvae_reused == cvae_run.name
    assert (posthoc_run.folder / "prior_curves.csv").is_file()
    assert "prior_log_normalizer" in result.metrics
    cvae, posthoc = cvae_run.load_model(), posthoc_run.load_model()
    encoders = (cvae.module_.encoder.parameters(), posthoc.module_.encoder.parameters())
    for old, new in zip(*encoders, strict=True):
        torch.testing.assert_close(old, new)

    # Killed while scoring, a checkpoint left over: scored from model.pt, the checkpoint
    # removed, the reuse (and so the training time of T alone) still recorded.
    (posthoc_run.folder / "result.json").unlink()
    (posthoc_run.folder / "checkpoint.pt").write_bytes(b"left over")
    again = runner.execute(posthoc_run)
    assert again.resumed_from_model and again.cvae_reused == cvae_run.name
    assert again.training_seconds == pytest.approx(result.training_seconds)
    assert not (posthoc_run.folder / "checkpoint.pt").exists()

    # Another folder, another prior and evaluation setting, another value of a setting
    # neither method reads: the CVAE stage is the same, so it is reused.
    balanced = {**posthoc_run.training, "discriminator_task_weights": "balanced"}
    scoring = replace(posthoc_run.evaluation, figures=not posthoc_run.evaluation.figures)
    ablation = replace(
        posthoc_run,
        out=str(tmp_path / "ablation"),
        cvae_runs=str(tmp_path),
        model={**posthoc_run.model, "invariance_weight": 5.0},
        training=balanced,
        evaluation=scoring,
    )
    result = runner.execute(ablation)
    assert result.cvae_reused == cvae_run.name
    fitted = ablation.load_model()
    assert fitted.config.discriminator.task_weights == "balanced"  # T's own settings
    assert result.training_seconds == pytest.approx(
        sum(r["seconds"] for r in fitted.history_.prior_epochs)
    )

    # A setting the CVAE depends on differs, or no cvae run: both stages are trained.
    monkeypatch.undo()
    faster = {**posthoc_run.training, "learning_rate": 1e-2}
    other = replace(ablation, out=str(tmp_path / "other"), training=faster)
    with pytest.warns(UserWarning, match="made with other settings; .* trains its own first"):
        assert runner.reusable_cvae(other) is None  # --cvae-runs was given: said so
    typo = replace(ablation, cvae_runs=str(tmp_path / "typo"))
    with pytest.warns(UserWarning, match=r"--cvae-runs .*typo: no finished run kept whole"):
        assert runner.reusable_cvae(typo) is None
    # A CVAE run that read other dataset files (another variant, other content) is not
    # a first stage for these data.
    data = ablation.load_data()
    assert runner.reusable_cvae(ablation, data).folder == cvae_run.folder
    path = cvae_run.folder / "result.json"
    kept = path.read_text()
    stored = json.loads(kept)
    stored["data_files"][0]["digest"] = "sha256 " + "0" * 64
    path.write_text(json.dumps(stored))
    with pytest.warns(UserWarning, match="read other dataset files .*trains its own first"):
        assert runner.reusable_cvae(ablation, data) is None
    with pytest.warns(UserWarning, match="read other dataset files"):  # as a run starts
        elsewhere = runner.execute(replace(ablation, out=str(tmp_path / "other-files")))
    assert elsewhere.status == "ok" and elsewhere.cvae_reused is None
    path.write_text(kept)
    alone = replace(posthoc_run, out=str(tmp_path / "alone"))
    result = runner.execute(alone)
    assert result.status == "ok" and result.cvae_reused is None


def test_post_hoc_runs_never_go_on_under_another_cap(tmp_path):
    """A post-hoc run's T was fitted to its first stage as that was: unlike a model
    trained under a lower cap, it is not one the trainer can go on from."""
    (config,) = configs_for("usps-mnist", file_overrides={**TINY, "seeds": 1})
    for method, goes_on in (("cvae", True), ("posthoc", False), ("posthoc-invariant", False)):
        (run,) = plan(replace(config, methods=[method]), tmp_path)
        resolved = run.resolved()
        lower = {**resolved["training"], "epochs": run.training["epochs"] - 1}
        assert (runner.other_cap({**resolved, "training": lower}, run) is not None) is goes_on


@pytest.mark.slow
def test_posthoc_invariant_run_reuses_the_invariant_run_at_its_weight(
    digits_root, tmp_path, monkeypatch
):
    overrides = {**TINY, "seeds": 1, "method": {"posthoc-invariant": {"invariance_weight": 0.5}}}
    (config,) = configs_for("usps-mnist", file_overrides=overrides)
    cvae_run, invariant_run, posthoc_run = plan(
        replace(
            config,
            methods=["cvae", "invariant", "posthoc-invariant"],
            method={**config.method, "invariant": {"invariance_weight": 0.5}},
        ),
        tmp_path,
        data_root=digits_root,
    )
    for run in (cvae_run, invariant_run):
        assert runner.execute(run).status == "ok"
    assert runner.reusable_cvae(posthoc_run).name == invariant_run.name  # not the CVAE's
    at_another_weight = replace(posthoc_run, model={**posthoc_run.model, "invariance_weight": 1})
    assert runner.reusable_cvae(at_another_weight) is None

    forbid_fit(monkeypatch, InvariantCVAE, "the first stage must come from the invariant run")
    result = runner.execute(posthoc_run)
    assert result.status == "ok", result.traceback
    assert result.cvae_reused == invariant_run.name
    model = posthoc_run.load_model()
    assert type(model) is PostHocInvariantCVAE
    assert model.get_params()["invariance_weight"] == 0.5
    source = invariant_run.load_model()
    for old, new in zip(
        source.module_.encoder.parameters(), model.module_.encoder.parameters(), strict=True
    ):
        torch.testing.assert_close(old, new)


@pytest.mark.slow
def test_failed_run_is_recorded_and_shown_as_missing(digits_root, tmp_path, monkeypatch):
    def explode(self, *args, **kwargs):
        raise FloatingPointError("training loss became nan at epoch 0")

    original = BaseModel.fit
    monkeypatch.setattr(
        BaseModel,
        "fit",
        lambda self, *a, **k: (
            explode(self) if type(self).__name__ == "CVAE" else original(self, *a, **k)
        ),
    )
    (config,) = configs_for("usps-mnist", file_overrides={**TINY, "seeds": 1})
    results = reproduce([config], tmp_path, local_executor(1), digits_root, progress=False)
    status = {r.method: r.status for r in results}
    assert status == {"cvae": "failed", "optimal": "ok"}
    failed = json.loads((tmp_path / "usps-mnist/cvae/seed-0/result.json").read_text())
    assert "nan at epoch 0" in failed["error"]
    table = (tmp_path / "results.md").read_text()
    cvae_row = next(line for line in table.splitlines() if line.startswith("| cvae |"))
    assert "| 0/1 |" in cvae_row and "missing" in cvae_row and "0.000" not in cvae_row

    # Started again, the failed run is retried and the finished one left alone.
    monkeypatch.setattr(BaseModel, "fit", original)
    stamp = (tmp_path / "usps-mnist/optimal/seed-0/result.json").stat().st_mtime_ns
    results = reproduce([config], tmp_path, local_executor(1), digits_root, progress=False)
    assert {r.method: r.status for r in results} == {"cvae": "ok", "optimal": "ok"}
    assert (tmp_path / "usps-mnist/optimal/seed-0/result.json").stat().st_mtime_ns == stamp


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_run_records_the_commit_of_its_source(tmp_path):
    def git(*args):
        command = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
        return subprocess.run([*command, *args], capture_output=True, text=True, check=True)

    package = tmp_path / "src" / "pkg"
    package.mkdir(parents=True)
    assert runner.source_commit(package) is None  # not a git checkout
    (package / "code.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "first")
    head = git("rev-parse", "HEAD").stdout.strip()
    assert runner.source_commit(package) == head
    (tmp_path / "notes.md").write_text("outside the package\n")  # neither tracked nor inside
    assert runner.source_commit(package) == head
    (package / "code.py").write_text("x = 2\n")
    assert runner.source_commit(package) == head + "-dirty"


def test_a_single_process_sweep_says_when_a_run_is_scored(digits_root, tmp_path, capsys):
    """Scoring takes minutes after the epochs' bar ends: a line says it has begun."""
    (config,) = configs_for("usps-mnist", file_overrides={**TINY, "seeds": 1, "methods": ["cvae"]})
    runs = plan(config, tmp_path, data_root=digits_root, progress=False)
    run_sweep(runs, local_executor(1, progress=True))
    assert "usps-mnist/cvae/seed-0: scoring" in capsys.readouterr().err
    run_sweep(runs, local_executor(1, progress=False))  # quiet: nothing (finished anyway)
    assert "scoring" not in capsys.readouterr().err
    assert logging.getLogger("optprior.experiments.runner").level == logging.NOTSET


def test_tables_state_the_budget_and_when_the_papers_column_is_no_reference():
    from optprior.experiments.tables import budgets, markdown_table

    def result(setting: str, seed: int, **sections: dict) -> RunResult:
        config = {"training": {"epochs": 1000}, "data": {"n_source": None}}
        config["evaluation"] = {"n_samples": 1000, "test_points": 0}
        for name, values in sections.items():
            config[name] = {**config[name], **values}
        return RunResult(f"{setting}/cvae/seed-{seed}", setting, "cvae", seed, "ok", config)

    full = budgets([result("usps-mnist", 0), result("faces", 0)])
    assert full["usps-mnist"] == (
        "Budget of these runs: up to 1000 epochs; scored on every test point with 1000 "
        "importance samples each."
    )
    quick = {"training": {"epochs": 15}, "data": {"n_source": 2000}}
    quick["evaluation"] = {"n_samples": 50, "test_points": 500}
    mixed = budgets([result("usps-mnist", 0), result("usps-mnist", 1, **quick)])
    assert mixed["usps-mnist"].startswith(
        "Budget of these runs: up to 15/1000 epochs; scored on every test point/500 test "
        "points a task with 50/1000 importance samples each; 2000/all source training points"
    )
    assert (
        "its column, of 1000 samples on every test point, is no like-for-like"
        in (mixed["usps-mnist"])
    )
    fewer = budgets([result("mine", 0, evaluation={"n_samples": 50})])  # no paper column
    assert "paper" not in fewer["mine"]
    failed = replace(result("usps-mnist", 2, **quick), status="failed")  # not in the table
    assert budgets([result("usps-mnist", 0), failed])["usps-mnist"] == full["usps-mnist"]
    old = result("faces", 0)
    del old.config["evaluation"]  # a result written before its scoring settings were
    assert budgets([old]) == {"faces": "Budget of these runs: up to 1000 epochs."}
    rows = [{"setting": "usps-mnist", "method": "cvae", "runs_ok": 2, "runs_failed": 0}]
    assert mixed["usps-mnist"] in markdown_table(rows, mixed)


def test_tune_refuses_a_two_task_setting_without_target_validation_points(
    digits_root, tmp_path, capsys
):
    """A two-task setting's tuning score is the target task's validation likelihood: its
    points are ``n_target_val``, not the source's ``val_fraction``."""
    config = tmp_path / "no-target-val.toml"
    config.write_text('protocol = "author"\n[data]\nn_target_val = 0\n')
    argv = ["reproduce", "usps-mnist", "--config", str(config), "--data-root", digits_root]
    argv += ["--tune", "invariant=0,1", "--out", str(tmp_path / "out"), "--quiet"]
    assert cli.main(argv) == 2
    assert "usps-mnist's scored tasks: n_target_val 0 leaves none" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_tables_name_runs_averaged_as_seeds_though_their_configurations_differ(tmp_path):
    def result(method: str, seed: int, **model: object) -> RunResult:
        config = {
            "setting": "usps-mnist",
            "method": method,
            "seed": seed,
            "model": {"latent_dim": 2, "invariance_weight": 1.0, **model},
            "training": {"learning_rate": 1e-3, "device": "cpu"},
            "data": {"verify": seed != 1},  # how files were checked: the same points
        }
        metrics = {"test_log_likelihood": -100.0 - seed}
        return RunResult(
            f"usps-mnist/{method}/seed-{seed}",
            "usps-mnist",
            method,
            seed,
            "ok",
            config,
            metrics=metrics,
        )

    alike = [
        result("invariant", 0),
        result("invariant", 1, invariance_weight=10.0),  # chosen for its seed: listed
        replace(
            result("invariant", 2),
            config={**result("invariant", 2).config, "training": {"device": "cuda"}},
        ),  # where it ran, and a setting it does not record (learning_rate): not compared
        result("cvae", 0, latent_dim=2),
        result("cvae", 1, invariance_weight=5.0),  # a setting the CVAE does not read
    ]
    assert runner.unlike_seeds(alike) == []
    unlike = [
        *alike,
        result("cvae", 2, latent_dim=20),
        replace(result("cvae", 3, latent_dim=30), status="failed"),
    ]  # failed runs are not averaged
    assert runner.unlike_seeds(unlike) == [
        "usps-mnist/cvae/seed-2 against usps-mnist/cvae/seed-0: model.latent_dim: 2 -> 20"
    ]
    with pytest.warns(UserWarning, match="averaged as seeds though they differ: usps-mnist/cvae"):
        write_tables(unlike, tmp_path)
    text = (tmp_path / "results.md").read_text()
    assert (
        "though their configurations differ in more than the seed:\n\n- usps-mnist/cvae/seed-2 "
        in text
    )


@pytest.mark.slow
def test_tables_are_mean_and_std_of_result_files(digits_root, tmp_path):
    with_mlp_probe = {**TINY, "evaluation": {**TINY["evaluation"], "mlp_probe": True}}
    (config,) = configs_for("usps-mnist", file_overrides=with_mlp_probe)
    reproduce([config], tmp_path, local_executor(1), digits_root, progress=False)
    results = collect(tmp_path)
    assert len(results) == 4
    with open(tmp_path / "results.csv") as stream:
        rows = {row["method"]: row for row in csv.DictReader(stream)}
    for method in ("cvae", "optimal"):
        mine = [r.metrics for r in results if r.method == method]
        for key in ("test_log_likelihood", "accuracy_logistic", "task_probe", "task_information"):
            values = np.array([m[key] for m in mine])
            assert math.isclose(float(rows[method][f"{key}_mean"]), values.mean(), rel_tol=1e-9)
            assert math.isclose(float(rows[method][f"{key}_std"]), values.std(ddof=1), rel_tol=1e-9)
    result = results[0]
    written = set(result.to_dict())
    assert {"config", "versions", "seed", "wall_seconds", "epochs_run", "metrics"} <= written
    assert result.versions["torch"]
    commit = runner.source_commit()  # this checkout's, where the tests run from one
    assert result.versions.get("optprior commit") == commit
    cpu = torch.backends.cpu.get_cpu_capability()  # what a rerun elsewhere may round apart
    assert result.versions["cpu"] == runner.cpu_model() and result.versions["cpu"].endswith(cpu)
    threads = torch.get_num_threads()  # one job: it ran in this process, with its threads
    assert result.threads == threads
    assert f"| cpu, {threads} thread" in (tmp_path / "results.md").read_text()
    optimal = next(r for r in results if r.method == "optimal").metrics
    assert math.isclose(
        optimal["test_log_likelihood_normalized"],
        optimal["test_log_likelihood"] - optimal["prior_log_normalizer"],
    )
    assert 0.0 <= optimal["discriminator_accuracy"] <= 1.0
    assert math.isfinite(optimal["calibration_error_mean"]) and optimal["calibration_error_std"] > 0
    assert "The discriminator T against the exact mixture" in (tmp_path / "results.md").read_text()
    assert 0.0 <= optimal["task_probe_mlp_cv"] <= 1.0 and "task_probe_mlp" not in optimal
    for metric in ("task_mmd", "task_hsic"):
        assert math.isfinite(optimal[metric]) and 0 < optimal[f"{metric}_p"] <= 1
    assert "How much z depends on the task" in (tmp_path / "results.md").read_text()

    # A second setting run into the same folder joins the tables; it does not replace them.
    (faces,) = configs_for("faces", file_overrides={**TINY, "seeds": 1, "data": {}})
    reproduce([faces], tmp_path, local_executor(1), digits_root, progress=False)
    table = (tmp_path / "results.md").read_text()
    assert "### usps-mnist" in table and "### faces" in table


@pytest.mark.slow
def test_cli_quick_end_to_end(digits_root, tmp_path):
    from optprior.cli import main

    code = main(
        [
            "reproduce",
            "usps-mnist",
            "--quick",
            "--protocol",
            "paper",
            "--quiet",
            "--out",
            str(tmp_path),
            "--data-root",
            digits_root,
            "--methods",
            "vae,optimal",
        ]
    )
    assert code == 0
    for method in ("vae", "optimal"):
        folder = tmp_path / "usps-mnist" / method / "seed-0"
        for name in (
            "result.json",
            "model.pt",
            "curves.csv",
            "embedding.png",
            "reconstructions.png",
            "curves.png",
        ):
            assert (folder / name).is_file(), name
    table = (tmp_path / "results.md").read_text()
    assert "| optimal | 1/0 |" in table and "-163.25 ± 2.15" in table


def test_workers_share_out_the_cores_this_process_may_use(monkeypatch):
    """A job given 4 cores of a 64-core machine (Slurm, taskset) gives 2 workers 2
    threads each, not 32."""
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    assert executors.usable_cores() == 4
    assert executors.worker_threads(2) == 2 and executors.worker_threads(8) == 1
    assert executors.worker_threads(2, threads=3) == 3


@pytest.mark.slow
def test_worker_processes_run_the_sweep_and_report_by_run(digits_root, tmp_path, capsys):
    (config,) = configs_for("usps-mnist", file_overrides={**TINY, "seeds": 1})
    runs = plan(config, tmp_path, data_root=digits_root)
    results = run_sweep(runs, local_executor(2, progress=True, threads=3))  # --threads 3
    assert sorted(r.method for r in results) == ["cvae", "optimal"]
    assert all(r.status == "ok" and r.threads == 3 for r in results)
    lines = capsys.readouterr().err.splitlines()
    for method in ("cvae", "optimal"):
        mine = [line for line in lines if f" usps-mnist/{method}/seed-0: " in line]
        assert any(
            re.search(r"model: 2 epochs in all; keeping epoch [01] \(from 0\)$", line)
            for line in mine
        )
        assert any(line.endswith(": scoring") for line in mine)


class _KilledWhileLogging(runner.Run):
    """A run whose worker process is killed (SIGKILL) while it sends log records."""

    def load_data(self):
        log = logging.getLogger("optprior.experiments.runner")

        def chatter() -> None:
            while True:
                log.warning("a record of %s", "x" * 200)

        threading.Thread(target=chatter, daemon=True).start()
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.slow
def test_a_worker_killed_while_logging_ends_the_sweep_without_hanging(tmp_path, capsys):
    """Workers killed (as for memory) while they send log records: the sweep returns,
    each run named as failed by its worker's death, to be tried again next time (no
    traceback, no hang on the queue a killed worker wrote to)."""
    (config,) = configs_for("usps-mnist", file_overrides={**TINY, "seeds": 1})
    runs = [_KilledWhileLogging(**vars(run)) for run in plan(config, tmp_path)]
    outcome: dict[str, Any] = {}

    def sweep() -> None:
        try:
            outcome["results"] = run_sweep(runs, local_executor(2))
        except BaseException as error:
            outcome["error"] = error

    thread = threading.Thread(target=sweep, daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "the sweep hung after its worker was killed"
    assert "error" not in outcome, outcome.get("error")
    assert sorted(r.run for r in outcome["results"]) == sorted(run.name for run in runs)
    assert {(r.status, r.error) for r in outcome["results"]} == {("failed", WORKER_LOST)}
    assert "a record of xxx" in capsys.readouterr().err  # records arrived until the kill

    (tmp_path / "results.md").write_text("| the tables |\n")
    assert cli._report(outcome["results"], tmp_path) == 1  # not 3: a job script's loop ends
    printed = capsys.readouterr().out
    assert printed.count(f": {WORKER_LOST}") == len(runs)


@dataclass(frozen=True)
class _SlowFailingRun(runner.Run):
    """A run that fails after ``seconds`` (its ``result.json`` says so)."""

    seconds: float = 10.0

    def load_data(self):
        time.sleep(self.seconds)
        raise ValueError("no data here")


@pytest.mark.slow
def test_an_interrupted_sweep_starts_no_further_run(tmp_path):
    """The first run ends after a second, the others would take ten: time enough for
    the sweep to stop its workers however loaded the machine."""
    (config,) = configs_for("usps-mnist", file_overrides={**TINY, "seeds": 8})
    runs = [  # 16 runs
        _SlowFailingRun(**vars(run), seconds=1.0 if k == 0 else 10.0)
        for k, run in enumerate(plan(config, tmp_path))
    ]

    def interrupt(result: dict) -> None:  # as Ctrl+C would, on the first result
        raise KeyboardInterrupt

    # Ctrl+C reaches a sweep run from a terminal; a background job (`cmd &` in a script,
    # as CI may start the tests) ignores SIGINT, and so would its workers, which then let
    # a run they had begun finish (three failed runs, not at most two).
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_sweep(runs, local_executor(2), interrupt)
    finally:
        signal.signal(signal.SIGINT, inherited)
    failed = [json.loads(p.read_text()) for p in tmp_path.glob("*/*/seed-*/result.json")]
    assert all(r["status"] == "failed" and "no data here" in r["error"] for r in failed)
    # The first; the other worker's run is interrupted unless it had ended too, and the
    # runs already handed to a worker do not start.
    assert 1 <= len(failed) <= 2


def _children(pid: int) -> int:
    """How many processes have ``pid`` as their parent (from /proc)."""
    count = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            count += stat.read_text().rsplit(")", 1)[1].split()[1] == str(pid)
    return count


def _ctrl_c(out: Path, when: str) -> tuple[int, str, list[str]]:
    """Start ``interrupted_sweep.py`` in its own process group (as a terminal's foreground
    job), press Ctrl+C there (SIGINT to the group) ``when`` its two workers are "running"
    their first runs or "starting" (started, importing), or send SIGINT to its process
    alone ("kill -INT") while they run; return its exit code, stderr and the runs
    started."""
    script = Path(__file__).with_name("interrupted_sweep.py")
    sweep = subprocess.Popen(
        [sys.executable, str(script), str(out)],
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert sweep.stdout.readline() == "sweeping\n"
    if when != "starting":
        deadline = time.monotonic() + 120
        while len(list(out.glob("started-*"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    else:  # its two workers and multiprocessing's resource tracker
        while _children(sweep.pid) < 3 and sweep.poll() is None:
            time.sleep(0.01)
    send = os.kill if when == "kill -INT" else os.killpg
    _, err = signalled_output(sweep, send, signal.SIGINT, timeout=90)
    return sweep.returncode, err, sorted(p.name for p in out.glob("started-*"))


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads processes from /proc")
def test_ctrl_c_stops_a_sweep_of_workers_at_once_and_quietly(tmp_path):
    # While they run: the two runs stop, and the run already queued to a worker does not
    # start (it would train to its end before the sweep's process could exit).
    code, err, started = _ctrl_c(tmp_path / "running", "running")
    assert code == 130, err
    assert started == ["started-cvae-0", "started-optimal-0"]
    assert "Traceback" not in err
    # While the workers import: no worker prints its interrupted import; no run starts.
    code, err, started = _ctrl_c(tmp_path / "starting", "starting")
    assert code == 130, err
    assert started == []
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    # SIGINT to the sweep's process alone: it stops its workers.
    code, err, started = _ctrl_c(tmp_path / "kill", "kill -INT")
    assert code == 130, err
    assert started == ["started-cvae-0", "started-optimal-0"]


@pytest.mark.slow
def test_a_ray_task_reports_once_by_run(digits_root, tmp_path, capsys):
    (config,) = configs_for("usps-mnist", file_overrides={**TINY, "seeds": 1})
    (run, _) = plan(config, tmp_path, data_root=digits_root)
    try:
        assert executors._execute_reporting(run, logging.INFO).status == "ok"
        again = executors._execute_reporting(replace(run, rescore="all"), logging.INFO)
    finally:  # this process is no Ray worker
        package = logging.getLogger("optprior")
        while executors._worker_handlers:
            package.removeHandler(executors._worker_handlers.pop())
        package.setLevel(logging.NOTSET)
        package.propagate = True
    assert again.status == "ok" and again.rescored is not None
    lines = capsys.readouterr().err.splitlines()
    assert sum(line.endswith("usps-mnist/cvae/seed-0: scoring") for line in lines) == 1
    rescoring = [line for line in lines if "scoring again from model.pt" in line]
    assert len(rescoring) == 1  # the second task replaced the first one's handler


def test_a_sweep_asked_to_stop_before_its_workers_start_starts_none(tmp_path, monkeypatch):
    """SIGTERM before the workers exist: no worker is started (each imports torch) only to
    report its runs not started, eating into a batch system's grace period."""
    import concurrent.futures

    from optprior.training.stopping import ask_to_stop, stop_on_sigterm

    def no_pool(*args, **kwargs):
        raise AssertionError("worker processes started")

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", no_pool)
    (config,) = configs_for("usps-mnist", file_overrides={**TINY, "seeds": 2})
    runs = plan(config, tmp_path)
    results = []
    with stop_on_sigterm(message=None):
        ask_to_stop()  # SIGTERM while the sweep planned its runs
        executors.local_executor(2)(runs, results.append)
    assert [r.status for r in results] == ["stopped"] * len(runs)
    assert {r.error for r in results} == {"not started: SIGTERM asked to stop"}
    assert not list(tmp_path.iterdir())  # no run was started


@pytest.mark.parametrize("ctrl_c", [True, False])
def test_a_worker_follows_its_sweeps_stop_without_making_one_sigterm_two(monkeypatch, ctrl_c):
    """Asked (the sweep's process got SIGTERM): the worker is sent its own signal, which
    only asks, never a SIGTERM that a group-wide one would make the second. At once
    (Ctrl+C, or a second SIGTERM): SIGINT, or where the sweep ignores SIGINT (a
    background job), SIGTERM after the stop is asked, which its handler takes as the
    second."""
    from types import SimpleNamespace

    from optprior.training.stopping import stop_asked, stop_on_sigterm

    flag = SimpleNamespace(value=0)
    sent: list[int] = []
    monkeypatch.setattr(executors, "_STOPPING", flag)
    monkeypatch.setattr(executors, "_signal_main_thread", sent.append)
    monkeypatch.setattr(executors, "STOP_POLL_SECONDS", 0.01)
    with stop_on_sigterm(message=None):  # forgets the stop asked here on leaving
        watcher = threading.Thread(target=executors._follow_stopping, args=(ctrl_c,))
        watcher.start()
        flag.value = executors.STOP_ASKED
        deadline = time.monotonic() + 10
        while not sent and time.monotonic() < deadline:
            time.sleep(0.01)
        executors._asked_by_sweep(executors.ASKED_SIGNAL, None)  # as its handler would
        flag.value = executors.STOP_NOW
        watcher.join(10)
        assert stop_asked()
    assert not watcher.is_alive()
    assert set(sent[:-1]) == {executors.ASKED_SIGNAL}
    assert sent[-1] == (signal.SIGINT if ctrl_c else signal.SIGTERM)


def test_a_worker_found_dead_when_given_its_next_run_is_replaced(tmp_path, monkeypatch):
    """A worker that died after its run's result came back, before it was given the
    next: that run goes to a new worker, and every run gets its result, in order."""
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    made = []

    class OneRunWorker:  # each dies after its first run, found so at the second
        def __init__(self, *args: Any) -> None:
            self.given, self.closed = 0, False
            made.append(self)

        def submit(self, run):
            self.given += 1
            if self.given > 1:
                raise BrokenProcessPool("died after its last run")
            future = Future()
            future.set_result(run.result("ok"))
            return future

        def close(self, wait_for_records: bool = True) -> None:
            self.closed = True

    monkeypatch.setattr(executors, "_Worker", OneRunWorker)
    (config,) = configs_for("usps-mnist", file_overrides={**TINY, "seeds": 3})
    runs = plan(config, tmp_path)
    results = []
    executors.local_executor(2)(runs, results.append)
    assert [(r.run, r.status) for r in results] == [(run.name, "ok") for run in runs]
    assert len(made) == len(runs) and all(worker.closed for worker in made)


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signal masks")
def test_workers_start_with_the_signals_held_though_a_queue_starts_the_resource_tracker(
    tmp_path, monkeypatch
):
    """A worker's first queue starts Python's resource tracker where none runs yet, which
    unblocks SIGINT and SIGTERM in the thread starting it: inside the block that holds
    them while workers start, a Ctrl+C then cut a start short (seen in CI)."""
    from concurrent.futures import Future
    from multiprocessing import resource_tracker

    masks = []

    class QueueWorker:
        def __init__(self, context: Any, *args: Any) -> None:
            self.queue = context.Queue()  # as a worker's own

        def submit(self, run):
            masks.append(signal.pthread_sigmask(signal.SIG_BLOCK, []))
            future = Future()
            future.set_result(run.result("ok"))
            return future

        def close(self, wait_for_records: bool = True) -> None:
            pass

    monkeypatch.setattr(executors, "_Worker", QueueWorker)
    monkeypatch.setattr(resource_tracker._resource_tracker, "_fd", None)  # none runs yet
    (config,) = configs_for("usps-mnist", file_overrides={**TINY, "seeds": 1})
    results = []
    executors.local_executor(2)(plan(config, tmp_path), results.append)
    assert masks and all(executors.HELD_SIGNALS <= mask for mask in masks), masks


def test_a_batch_jobs_sigterm_after_the_sweeps_own_stop_is_the_first(monkeypatch):
    """SIGTERM to a batch job's every process: the sweep's stop (``ASKED_SIGNAL``) can be
    handled in a worker before the SIGTERM that reached it at the same time; that
    SIGTERM still only asks its run to stop (the sweep once ended with 130, not 3), a
    second interrupts it, and one sent once the sweep stops at once interrupts it."""
    from types import SimpleNamespace

    from optprior.training.stopping import stop_asked, stop_on_sigterm

    flag = SimpleNamespace(value=executors.STOP_ASKED)
    for name, value in (("_STOPPING", flag), ("_EXECUTING", True)):
        monkeypatch.setattr(executors, name, value)
    for stopped_now in (False, True):
        monkeypatch.setattr(executors, "_TERMINATED", False)
        monkeypatch.setattr(executors, "_INTERRUPTED", False)
        flag.value = executors.STOP_NOW if stopped_now else executors.STOP_ASKED
        with stop_on_sigterm(message=None):
            executors._asked_by_sweep(executors.ASKED_SIGNAL, None)
            assert stop_asked()
            if stopped_now:
                with pytest.raises(KeyboardInterrupt):
                    executors._terminate_once(signal.SIGTERM, None)
                continue
            try:
                executors._terminate_once(signal.SIGTERM, None)  # the job's: the run goes on
            except KeyboardInterrupt:
                pytest.fail("the batch job's SIGTERM, the first, interrupted the run")
            with pytest.raises(KeyboardInterrupt):
                executors._terminate_once(signal.SIGTERM, None)  # a second: at once


def test_ray_tasks_get_absolute_paths_and_keep_the_sigterm_handler(tmp_path, monkeypatch):
    """A Ray worker reads paths from its own working folder (on a cluster, another
    machine's): the driver sends its runs' paths absolute, still the same runs. Starting
    Ray leaves the command's SIGTERM handler in place."""
    from types import SimpleNamespace

    from optprior.training import stop_on_sigterm

    (config,) = configs_for("usps-mnist", file_overrides={**TINY, "seeds": 1})
    monkeypatch.chdir(tmp_path)
    (run, _) = plan(config, "runs", data_root="data")
    own = replace(run, data={**run.data, "file": "mine.npz"}, cvae_runs="cvaes")
    sent = []

    class Ref:
        def __init__(self, run):
            self.run = run

    class FakeRay:  # what ray_executor calls of Ray, each task "run" at once
        exceptions = SimpleNamespace(RayError=RuntimeError)

        @staticmethod
        def is_initialized():
            return False

        @staticmethod
        def init(**options):  # as Ray's driver does: SIGTERM -> sys.exit
            signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(signum))

        @staticmethod
        def remote(**resources):
            def task(function):
                return SimpleNamespace(remote=lambda run, level: sent.append(run) or Ref(run))

            return task

        @staticmethod
        def wait(refs, num_returns):
            return refs[:num_returns], refs[num_returns:]

        @staticmethod
        def get(ref):
            return ref.run.result("ok")

    monkeypatch.setitem(sys.modules, "ray", FakeRay)
    results = []
    with stop_on_sigterm(resumable=False):  # the command's handler stays the handler
        ours = signal.getsignal(signal.SIGTERM)
        executors.ray_executor()([run, own], results.append)
        assert signal.getsignal(signal.SIGTERM) is ours
    assert [r.status for r in results] == ["ok", "ok"]
    first, second = sent
    assert first.out == str(tmp_path / "runs") and first.data_root == str(tmp_path / "data")
    assert second.data["file"] == str(tmp_path / "mine.npz")
    assert second.cvae_runs == str(tmp_path / "cvaes")
    assert first.resolved() == run.resolved() and first.folder == tmp_path / run.folder


def test_ray_executor_on_a_local_instance(digits_root, tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'optprior[ray]'")
    (config,) = configs_for("usps-mnist", file_overrides={**TINY, "seeds": 1})
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        executor = executors.ray_executor(progress=True)
        results = run_sweep(plan(config, tmp_path, data_root=digits_root), executor)
    finally:
        ray.shutdown()
    assert sorted(r.method for r in results) == ["cvae", "optimal"]
    assert all(r.status == "ok" for r in results)


@dataclass(frozen=True)
class _KilledRun(runner.Run):
    """A run whose process is killed (SIGKILL), as for memory, once it starts."""

    def load_data(self):
        os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.slow
def test_a_worker_that_dies_fails_its_run_alone_and_a_new_one_goes_on(digits_root, tmp_path):
    """Each run's worker breaks alone: the runs whose workers are killed fail by name, and
    the run after them trains in a worker started in their place."""
    (config,) = configs_for("usps-mnist", file_overrides={**TINY, "seeds": 1, "methods": ["cvae"]})
    (run,) = plan(config, tmp_path, data_root=digits_root)
    killed = [_KilledRun(**{**vars(run), "seed": seed}) for seed in (1, 2)]
    results = {r.run: r for r in run_sweep([*killed, run], local_executor(2))}
    assert results[run.name].ok
    for dead in killed:
        assert (results[dead.name].status, results[dead.name].error) == ("failed", WORKER_LOST)


@pytest.mark.slow
def test_a_ray_task_whose_worker_dies_fails_by_name_and_the_sweep_goes_on(digits_root, tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'optprior[ray]'")
    (config,) = configs_for("usps-mnist", file_overrides={**TINY, "seeds": 1, "methods": ["cvae"]})
    (run,) = plan(config, tmp_path, data_root=digits_root)
    killed = _KilledRun(**{**vars(run), "seed": 1})
    tests = str(Path(__file__).parent)  # where Ray's workers import this module from
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": tests}},
    )
    try:
        task_retries = {"max_retries": 0}
        with pytest.MonkeyPatch.context() as patch:  # a dying task is not tried again
            remote = ray.remote
            patch.setattr(ray, "remote", lambda **o: remote(**o, **task_retries))
            results = {r.run: r for r in run_sweep([run, killed], executors.ray_executor())}
    finally:
        ray.shutdown()
    assert results[run.name].ok
    assert results[killed.name].status == "failed"
    assert results[killed.name].error.startswith("its Ray task: ")


@pytest.mark.parametrize(
    "path",
    sorted([*(CONFIGS / "ablations").glob("*.toml"), *(CONFIGS / "converged").glob("*.toml")]),
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
def test_committed_configs_resolve(path):
    raw = read_config_file(path)
    assert configs_for(raw["setting"], file_overrides=raw)[0].setting == raw["setting"]


def test_a_sweep_says_which_dataset_files_it_reads(digits_root, capsys):
    check_data(configs_for("usps-mnist", file_overrides=TINY), digits_root)
    assert (
        "usps-mnist reads usps/usps.h5 (h5), mnist/train-images-idx3-ubyte.gz (idx), "
        "mnist/train-labels-idx1-ubyte.gz (idx), mnist/t10k-images-idx3-ubyte.gz (idx), "
        "mnist/t10k-labels-idx1-ubyte.gz (idx)"
    ) in capsys.readouterr().err


def planned(runs):
    """The plan line a sweep of ``runs`` prints."""
    return describe_plan(runs, stored_results(runs))


def test_a_sweep_runs_the_seeds_named_or_as_many_as_counted(tmp_path):
    (chosen,) = configs_for("usps-mnist", file_overrides=TINY, cli_overrides={"seeds": [4, 3]})
    assert [(run.method, run.seed) for run in plan(chosen, tmp_path)] == [
        ("cvae", 3),
        ("optimal", 3),
        ("cvae", 4),
        ("optimal", 4),
    ]
    assert planned(plan(chosen, tmp_path)).endswith(
        "4 runs planned (0 finished): usps-mnist: cvae, optimal; seeds 3-4"
    )
    gaps = resolve("usps-mnist", {**TINY, "seeds": [0, 2, 3, 5], "methods": ["vae"]})
    assert planned(plan(gaps, tmp_path)).endswith("usps-mnist: vae; seeds 0, 2-3, 5")
    assert sorted({run.seed for run in plan(resolve("usps-mnist", TINY), tmp_path)}) == [0, 1]
    assert planned(plan(resolve("usps-mnist", TINY), tmp_path)).endswith("seeds 0-1")
    path = tmp_path / "chosen.toml"
    path.write_text(to_toml(chosen))
    assert "seeds = [3, 4]" in path.read_text()
    assert resolve("usps-mnist", read_config_file(path)) == chosen


def test_runs_of_another_protocol_are_refused_with_the_protocol_named(tmp_path):
    """Runs made under the paper protocol (the default before 2026-12-05), met by a sweep
    under the default: the refusal says to name their protocol; a lone setting changed
    by hand gets no such advice."""
    from optprior.experiments.runner import refuse_other_config

    (paper,) = plan(resolve("usps-mnist", TINY, protocol="paper"), tmp_path)[:1]
    (author,) = plan(resolve("usps-mnist", TINY), tmp_path)[:1]
    with pytest.raises(ConfigMismatchError, match=r"warmup_from_zero.*--protocol \(paper, au"):
        refuse_other_config(paper.resolved(), author, "made")
    other = {**TINY, "model": {**TINY["model"], "latent_dim": 5, "hidden_sizes": [8]}}
    (wider,) = plan(resolve("usps-mnist", other, protocol="paper"), tmp_path)[:1]
    with pytest.raises(ConfigMismatchError) as refused:  # protocol keys and others differ
        refuse_other_config(wider.resolved(), author, "made")
    assert "latent_dim" in str(refused.value) and "--protocol" not in str(refused.value)
    faster = {**TINY, "training": {**TINY["training"], "learning_rate": 1e-2}}
    (edited,) = plan(resolve("usps-mnist", faster, protocol="paper"), tmp_path)[:1]
    with pytest.raises(ConfigMismatchError) as refused:
        refuse_other_config(edited.resolved(), paper, "made")
    assert "learning_rate" in str(refused.value) and "--protocol" not in str(refused.value)


def test_a_config_file_may_name_its_protocol():
    named = {"setting": "faces", "protocol": "fast", "seeds": 2}
    (config,) = configs_for("faces", file_overrides=named)
    assert config == resolve("faces", {"seeds": 2}, protocol="fast")
    assert config.training["learning_rate_patience"] == 10
    assert configs_for("faces", file_overrides=named, protocol="fast") == [config]
    with pytest.raises(ValueError, match="names protocol 'fast', --protocol says 'author'"):
        configs_for("faces", file_overrides=named, protocol="author")
    with pytest.raises(ValueError, match="unknown protocol 'slow'"):
        configs_for("faces", file_overrides={"protocol": "slow"})


def test_figures_read_codes_whatever_output_scikit_learn_is_set_to(two_tasks):
    """A user's ``sklearn.set_config(transform_output="pandas")`` turns ``transform`` into
    DataFrames; the figures (and scores) read the codes as arrays all the same."""
    import sklearn

    from optprior.data import MultiTaskData, TaskSplit
    from optprior.experiments.figures import reconstruction_figure

    x, s = two_tasks
    split = TaskSplit(X=x, s=s, y=np.full(len(x), -1), index=np.arange(len(x)))
    data = MultiTaskData("toy", 0, split, split, split, ("a", "b"), (3, 4), "bernoulli", 1)
    model = fast(CVAE).fit(x, s)
    with sklearn.config_context(transform_output="pandas"):
        assert reconstruction_figure(model, data, n=2).axes


@pytest.mark.slow
def test_scoring_repeats_its_numbers_and_leaves_the_callers_random_state(two_tasks):

    from optprior.data import MultiTaskData, TaskSplit
    from optprior.experiments.config import EvaluationConfig
    from optprior.experiments.evaluate import evaluate
    from optprior.models import OptimalPriorCVAE

    x, s = two_tasks
    y = np.arange(len(x)) % 3
    split = TaskSplit(X=x, s=s, y=y, index=np.arange(len(x)))
    data = MultiTaskData("toy", 0, split, split, split, ("a", "b"), (3, 4), "bernoulli", 1)
    model = fast(OptimalPriorCVAE).fit(x, s)
    config = EvaluationConfig(n_samples=20, probe_points=60, figures=False)
    torch.manual_seed(1)
    expected = torch.rand(2)
    torch.manual_seed(1)
    first = evaluate(model, data, config, seed=3)
    assert torch.equal(torch.rand(2), expected)  # the caller's stream went on untouched
    torch.manual_seed(99)  # another state before scoring: the same numbers
    assert evaluate(model, data, config, seed=3) == first
    assert evaluate(model, data, config, seed=4) != first


def test_a_warning_format_a_worker_cannot_receive_is_left_to_it():
    """A user's lambda as warnings.formatwarning cannot be sent to spawned workers: the
    sweep goes on with their default rather than failing to start them."""
    from optprior.experiments.executors import _sendable

    assert _sendable(warnings.formatwarning) is warnings.formatwarning
    assert _sendable(lambda *args: "shown") is None


_ORPHAN_SCRIPT = """
import os, time, warnings
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from optprior.experiments.executors import _start_worker

if __name__ == "__main__":
    context = get_context("spawn")
    with ProcessPoolExecutor(
        1,
        mp_context=context,
        initializer=_start_worker,
        initargs=(context.Queue(), 30, warnings.formatwarning, context.RawValue("b", 0), True),
    ) as pool:
        print(pool.submit(os.getpid).result(), flush=True)
        pool.submit(time.sleep, 60)
        time.sleep(60)
"""


def _running(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        return "\nState:\tZ" not in status.read_text()  # a zombie has ended
    except FileNotFoundError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's /proc")
def test_a_sweeps_workers_end_when_it_is_killed(tmp_path):
    """``kill PID`` of a sweep reaches it alone: its workers must not train on as orphans
    (holding their runs' locks, so that the sweep started again would skip those runs)."""
    import subprocess
    import sys

    script = tmp_path / "sweep.py"
    script.write_text(_ORPHAN_SCRIPT)
    sweep = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        started = sweep.stdout.readline()
        exited = sweep.poll() is not None
        assert started.strip().isdigit(), sweep.stderr.read() if exited else started
        worker = int(started)
        assert _running(worker)
    finally:
        sweep.kill()
        sweep.communicate()  # the killed sweep's resource tracker warns of its semaphores
    deadline = time.monotonic() + 15
    while _running(worker) and time.monotonic() < deadline:
        time.sleep(0.2)
    ended = not _running(worker)
    if not ended:
        os.kill(worker, signal.SIGKILL)
    assert ended, "the worker outlived the sweep that started it"


@pytest.mark.parametrize(
    ("epochs", "stopped_early", "prior_epochs", "capped"),
    [(5, False, 0, True), (5, True, 0, False), (3, False, 0, False), (3, True, 5, True)],
)
def test_a_run_is_marked_at_its_cap_where_its_fit_or_ts_ran_every_epoch(
    epochs, stopped_early, prior_epochs, capped
):
    """The runs table's "cap": every allowed epoch ran without early stopping, in the
    model's fit or in a post-hoc T's own (on the same cap)."""
    from optprior.training.trainer import History

    history = History([{}] * epochs, epochs - 1, stopped_early, [{}] * prior_epochs)
    assert runner.reached_epoch_cap(history, 5) is capped


@pytest.mark.parametrize("dynamic", [True, False])
def test_the_normalizers_codes_are_of_the_data_as_training_saw_them(dynamic):
    """ln Z and T's calibration start from the training points' codes: binarised once
    where training drew Bernoulli data afresh, the grey levels themselves where it
    trained on them (binarising those would estimate Z of another q(z))."""
    from optprior.data import MultiTaskData, TaskSplit
    from optprior.evaluation.binarization import binarized
    from optprior.experiments.evaluate import training_posteriors
    from optprior.models import OptimalPriorCVAE

    rng = np.random.default_rng(0)
    x, s = rng.random((80, 6)).astype(np.float32), np.repeat([0, 1], 40)
    split = TaskSplit(X=x, s=s, y=np.zeros(80, dtype=np.int64), index=np.arange(80))
    data = MultiTaskData("toy", 0, split, split, split, ("a", "b"), (3, 4), "bernoulli", 1)
    model = fast(OptimalPriorCVAE, dynamic_binarization=dynamic, epochs=1).fit(x, s)
    mu, logvar, _ = training_posteriors(model, data)
    seen_by_training = binarized(x) if dynamic else x
    expected_mu, expected_logvar = model.posterior(seen_by_training, s)
    np.testing.assert_array_equal(mu.numpy(), expected_mu)
    np.testing.assert_array_equal(logvar.numpy(), expected_logvar)


def test_post_hoc_runs_are_planned_after_their_first_stages(tmp_path):
    """Seed by seed, but every post-hoc run after all other runs, so that its first stage
    (the CVAE, Moyer's model) is finished or under way when it starts and is reused."""
    overrides = {"methods": ["posthoc-invariant", "posthoc", "invariant", "cvae"], "seeds": 2}
    (config,) = configs_for("usps-mnist", file_overrides=overrides)
    order = [(run.method, run.seed) for run in plan(config, tmp_path)]
    assert order == [
        ("invariant", 0),
        ("cvae", 0),
        ("invariant", 1),
        ("cvae", 1),
        ("posthoc-invariant", 0),
        ("posthoc", 0),
        ("posthoc-invariant", 1),
        ("posthoc", 1),
    ]


def test_cpu_named_by_family_model_and_stepping_of_the_first_processor():
    block = "processor\t: {0}\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: {1}\n"
    cpuinfo = block.format(0, 1) + "model name\t: AMD EPYC\nstepping\t: 1\n\n"
    cpuinfo += block.format(1, 17) + "model name\t: AMD EPYC\nstepping\t: 2\n"
    assert runner.cpuinfo_name(cpuinfo) == "AMD EPYC (family 25, model 1, stepping 1)"
    assert runner.cpuinfo_name("model name\t: Some CPU\n") == "Some CPU"
    assert runner.cpuinfo_name("processor\t: 0\nCPU implementer\t: 0x41\n") is None
