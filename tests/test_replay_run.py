"""scripts/replay_run.py: a recorded run's settings written back for its own commit, and
the first epoch where two curves part."""

import importlib.util
from dataclasses import asdict
from pathlib import Path

import pytest

from optprior.experiments.config import read_config_file
from optprior.experiments.reproduce import configs_for
from optprior.experiments.runner import plan

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
