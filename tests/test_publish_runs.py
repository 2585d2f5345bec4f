"""scripts/publish_runs.py: finished runs copied without their weights, tables rewritten."""

import importlib.util
from pathlib import Path

import pytest

from optprior.experiments.records import RunResult, write_result_file

REPO = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("publish_runs", REPO / "scripts/publish_runs.py")
publish_runs = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(publish_runs)


def finished_run(
    root: Path, seed: int, value: float, status: str = "ok", method: str = "cvae", **data
) -> Path:
    """A run folder as a sweep leaves it: weights, lock, a set-aside result and a
    temporary file beside the files that are published; ``data`` options in its config."""
    folder = root / "faces" / method / f"seed-{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    metrics = {"test_log_likelihood": value}
    config = {"setting": "faces", "data": data}
    name = f"faces/{method}/seed-{seed}"
    result = RunResult(name, "faces", method, seed, status, config=config, metrics=metrics)
    write_result_file(folder, result)
    for name in ("config.json", "curves.csv", "curves.png", "model.pt", "checkpoint.pt"):
        (folder / name).write_text(name)
    for name in ("lock", "result-epochs-300.json", ".curves.csv.0123456789ab.tmp"):
        (folder / name).write_text(name)
    return folder


def test_finished_runs_are_published_without_weights_and_tables_follow(tmp_path, capsys):
    source, target = tmp_path / "out", tmp_path / "published"
    finished_run(source, 0, 10.0)
    finished_run(source, 1, 11.0, status="failed")
    assert publish_runs.main([str(source), str(target)]) == 0
    published = target / "faces/cvae/seed-0"
    names = ["config.json", "curves.csv", "curves.png", "result.json"]
    assert sorted(p.name for p in published.iterdir()) == names
    assert (published / "curves.csv").read_text() == "curves.csv"
    assert not (target / "faces/cvae/seed-1").exists()  # not finished
    assert "| faces/cvae/seed-0 | ok |" in (target / "results.md").read_text()
    assert "1 run published, 0 already there" in capsys.readouterr().out

    assert publish_runs.main([str(source), str(target)]) == 0  # nothing new
    assert "0 runs published, 1 already there" in capsys.readouterr().out


def test_a_different_result_is_refused_by_name_unless_replaced(tmp_path, capsys, monkeypatch):
    source, target = tmp_path / "out", tmp_path / "published"
    finished_run(source, 0, 10.0)
    assert publish_runs.main([str(source), str(target)]) == 0
    before = (target / "faces/cvae/seed-0/result.json").read_text()
    finished_run(source, 0, 12.0)  # trained again, another result
    finished_run(source, 2, 13.0)
    assert publish_runs.main([str(source), str(target)]) == 1
    assert "different result of faces/cvae/seed-0" in capsys.readouterr().err
    assert (target / "faces/cvae/seed-0/result.json").read_text() == before
    assert not (target / "faces/cvae/seed-2").exists()  # nothing copied
    copied = []  # the replaced run reads as unfinished while its files are copied

    def copy(path, to):
        copied.append((to.name, (to.parent / "result.json").exists()))
        original(path, to)

    original = publish_runs.copy_atomically
    monkeypatch.setattr(publish_runs, "copy_atomically", copy)
    assert publish_runs.main([str(source), str(target), "--replace"]) == 0
    assert ("config.json", False) in copied and copied[-1][0] == "result.json"
    now = (target / "faces/cvae/seed-0/result.json").read_text()
    assert now != before and "12.0" in now and (target / "faces/cvae/seed-2").is_dir()


def test_runs_of_other_data_are_not_published_beside_others(tmp_path, capsys):
    """A run whose data or scoring differ from the runs its tables would pair it with
    (a --quick run beside full ones) is refused, naming both and what differs."""
    source, target = tmp_path / "out", tmp_path / "published"
    finished_run(source, 0, 10.0)
    assert publish_runs.main([str(source), str(target)]) == 0
    quick = tmp_path / "quick"
    finished_run(quick, 0, 9.0, method="optimal", val_fraction=0.2)
    assert publish_runs.main([str(quick), str(target)]) == 1
    error = capsys.readouterr().err
    assert "faces/optimal/seed-0 against faces/cvae/seed-0: data.val_fraction: 0.1 -> 0.2" in error
    assert not (target / "faces/optimal").exists()
    finished_run(source, 0, 9.0, method="optimal")  # the same data: published
    assert publish_runs.main([str(source), str(target)]) == 0


def test_tables_warn_of_runs_paired_though_they_differ(tmp_path):
    from optprior.experiments.reproduce import collect, write_tables

    finished_run(tmp_path, 0, 10.0)
    finished_run(tmp_path, 0, 9.0, method="optimal", val_fraction=0.2)
    with pytest.warns(UserWarning, match=r"paired by seed though they differ: .*val_fraction"):
        write_tables(collect(tmp_path), tmp_path)
