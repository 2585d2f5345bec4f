"""benchmarks/run_times.py: time to result from finished runs' records."""

import json
import subprocess
import sys

from helpers import REPO


def write_run(root, method, seed, epoch_seconds, wall, status="ok"):
    folder = root / "usps-mnist" / method / f"seed-{seed}"
    folder.mkdir(parents=True)
    result = {"run": f"usps-mnist/{method}/seed-{seed}", "setting": "usps-mnist"}
    result.update(method=method, seed=seed, status=status, wall_seconds=wall)
    result.update(epochs_run=len(epoch_seconds), hit_epoch_cap=False)
    result["metrics"] = {"val_log_likelihood": -150.0 - seed, "test_log_likelihood": -149.0}
    (folder / "result.json").write_text(json.dumps(result))
    rows = "".join(f"{k},{s}\n" for k, s in enumerate(epoch_seconds))
    (folder / "curves.csv").write_text("epoch,seconds\n" + rows)


def test_minutes_are_the_epochs_seconds_and_totals_add_up(tmp_path):
    write_run(tmp_path, "cvae", 0, [30.0, 30.0], 180.0)  # 1 min training, 3 in all
    write_run(tmp_path, "cvae", 1, [60.0, 60.0, 60.0], 300.0)  # 3 and 5
    write_run(tmp_path, "cvae", 2, [600.0], 900.0, status="failed")  # not counted
    out = subprocess.run(
        [sys.executable, str(REPO / "benchmarks/run_times.py"), f"fast={tmp_path}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line.split(" | ") for line in out.splitlines()[2:]]
    assert rows[0][1:] == [
        "usps-mnist",
        "cvae",
        "2",
        "2 (0 at cap)",
        "2.0",
        "4.0",
        "-150.50",
        "-149.00 |",
    ]
    assert rows[1][1:7] == ["all", "all", "2", "", "4 in all", "8 in all"]
