"""benchmarks/run_times.py: time to result from finished runs' records."""

import json
import subprocess
import sys

from helpers import REPO


def write_run(root, method, seed, epoch_seconds, wall, status="ok", setting="usps-mnist", **more):
    folder = root / setting / method / f"seed-{seed}"
    folder.mkdir(parents=True)
    result = {"run": f"{setting}/{method}/seed-{seed}", "setting": setting, **more}
    result.update(method=method, seed=seed, status=status, wall_seconds=wall)
    result.update(epochs_run=len(epoch_seconds), hit_epoch_cap=False)
    result["metrics"] = {"val_log_likelihood": -150.0 - seed, "test_log_likelihood": -149.0}
    (folder / "result.json").write_text(json.dumps(result))
    rows = "".join(f"{k},{s}\n" for k, s in enumerate(epoch_seconds))
    (folder / "curves.csv").write_text("epoch,seconds\n" + rows)
    return folder


def test_minutes_are_the_epochs_seconds_and_totals_add_up(tmp_path):
    write_run(tmp_path, "cvae", 0, [30.0, 30.0], 180.0)  # 1 min training, 3 in all
    write_run(tmp_path, "cvae", 1, [60.0, 60.0, 60.0], 300.0)  # 3 and 5
    write_run(tmp_path, "cvae", 2, [600.0], 900.0, status="failed")  # not counted
    # A post-hoc run that reused cvae seed 1: its curves are that run's, its T's fit its own.
    reused = "usps-mnist/cvae/seed-1"
    posthoc = write_run(tmp_path, "posthoc", 1, [60.0, 60.0, 60.0], 120.0, cvae_reused=reused)
    (posthoc / "prior_curves.csv").write_text("epoch,seconds\n0,30\n1,30\n")  # 1 min
    write_run(tmp_path, "cvae", 0, [120.0], 240.0, setting="faces")  # 2 and 4
    out = subprocess.run(
        [sys.executable, str(REPO / "benchmarks/run_times.py"), f"fast={tmp_path}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line.split(" | ") for line in out.splitlines()[2:]]
    assert rows[0][1:7] == ["faces", "cvae", "1", "1 (0 at cap)", "2.0", "4.0"]
    assert rows[1][1:] == [
        "usps-mnist",
        "cvae",
        "2",
        "2 (0 at cap)",
        "2.0",
        "4.0",
        "-150.50",
        "-149.00 |",
    ]
    assert rows[2][1:7] == ["usps-mnist", "posthoc", "1", "3 (0 at cap)", "1.0", "2.0"]
    assert rows[3][1:7] == ["faces", "all", "1", "", "2 in all", "4 in all"]
    assert rows[4][1:7] == ["usps-mnist", "all", "3", "", "5 in all", "10 in all"]
    assert rows[5][1:7] == ["all", "all", "4", "", "7 in all", "14 in all"]
