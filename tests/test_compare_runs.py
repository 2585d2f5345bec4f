"""scripts/compare_runs.py: per-seed table and paired differences of finished runs."""

import json
import subprocess
import sys

from helpers import REPO

from optprior.experiments.records import RunResult
from optprior.experiments.runner import scoring_differences


def write_run(folder, seed, value, status="ok", config=None):
    path = folder / f"seed-{seed}" / "result.json"
    path.parent.mkdir(parents=True)
    result = {"run": f"usps-mnist/optimal/seed-{seed}", "setting": "usps-mnist"}
    result.update(method="optimal", seed=seed, status=status, config=config or {})
    result["metrics"] = {"val_log_likelihood": value}
    path.write_text(json.dumps(result))


def test_paired_differences_over_common_finished_seeds(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for seed, value in enumerate([-10.0, -12.0, -11.0]):
        write_run(a, seed, value)
    write_run(b, 0, -9.0)
    write_run(b, 1, -10.0)
    write_run(b, 2, 0.0, status="failed")  # not finished: seed 2 is left out
    out = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts/compare_runs.py"),
            f"A={a}",
            f"B={b}",
            "--metrics",
            "val_log_likelihood",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert [r.split("|")[1].strip() for r in rows[1:]] == ["0", "1", "mean", "minus A (± s.e.)"]
    assert "| mean | -11.00 | -9.50 |" in out
    # differences +1 and +2: mean +1.5, standard error 0.71 / sqrt(2) = 0.50
    assert "+1.50 ± 0.50" in out
    command = [sys.executable, str(REPO / "scripts/compare_runs.py"), f"A={a}", f"B={b}"]
    chosen = subprocess.run(
        [*command, "--metrics", "val_log_likelihood", "--seeds", "1", "2"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "| 0 |" not in chosen and "| mean | -12.00 | -10.00 |" in chosen  # seed 1 alone


def test_metrics_below_one_keep_their_significant_digits(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for seed, (x, y) in enumerate([(0.982, 0.975), (0.988, 0.979), (1.0, 0.997)]):
        write_run(a, seed, x)
        write_run(b, seed, y)
    command = [sys.executable, str(REPO / "scripts/compare_runs.py"), f"A={a}", f"B={b}"]
    out = subprocess.run(
        [*command, "--metrics", "val_log_likelihood"], capture_output=True, text=True, check=True
    ).stdout
    assert "| 2 | 1.000 | 0.997 |" in out  # a probe at 1 keeps the decimals of the rest
    assert "| mean | 0.990 | 0.984 |" in out and "-0.006 ± 0.002" in out


def test_a_folder_without_finished_runs_is_named(tmp_path):
    a = tmp_path / "a"
    write_run(a, 0, -10.0)
    typo = tmp_path / "b-typo"
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts/compare_runs.py"), f"A={a}", f"B={typo}"],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and f"{typo}: no finished run" in done.stderr


def test_runs_of_other_data_or_scoring_are_not_paired(tmp_path):
    """A --quick folder (fewer test points) set beside a full one is refused, not
    compared on other points."""
    a, b = tmp_path / "a", tmp_path / "b"
    write_run(a, 0, -10.0)
    write_run(b, 0, -9.0, config={"setting": "usps-mnist", "evaluation": {"test_points": 500}})
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts/compare_runs.py"), f"A={a}", f"B={b}"],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert "not paired: usps-mnist/optimal/seed-0 against usps-mnist/optimal/seed-0" in done.stderr
    assert "evaluation.test_points: 0 -> 500" in done.stderr or "500 -> 0" in done.stderr


def test_runs_read_from_other_dataset_files_differ_where_both_recorded_them():
    """Two UMIST variants hold other faces and split them otherwise: such runs are not
    paired; a run that recorded no files (written before they were) is not refused."""

    def result(files):
        return RunResult("faces/cvae/seed-0", "faces", "cvae", 0, "ok", data_files=files)

    cropped = {"dataset": "umist", "variant": "cropped", "name": "umist_cropped.mat"}
    small = {"dataset": "umist", "variant": "32x32", "name": "UMIST.mat"}
    cropped = [{**cropped, "digest": "sha256 " + "a" * 64}]
    small = [{**small, "digest": "sha256 " + "b" * 64}]
    assert scoring_differences(result(cropped), result(cropped)) == []
    assert scoring_differences(result(cropped), result(small)) == [
        "data files.umist: 'cropped/umist_cropped.mat sha256 aaaaaaaaaaaa' -> "
        "'32x32/UMIST.mat sha256 bbbbbbbbbbbb'"
    ]
    other_bytes = [{**cropped[0], "digest": "sha256 " + "c" * 64}]
    assert len(scoring_differences(result(cropped), result(other_bytes))) == 1
    assert scoring_differences(result(cropped), result([])) == []
    # A result from before the files were recorded, scored again since: its rescoring's.
    for metrics, differ in (("all", 1), ("normalizer", 0)):  # ln Z alone: others kept
        rescored = RunResult(
            "faces/cvae/seed-0",
            "faces",
            "cvae",
            0,
            "ok",
            rescored={"metrics": metrics, "data_files": small},
        )
        assert len(scoring_differences(result(cropped), rescored)) == differ
