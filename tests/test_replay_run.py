"""scripts/replay_run.py: a recorded run's settings written back for its own commit, and
the first epoch where two curves part."""

import csv
import importlib.util
import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from optprior.experiments.config import read_config_file
from optprior.experiments.records import RunResult, write_result_file
from optprior.experiments.reproduce import configs_for
from optprior.experiments.runner import execute, plan, source_commit

REPO = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("replay_run", REPO / "scripts/replay_run.py")
replay_run = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(replay_run)


def recorded_run(tmp_path, setting, protocol, method="optimal", seed=1):
    """The resolved settings a run of ``protocol`` writes to its config.json."""
    (config,) = configs_for(setting, protocol=protocol)
    (run,) = [r for r in plan(config, tmp_path) if r.method == method and r.seed == seed]
    return run.resolved()


@pytest.mark.parametrize(("setting", "protocol"), [("faces", "author"), ("usps-mnist", "paper")])
def test_replay_config_resolves_to_the_recorded_settings_but_epochs_and_scoring(
    tmp_path, setting, protocol
):
    recorded = recorded_run(tmp_path, setting, protocol)
    path = tmp_path / "replay.toml"
    path.write_text(replay_run.replay_config(recorded, epochs=2))
    # read as `reproduce SETTING --config replay.toml` reads it (no protocol named)
    (config,) = configs_for(setting, file_overrides=read_config_file(path))
    (run,) = plan(config, tmp_path)
    replayed = run.resolved()
    assert replayed["training"] == {**recorded["training"], "epochs": 2}
    assert {k: replayed[k] for k in ("setting", "method", "seed", "data", "model")} == {
        k: recorded[k] for k in ("setting", "method", "seed", "data", "model")
    }
    light = asdict(config.evaluation)
    assert light == {**light, **replay_run.LIGHT_EVALUATION}


def test_replay_config_writes_only_the_evaluation_keys_the_run_recorded(tmp_path):
    recorded = recorded_run(tmp_path, "faces", "author")
    del recorded["evaluation"]["mlp_probe"]  # recorded before the key existed
    text = replay_run.replay_config(recorded, epochs=2)
    assert "mlp_probe" not in text and "n_samples = 2" in text


def test_a_users_own_data_is_not_replayed(tmp_path):
    recorded = {**recorded_run(tmp_path, "faces", "author"), "setting": "own:cells.npz"}
    with pytest.raises(replay_run.CannotReplay, match="own data"):
        replay_run.replay_config(recorded, epochs=2)


def rows(*values):
    return [
        {"epoch": str(epoch), "seconds": str(epoch + 0.5), "train_elbo": a, "val_elbo": b}
        for epoch, (a, b) in enumerate(values)
    ]


def test_first_difference_names_the_first_epoch_and_columns_that_part():
    recorded = rows(("-1482.25", "-146.8"), ("-50.1", "65.21"), ("-20.0", "80.0"))
    same = rows(("-1482.25", "-146.8"), ("-50.1", "65.21"))
    for row in same:
        row["seconds"] = "9.9"  # wall-clock time always differs
    assert replay_run.first_difference(recorded, same) is None
    parted = rows(("-1482.25", "-146.8"), ("-50.1", "65.2100001"), ("-20.5", "81.0"))
    assert replay_run.first_difference(recorded, parted) == (
        1,
        [("val_elbo", "65.21", "65.2100001")],
    )
    assert replay_run.relative("65.21", "65.2100001") == "relative 1.5e-09"


@pytest.mark.slow  # three trainings, two in fresh processes of a worktree: a minute
def test_a_run_repeats_with_its_own_commit_and_a_changed_value_is_named(
    digits_root, tmp_path, capsys
):
    commit = source_commit()
    if commit is None or commit.endswith("-dirty"):
        pytest.skip("the replay checks out the run's commit: needs a clean git checkout")
    overrides = {
        "methods": ["optimal"],
        "seeds": [1],
        "data": {"n_source": 200, "n_target_val": 20},
        "model": {"latent_dim": 2, "hidden_sizes": [16], "discriminator_hidden_sizes": [16]},
        "training": {"epochs": 3, "warmup_epochs": 1},
        "evaluation": {"n_samples": 2, "test_points": 20, "probe_points": 20, "figures": False},
    }
    (config,) = configs_for("usps-mnist", file_overrides=overrides)
    (run,) = plan(config, tmp_path, data_root=digits_root)
    assert execute(run).ok
    argv = [str(run.folder), "--data-root", digits_root]
    assert replay_run.main(argv) == 0
    assert "repeats the recorded run bit for bit over its 2 epoch(s)" in capsys.readouterr().out
    path = run.folder / "curves.csv"
    rows = replay_run.read_curves(path)
    rows[1]["discriminator_loss"] = repr(float(rows[1]["discriminator_loss"]) * (1 + 1e-12))
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert replay_run.main([*argv, "--epochs", "3"]) == 1
    printed = capsys.readouterr().out
    assert "parts from the recorded run at epoch 1 (of 3 compared)" in printed
    assert "discriminator_loss: " in printed and "train_elbo" not in printed


def test_runs_that_cannot_be_replayed_say_why(tmp_path, capsys):
    folder = tmp_path / "seed-0"
    folder.mkdir()
    recorded = {"setting": "faces", "method": "posthoc", "seed": 0}
    (folder / "config.json").write_text(json.dumps(recorded))
    (folder / "curves.csv").write_text("epoch,train_elbo\n0,-1.5\n")
    result = RunResult("faces/posthoc/seed-0", "faces", "posthoc", 0, "ok", config=recorded)
    write_result_file(folder, replace(result, cvae_reused="faces/cvae/seed-0"))
    assert replay_run.main([str(folder)]) == 2
    assert "its first stage is the run it reused (faces/cvae/seed-0)" in capsys.readouterr().err
    dirty = {"optprior commit": "0" * 40 + "-dirty"}
    write_result_file(folder, replace(result, versions=dirty))
    assert replay_run.main([str(folder)]) == 2
    assert "name the commit to replay it with (--commit)" in capsys.readouterr().err


def test_the_oldest_commits_seed_count_includes_the_run(tmp_path):
    recorded = recorded_run(tmp_path, "faces", "author", seed=3)
    text = replay_run.replay_config(recorded, epochs=2, seeds_as_count=True)
    assert read_config_file_text(tmp_path, text)["seeds"] == 4  # seeds 0-3: seed 3 among them


def read_config_file_text(tmp_path, text):
    path = tmp_path / "count.toml"
    path.write_text(text)
    return read_config_file(path)


def test_two_recorded_runs_compared_bit_for_bit_or_within_a_tolerance(tmp_path, capsys):
    recorded = rows(("-1482.25", "-146.8"), ("-50.1", "65.21"), ("-20.0", "80.0"))
    close = rows(("-1482.25", "-146.8"), ("-50.1", "65.2100001"), ("-20.5", "81.0"))
    assert replay_run.first_difference(recorded, close, tolerance=1e-3) == (
        2,
        [("train_elbo", "-20.0", "-20.5"), ("val_elbo", "80.0", "81.0")],
    )
    folders = []
    for name, curves in (("published", recorded), ("rerun", close)):
        folder = tmp_path / name
        folder.mkdir()
        with (folder / "curves.csv").open("w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=list(curves[0]))
            writer.writeheader()
            writer.writerows(curves)
        folders.append(str(folder))
    assert replay_run.main([folders[0], "--against", folders[1]]) == 1
    assert "parts from the recorded run at epoch 1 (of 3 compared)" in capsys.readouterr().out
    assert replay_run.main([folders[0], "--against", folders[1], "--tolerance", "0.1"]) == 0
    assert "repeats the recorded run within a relative 0.1 over its 3" in capsys.readouterr().out
