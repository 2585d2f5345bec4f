"""The command line, end to end."""

import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from helpers import count_epochs, no_warnings, sigterm

from optprior import load_model
from optprior.cli import STOPPED_STATUS, main


def test_demo_prints_a_table(capsys):
    assert main(["demo", "--quiet", "--epochs", "2", "--samples", "5"]) == 0
    out = capsys.readouterr().out
    for method in ("| vae |", "| cvae |", "| optimal |"):
        assert method in out
    assert "test ln p(x\\|s) | normalised |" in out and "| 2 (" in out  # epochs run (best)
    cvae = next(line for line in out.splitlines() if line.startswith("| cvae |"))
    assert cvae.split(" | ")[1] == cvae.split(" | ")[2]  # N(0, I) is a density: ln Z = 0
    assert "0.5 = chance" in out


def test_threads_sets_torch_threads_and_refuses_nonsense(monkeypatch, capsys):
    import torch

    calls = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    argv = ["demo", "--quiet", "--epochs", "1", "--samples", "2", "--methods", "vae"]
    assert main([*argv, "--threads", "1"]) == 0
    assert calls == [1]
    for bad in ("0", "two"):
        with pytest.raises(SystemExit):
            main([*argv, "--threads", bad])
        assert "--threads must be a whole number >= 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--samples", "0"],
        ["demo", "--epochs", "0"],
        ["compare", "--data", "x.npz", "--out", "o", "--samples", "0"],
        ["compare", "--data", "x.npz", "--out", "o", "--epochs", "-3"],
        ["train", "--data", "x.npz", "--out", "m.pt", "--epochs", "0"],
        ["train", "--data", "x.npz", "--out", "m.pt", "--latent-dim", "0"],
        ["demo", "--seed", "-1"],
        ["train", "--data", "x.npz", "--out", "m.pt", "--seed", "1.5"],
    ],
)
def test_counts_are_refused_by_their_flag_before_any_work(argv, capsys):
    flag = argv[-2]
    least = 0 if flag == "--seed" else 1
    with pytest.raises(SystemExit):
        main(argv)
    assert f"{flag} must be a whole number >= {least}, got '{argv[-1]}'" in capsys.readouterr().err


def test_seeds_is_a_count_or_seed_numbers_and_ranges(capsys):
    from optprior.cli import _seeds

    assert _seeds("5") == 5
    assert _seeds("3-4") == [3, 4] and _seeds("4-4") == [4]
    assert _seeds("0-2,4") == [0, 1, 2, 4] and _seeds("2, 0") == [0, 2]
    for bad in ("4-3", "3-", "a", "0"):
        with pytest.raises(SystemExit):
            main(["reproduce", "usps-mnist", "--seeds", bad])
        assert "--seeds" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # seed 0 meant: the way to say it named
        main(["reproduce", "usps-mnist", "--seeds", "00"])
    assert "for seed 0 alone pass 0-0" in capsys.readouterr().err


def test_unknown_method_is_named(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--methods", "vae,gan"])
    assert "unknown method(s) ['gan']" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["demo", "--methods", ","])
    assert "no method given; choose from vae" in capsys.readouterr().err


def test_a_method_named_twice_runs_once():
    from optprior.cli import _methods

    assert _methods("cvae, optimal,cvae") == ("cvae", "optimal")


def test_all_methods_is_every_method():
    from optprior.cli import _methods
    from optprior.models.methods import METHODS

    assert _methods("all") == tuple(METHODS) and "vamp" in METHODS
    assert _methods("cvae, optimal") == ("cvae", "optimal")


@pytest.mark.slow
def test_console_script_help():
    result = subprocess.run(
        [sys.executable, "-m", "optprior.cli", "demo", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--methods" in result.stdout and "download" in result.stdout


def test_config_command_prints_a_readable_protocol(capsys, tmp_path):
    from optprior.experiments.config import read_config_file, resolve

    assert main(["config", "faces"]) == 0
    path = tmp_path / "faces.toml"
    path.write_text(capsys.readouterr().out)
    assert resolve("faces", read_config_file(path)) == resolve("faces")


def test_train_then_embed_own_data(tmp_path, capsys, two_tasks):
    import numpy as np

    x, s = two_tasks
    data = tmp_path / "mine.npz"
    np.savez(data, X=x.reshape(len(x), 3, 4), s=s)  # images are flattened
    model = tmp_path / "model.pt"
    code = main(
        [
            "train",
            "--data",
            str(data),
            "--out",
            str(model),
            "--method",
            "cvae",
            "--epochs",
            "2",
            "--latent-dim",
            "3",
            "--hidden-sizes",
            "8,4",
            "--learning-rate",
            "1e-3",
            "--quiet",
        ]
    )
    assert code == 0 and model.is_file()
    trained = load_model(model).get_params()
    assert (trained["hidden_sizes"], trained["learning_rate"]) == ((8, 4), 1e-3)
    assert not tmp_path.joinpath("model.pt.checkpoint").exists()
    assert "saved CVAE" in capsys.readouterr().out
    again = ["train", "--data", str(data), "--out", str(model), "--epochs", "1"]
    assert main([*again, "--latent-dim", "3", "--hidden-sizes", "8,4", "--quiet"]) == 0
    assert f"{model} exists: training anew, to replace it" in capsys.readouterr().err
    z_path = tmp_path / "z.npy"
    embed = ["embed", str(model), "--data", str(data), "--out", str(z_path)]
    assert main([*embed, "--threads", "1"]) == 0
    assert np.load(z_path).shape == (len(x), 3)
    csv_path = tmp_path / "z.csv"
    assert main([*embed[:-1], str(csv_path)]) == 0
    assert csv_path.read_text().startswith("z0,z1,z2\n")
    np.testing.assert_allclose(
        np.loadtxt(csv_path, delimiter=",", skiprows=1), np.load(z_path), rtol=1e-6
    )
    assert main([*embed[:-1], str(tmp_path / "z.txt")]) == 2
    assert "name a .npy (NumPy) or .csv file" in capsys.readouterr().err
    capsys.readouterr()
    np.savez(data, X=x * 255, s=s)  # grey levels the Bernoulli model was not trained on
    assert main(embed) == 2
    error = capsys.readouterr().err
    assert "scale it as the model's training data were" in error and "--likelihood" not in error


def trained_tiny(data, model_path, method: str, epochs: int, capsys) -> None:
    """``optprior train`` of ``method`` on ``data`` at a tiny size, its output read."""
    train = ["train", "--data", str(data), "--out", str(model_path), "--method", method]
    tiny = ["--epochs", str(epochs), "--latent-dim", "2", "--hidden-sizes", "8", "--quiet"]
    assert main([*train, *tiny]) == 0
    capsys.readouterr()


@pytest.mark.filterwarnings("ignore:all .* epochs trained came before the KL warm-up")
@pytest.mark.parametrize("method", ["optimal", "cvae"])
def test_score_prints_each_task_and_writes_each_point(
    method, tmp_path, capsys, two_tasks, monkeypatch
):
    import numpy as np

    from optprior import cli

    x, s = two_tasks
    data = tmp_path / "mine.npz"
    np.savez(data, X=x, s=s)
    model_path = tmp_path / "model.pt"
    trained_tiny(data, model_path, method, 3, capsys)
    monkeypatch.setattr(cli, "SCORE_BATCH", 50)  # batches of points, as the bar steps
    out = tmp_path / "scores.csv"
    score = ["score", str(model_path), "--data", str(data), "--samples", "20", "--quiet"]
    assert main([*score, "--seed", "3", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    table = np.genfromtxt(out, delimiter=",", names=True)
    np.testing.assert_array_equal(table["s"], s)
    # The whole file in one call to the estimator, each prior divided by its Z.
    model = load_model(model_path)
    log_z = model.log_normalizer(x, s, random_state=3)
    assert (log_z != 0.0) == (method == "optimal")
    expected = model.score_samples(x, s, n_samples=20, random_state=3) - log_z
    np.testing.assert_allclose(table["log_likelihood"], expected, rtol=1e-5)
    np.testing.assert_allclose(table["elbo"], model.elbo(x, s, random_state=3) - log_z, rtol=1e-5)
    assert table["log_likelihood"].mean() > table["elbo"].mean()  # the IS bound is tighter
    cells = [line.strip("| ").split(" | ") for line in printed.splitlines()]
    rows = {row[0]: row for row in cells if row[0] in ("0", "1", "all")}
    for name, chosen in (("0", s == 0), ("1", s == 1), ("all", s >= 0)):
        assert rows[name][1] == str(chosen.sum())
        assert float(rows[name][2]) == pytest.approx(
            table["log_likelihood"][chosen].mean(), abs=0.006
        )
        assert float(rows[name][3]) == pytest.approx(table["elbo"][chosen].mean(), abs=0.006)
    if method == "optimal":  # the paper's measure beside: the prior not divided by Z
        assert float(rows["all"][4]) == pytest.approx(expected.mean() + log_z, abs=0.006)
        assert f"ln Z = {log_z:.3f}" in printed
        np.savez(data, X=x[:1], s=s[:1])  # ln Z starts from the codes of the points scored
        assert main(score) == 2
        assert "X holds 1 point: give at least 2" in capsys.readouterr().err
    else:
        assert len(rows["all"]) == 4 and "ln Z" not in printed


@pytest.mark.filterwarnings("ignore:all .* epochs trained came before the KL warm-up")
def test_score_of_a_model_without_tasks_has_one_row_and_no_task_column(tmp_path, capsys, two_tasks):
    import numpy as np

    data, model_path, out = tmp_path / "mine.npz", tmp_path / "vae.pt", tmp_path / "scores.csv"
    np.savez(data, X=two_tasks[0])
    trained_tiny(data, model_path, "vae", 1, capsys)
    score = ["score", str(model_path), "--data", str(data), "--samples", "2", "--quiet"]
    assert main([*score, "--out", str(out)]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[0] for row in rows[1:]] == ["| all"]  # under the heading
    assert out.read_text().startswith("log_likelihood,elbo\n")


@pytest.mark.filterwarnings("ignore:all .* epochs trained came before the KL warm-up")
def test_score_refuses_bad_input_by_name(tmp_path, capsys, two_tasks):
    import numpy as np

    x, s = two_tasks
    data = tmp_path / "mine.npz"
    np.savez(data, X=x, s=s)
    model_path = tmp_path / "model.pt"
    trained_tiny(data, model_path, "cvae", 1, capsys)
    score = ["score", str(model_path), "--data", str(data), "--samples", "2"]
    assert main([*score, "--out", str(tmp_path / "scores.txt")]) == 2
    assert "name a .csv file" in capsys.readouterr().err
    np.savez(data, X=x, s=s + 1)  # task 2 was never trained on
    assert main(score) == 2
    assert "task indices [2] that were not seen in training" in capsys.readouterr().err
    np.savez(data, X=x)  # no s, and the model knows two tasks
    assert main(score) == 2
    assert "has no task indices 's'" in capsys.readouterr().err


def _train_command(tmp_path, two_tasks) -> tuple[list[str], Path]:
    """``optprior train`` of 4 epochs on ``two_tasks`` saved as an .npz, and its model."""
    import numpy as np

    x, s = two_tasks
    data = tmp_path / "mine.npz"
    np.savez(data, X=x, s=s)
    model = tmp_path / "model.pt"
    command = ["train", "--data", str(data), "--out", str(model), "--epochs", "4"]
    return [*command, "--latent-dim", "3", "--quiet"], model


@pytest.mark.parametrize("cap", [4, 6])  # the same command, or one with a higher --epochs
def test_interrupted_train_goes_on_from_its_checkpoint(
    cap, tmp_path, capsys, two_tasks, monkeypatch
):
    from optprior.training import trainer as trainer_module

    command, model = _train_command(tmp_path, two_tasks)
    monkeypatch.setattr(trainer_module, "CHECKPOINT_SECONDS", 0.0)
    with monkeypatch.context() as patch:
        count_epochs(patch, interrupt_at=3)
        assert main(command) == 130  # Ctrl-C: one line on how to go on, no traceback
    assert "Run the same command again" in capsys.readouterr().err
    assert tmp_path.joinpath("model.pt.checkpoint").is_file() and not model.exists()
    command[command.index("--epochs") + 1] = str(cap)
    with monkeypatch.context() as patch:
        started = count_epochs(patch)
        assert main(command) == 0
    assert len(started) == cap - 2 and model.is_file()
    assert "going on from" in capsys.readouterr().err
    assert not tmp_path.joinpath("model.pt.checkpoint").exists()
    # Kept once finished, a checkpoint lets a higher cap train on from the cap reached.
    command.append("--keep-checkpoint")
    assert main(command) == 0 and tmp_path.joinpath("model.pt.checkpoint").is_file()
    command[command.index("--epochs") + 1] = str(cap + 2)
    with monkeypatch.context() as patch:
        started = count_epochs(patch)
        assert main(command) == 0
    assert len(started) == 2 and "going on from" in capsys.readouterr().err


def test_sigterm_stops_train_after_its_epoch_and_the_same_command_goes_on(
    tmp_path, capfd, two_tasks, monkeypatch
):
    command, model = _train_command(tmp_path, two_tasks)
    with monkeypatch.context() as patch:
        count_epochs(patch, interrupt_at=2, interrupt=sigterm)
        assert main(command) == STOPPED_STATUS
    err = capfd.readouterr().err
    assert "stopped after epoch 2 of at most 4 (SIGTERM asked to stop); " in err
    assert tmp_path.joinpath("model.pt.checkpoint").is_file() and not model.exists()
    with monkeypatch.context() as patch:
        started = count_epochs(patch)
        assert main(command) == 0
    assert len(started) == 2 and model.is_file()
    assert "going on from" in capfd.readouterr().err


def test_train_and_embed_refuse_an_out_that_is_no_file_before_any_work(tmp_path, capsys):
    # The data file does not even exist: --out is checked first, so no training is lost.
    missing = str(tmp_path / "nope.npz")
    for out in (str(tmp_path), f"{tmp_path}/new/", "."):
        assert main(["train", "--data", missing, "--out", out]) == 2
        assert "--out" in capsys.readouterr().err
    assert main(["embed", "m.pt", "--data", missing, "--out", str(tmp_path)]) == 2
    assert f"--out {tmp_path} is a folder: give the file to write" in capsys.readouterr().err
    (tmp_path / "a-file").write_text("")
    assert main(["train", "--data", missing, "--out", str(tmp_path / "a-file" / "m.pt")]) == 2
    assert f"{tmp_path / 'a-file'} is a file, not a folder" in capsys.readouterr().err
    # A folder not there yet is made when the file is written, as save makes it.
    assert main(["train", "--data", missing, "--out", str(tmp_path / "no" / "m.pt")]) == 2
    assert "--out" not in capsys.readouterr().err and not (tmp_path / "no").exists()


def test_train_reports_bad_data_files(tmp_path, capsys):
    import numpy as np

    missing_x = tmp_path / "bad.npz"
    np.savez(missing_x, data=np.zeros((3, 2)))
    assert main(["train", "--data", str(missing_x), "--out", str(tmp_path / "m.pt")]) == 2
    assert "has no array 'X'" in capsys.readouterr().err
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    assert main(["train", "--data", str(broken), "--out", str(tmp_path / "m.pt")]) == 2
    error = capsys.readouterr().err
    assert "is not an .npz file: numpy.savez" in error and "pickle" not in error
    truncated = tmp_path / "truncated.npz"
    np.savez(truncated, X=np.zeros((3, 2)))
    truncated.write_bytes(truncated.read_bytes()[:-30])  # a zip that lost its end
    assert main(["train", "--data", str(truncated), "--out", str(tmp_path / "m.pt")]) == 2
    assert "not a readable .npz" in capsys.readouterr().err
    objects = tmp_path / "objects.npz"
    np.savez(objects, X=np.zeros((3, 2)), s=np.array([0, "a", None], dtype=object))
    assert main(["train", "--data", str(objects), "--out", str(tmp_path / "m.pt")]) == 2
    assert "array 's' cannot be read" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path / "nope.npz"), "--out", "m.pt"]) == 2
    assert "no data file" in capsys.readouterr().err
    gaps = tmp_path / "gaps.npz"  # as compare, train refuses tasks that skip an index
    np.savez(gaps, X=np.full((60, 2), 0.5), s=[1] * 30 + [2] * 30)
    assert main(["train", "--data", str(gaps), "--out", str(tmp_path / "m.pt")]) == 2
    assert "skips 1 task indices [0] of 0..2" in capsys.readouterr().err
    # A bad row is named by its row in the file, whichever split it would have fallen in.
    x, s = np.random.default_rng(0).random((40, 3)), np.arange(40) % 2
    for row in range(40):
        x[row, 1] = np.nan
        np.savez(tmp_path / "nan.npz", X=x, s=s)
        assert main(["train", "--data", str(tmp_path / "nan.npz"), "--out", "m.pt"]) == 2
        assert f"optprior: error: X contains NaN or infinite values (first in row {row})\n" == (
            capsys.readouterr().err
        )
        x[row, 1] = 0.5
    # Values outside [0, 1]: the same advice as optprior compare gives.
    np.savez(tmp_path / "wide.npz", X=x * 3, s=s)
    assert main(["train", "--data", str(tmp_path / "wide.npz"), "--out", "m.pt"]) == 2
    assert "scale it into [0, 1] (e.g. X / 255) or use the Gaussian" in capsys.readouterr().err


def test_arrays_under_other_names_are_named_in_a_warning(tmp_path, capsys):
    """A task array saved as 'task' would leave one task without a word."""
    import numpy as np

    from optprior.data.user import read_npz

    path = tmp_path / "misnamed.npz"
    np.savez(path, X=np.zeros((40, 2)), task=np.arange(40) % 2, labels=np.arange(40))
    with pytest.warns(UserWarning, match=r"arrays \['labels', 'task'\] are not read; task"):
        assert read_npz(path).s is None
    command = ["train", "--data", str(path), "--out", str(tmp_path / "m.pt"), "--epochs", "1"]
    with pytest.warns(UserWarning, match=r"arrays \['labels', 'task'\] are not read"):
        assert main([*command, "--quiet"]) == 0
    # compare says it once, as it checks the file, not again as each run loads it
    from optprior.experiments.config import own_data_config
    from optprior.experiments.runner import plan

    with pytest.warns(UserWarning, match="are not read") as caught:
        config = own_data_config(path, None, {"data": {"val_fraction": 0.2}})
    assert len(caught) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plan(config, tmp_path / "runs")[0].load_data()
    # The command prints it as its own warning, without the line of our source that warned.
    cli = [sys.executable, "-m", "optprior.cli", *command, "--quiet"]
    printed = subprocess.run(cli, capture_output=True, text=True, check=True)
    assert printed.stderr.startswith("optprior: warning: ") and ".py:" not in printed.stderr


def write_results(root: Path, runs: list[tuple[str, str, int, float]]) -> None:
    """A finished ``result.json`` under ``root`` per (setting, method, seed, test ln p)."""
    import json

    for setting, method, seed, value in runs:
        folder = root / setting / method / f"seed-{seed}"
        folder.mkdir(parents=True)
        result = {
            "run": f"{setting}/{method}/seed-{seed}",
            "setting": setting,
            "method": method,
            "seed": seed,
            "status": "ok",
            "metrics": {"test_log_likelihood": value},
        }
        (folder / "result.json").write_text(json.dumps(result))


def test_tables_command_summarises_gathered_runs(tmp_path, capsys):
    runs = [("cvae", 0, -10.0), ("cvae", 1, -12.0), ("mine", 0, -9.0), ("vae", 0, -13.0)]
    # cvae: mean -11, sample std sqrt(2)
    write_results(tmp_path, [("usps-mnist", *run) for run in runs])
    assert main(["tables", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "4 runs; all tables in" in printed and "## Runs" not in printed  # the summary
    assert "### usps-mnist" in printed and "| cvae | 2/0 | -11.00 ± 1.41 |" in printed
    table = (tmp_path / "results.md").read_text()
    assert "| cvae | 2/0 | -11.00 ± 1.41 |" in table
    headline, paired = table.split("## Against the CVAE")
    rows = [line.split(" | ")[0] for line in headline.splitlines() if line.startswith("| ")]
    assert rows[1:4] == ["| vae", "| cvae", "| mine"]  # a method of one's own last
    assert "| mine | +1.00 (1/0 of 1) |" in paired  # seed 0: -9 against -10; no empty column
    assert "| usps-mnist/cvae/seed-1 | ok |" in table.split("## Runs")[1]  # one row per run
    assert (tmp_path / "results.csv").is_file()
    assert not (tmp_path / "paired.png").exists()  # none of its metrics was scored


def test_tables_name_the_penalty_weight_each_method_trained_at(tmp_path, capsys):
    """A table of penalised methods side by side says each one's weight (two weights
    among a method's runs are both named); unpenalised methods have none."""
    import json

    runs = [("cvae", 0, -10.0), ("hsic", 0, -11.0), ("hsic", 1, -12.0), ("mmd", 0, -9.0)]
    write_results(tmp_path, [("usps-mnist", *run) for run in runs])
    for (method, seed, _), weight in zip(runs, (1.0, 100.0, 10.0, 1.0), strict=True):
        path = tmp_path / "usps-mnist" / method / f"seed-{seed}" / "result.json"
        result = json.loads(path.read_text())
        path.write_text(json.dumps({**result, "config": {"model": {"invariance_weight": weight}}}))
    assert main(["tables", str(tmp_path)]) == 0
    line = "Penalty weights (`invariance_weight`) the runs trained at: hsic 10, 100; mmd 1."
    assert line in capsys.readouterr().out and line in (tmp_path / "results.md").read_text()
    assert "invariance_weight" in (tmp_path / "results.csv").read_text().splitlines()[0]


def test_tables_print_one_table_of_the_settings_named_and_write_nothing(tmp_path, capsys):
    write_results(
        tmp_path,
        [("faces", "cvae", 0, 10.0), ("faces", "mine", 0, 13.0), ("usps-mnist", "cvae", 0, -5.0)],
    )
    command = ["tables", str(tmp_path), "--print", "paired", "--setting", "faces"]
    assert main(command) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("| method |") and "| mine | +3.00 (1/0 of 1) |" in printed
    assert "###" not in printed  # one setting: no heading
    assert main(["tables", str(tmp_path), "--print", "runs"]) == 0
    printed = capsys.readouterr().out
    assert "| faces/mine/seed-0 | ok |" in printed and "| usps-mnist/cvae/seed-0 | ok |" in printed
    assert main([*command[:-1], "usps-mnist"]) == 2  # its CVAE has nothing to pair with
    assert "nothing to pair" in capsys.readouterr().err
    assert main([*command[:-1], "mnist-usps"]) == 2
    assert "no runs of mnist-usps" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faces", "usps-mnist"]  # no tables
    assert main(["tables", str(tmp_path), "--setting", "faces"]) == 2  # would drop the rest
    assert "--setting selects what --print prints" in capsys.readouterr().err


def test_tables_command_names_an_empty_folder(tmp_path, capsys):
    assert main(["tables", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no runs in" in err and "--tune" not in err
    (tmp_path / "tune" / "hsic-1.0").mkdir(parents=True)  # a --tune grid's folder alone
    assert main(["tables", str(tmp_path)]) == 2
    assert f"a --tune grid's runs are under {tmp_path / 'tune' / 'hsic-1.0'}" in (
        capsys.readouterr().err
    )


def test_split_by_task_keeps_every_task_in_training():
    import numpy as np

    from optprior.data.user import split_by_task

    s = np.array([0] * 50 + [1] + [2] * 3)
    train, val = split_by_task(s, 0.2, seed=4)
    assert set(s[train]) == {0, 1, 2}  # the single point of task 1 stays in training
    assert sorted([*train, *val]) == list(range(len(s)))  # disjoint and complete
    assert (s[val] == 0).sum() == 10 and (s[val] == 2).sum() == 1
    again, _ = split_by_task(s, 0.2, seed=4)
    np.testing.assert_array_equal(train, again)


def test_train_reads_config_tables_and_refuses_unknown_ones(tmp_path, capsys, two_tasks):
    import numpy as np

    x, s = two_tasks
    data = tmp_path / "rare.npz"
    rare = np.concatenate([s[s == 0], [1]])  # task 1 has a single point
    np.savez(data, X=np.concatenate([x[s == 0], x[s == 1][:1]]), s=rare)
    config = tmp_path / "mine.toml"
    config.write_text("[model]\nlatent_dim = 2\n[training]\nepochs = 1\nseed = 5\n")
    model = tmp_path / "model.pt"
    command = ["train", "--data", str(data), "--out", str(model), "--method", "cvae"]
    assert main([*command, "--config", str(config), "--quiet"]) == 0
    saved = load_model(model)
    assert saved.training.seed == 5 and saved.config.latent_dim == 2  # the file's settings
    assert saved.tasks_ == [0, 1]  # the rare task was kept for training

    # A file of every method's settings (as optprior config writes) serves a CVAE: it
    # takes the settings it reads; each setting is still checked.
    config.write_text(
        "[model]\nlatent_dim = 2\ndiscriminator_dropout = 0.5\n[training]\nepochs = 1\n"
    )
    assert main([*command, "--config", str(config), "--quiet"]) == 0
    assert "discriminator_dropout" not in load_model(model).get_params()
    config.write_text('protocol = "fast"\nseeds = 2\n[training]\nepochs = 1\n')
    assert main([*command, "--config", str(config), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert (
        "optprior: warning: " in err
        and "['protocol', 'seeds'] are read by optprior reproduce" in err
    )
    assert "those it leaves out take the estimator's defaults, not protocol 'fast'" in err
    assert "--protocol fast" in err
    config.write_text("[model]\ndiscriminator_dropout = 1.5\n[training]\nepochs = 1\n")
    assert main([*command, "--config", str(config)]) == 2
    assert "discriminator_dropout must lie in [0, 1)" in capsys.readouterr().err

    # The [method.NAME] table of --method applies over [model]; other methods' are not read.
    config.write_text(
        "[model]\ninvariance_weight = 2.0\n[training]\nepochs = 1\n"
        "[method.hsic]\ninvariance_weight = 5.0\n[method.mmd]\ninvariance_weight = 7.0\n"
    )
    hsic = ["train", "--data", str(data), "--out", str(model), "--method", "hsic"]
    assert main([*hsic, "--config", str(config), "--quiet"]) == 0
    assert load_model(model).config.invariance_weight == 5.0
    config.write_text("[training]\nepochs = 1\n[method.hsic]\nvamp_components = 3\n")
    assert main([*hsic, "--config", str(config)]) == 2
    assert "[method.hsic] sets ['vamp_components'], which hsic does not read" in (
        capsys.readouterr().err
    )

    # Shared settings this method's choices leave unread are dropped; its own table's are
    # kept, and the fit names them.
    from optprior.models import IgnoredSettingsWarning

    optimal = ["train", "--data", str(data), "--out", str(model), "--method", "optimal"]
    config.write_text(
        "[model]\nlatent_dim = 2\n[training]\nepochs = 1\nwarmup_epochs = 0\n"
        "mixture_components = 30\n"
    )
    with no_warnings():
        assert main([*optimal, "--config", str(config), "--quiet"]) == 0
    assert load_model(model).get_params()["mixture_components"] != 30
    config.write_text(
        "[training]\nepochs = 1\nwarmup_epochs = 0\n[method.optimal]\nmixture_components = 30\n"
    )
    with pytest.warns(IgnoredSettingsWarning, match="does not read mixture_components"):
        assert main([*optimal, "--config", str(config), "--quiet"]) == 0

    config.write_text("epochs = 1\n[trainig]\nepochs = 1\n")
    assert main([*command, "--config", str(config)]) == 2
    assert "unknown key(s) or table(s) ['epochs', 'trainig']" in capsys.readouterr().err


def test_version(capsys):
    from optprior import __version__

    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"optprior {__version__}"


def test_ctrl_c_ends_with_one_line_on_how_to_go_on(monkeypatch, capsys):
    from optprior import cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_status", interrupted)
    assert cli.main(["status", "runs"]) == 130
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Run the same command again" in err


def test_a_bug_keeps_its_traceback_while_user_errors_get_one_line(monkeypatch, capsys):
    from optprior import cli

    def buggy(args):
        raise TypeError("an internal bug")

    with monkeypatch.context() as patch:
        patch.setattr(cli, "_status", buggy)
        with pytest.raises(TypeError, match="an internal bug"):
            cli.main(["status", "runs"])
    assert cli.main(["status", "no-such-folder"]) == 2
    assert capsys.readouterr().err.startswith("optprior: error: no folder")


def test_a_bare_rescore_before_the_setting_rescores_all():
    """argparse alone takes ``usps-mnist`` for --rescore's value and refuses it."""
    from optprior.cli import build_parser, with_rescore_value

    parser = build_parser()
    for argv, rescore in (
        (["reproduce", "--rescore", "usps-mnist"], "all"),
        (["reproduce", "--rescore", "normalizer", "usps-mnist"], "normalizer"),
        (["reproduce", "--rescore", "--quiet", "usps-mnist"], "all"),
        (["reproduce", "usps-mnist", "--rescore"], "all"),
        (["reproduce", "usps-mnist"], None),
    ):
        args = parser.parse_args(with_rescore_value(argv))
        assert (args.setting, args.rescore) == ("usps-mnist", rescore)
    with pytest.raises(SystemExit):
        parser.parse_args(["reproduce", "--rescore", "usps-mnist"])
    # A misspelt value is refused as one, not taken for a stray word.
    assert with_rescore_value(["reproduce", "x", "--rescore", "normaliser"])[-1] == "normaliser"
    data = ["compare", "--data", "mine.npz", "--rescore", "faces"]  # compare has no setting
    assert with_rescore_value(data) == data


def test_main_reads_a_bare_rescore_before_the_setting(capsys):
    """Parsed (argparse alone exits with 'invalid choice'), the command gets as far as
    refusing an --out that is a file."""
    assert main(["reproduce", "--rescore", "usps-mnist", "--out", __file__]) == 2
    err = capsys.readouterr().err
    assert "invalid choice" not in err and "optprior: error:" in err and "--out" in err
