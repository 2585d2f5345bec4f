"""Sweeps sharing an output folder: a run's lock keeps a second process from training it."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest
from helpers import DATA_ROOT, count_epochs

from optprior.experiments import lock as lock_module
from optprior.experiments import runner
from optprior.experiments.lock import STALE_SECONDS, STARTING_SECONDS, holder, lock_lost, run_lock
from optprior.experiments.reproduce import configs_for
from optprior.experiments.runner import plan

TINY = {
    "seeds": 1,
    "methods": ["cvae"],
    "data": {"n_source": 200, "n_target_val": 50},
    "model": {"latent_dim": 3, "hidden_sizes": [16]},
    "training": {"epochs": 2, "learning_rate": 1e-3},
    "evaluation": {
        "n_samples": 5,
        "test_points": 50,
        "probe_points": 60,
        "figures": False,
        "normalizer_temperatures": 50,
        "mlp_probe": False,
    },
}


@pytest.fixture
def run(tmp_path):
    if not (DATA_ROOT / "usps" / "usps.h5").is_file():
        pytest.skip(f"staged USPS absent under {DATA_ROOT} (set OPTPRIOR_DATA)")
    (config,) = configs_for("usps-mnist", file_overrides=TINY)
    (run,) = plan(config, tmp_path, data_root=str(DATA_ROOT))
    return run


def write_lock(folder, host, pid):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "lock").write_text(json.dumps({"host": host, "pid": pid}))


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def live_pid():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield child.pid
    child.kill()
    child.wait()


def test_run_held_by_a_live_process_is_left_to_it(run, monkeypatch, live_pid):
    write_lock(run.folder, socket.gethostname(), live_pid)
    started = count_epochs(monkeypatch)
    result = runner.execute(run)
    assert result.status == "running" and str(live_pid) in result.error
    assert started == [] and (run.folder / "lock").is_file()
    assert not (run.folder / "result.json").exists()


def test_lock_of_another_host_is_respected(run, monkeypatch):
    write_lock(run.folder, "some-other-host", dead_pid())
    started = count_epochs(monkeypatch)
    assert runner.execute(run).status == "running" and started == []


def test_stale_lock_of_a_dead_process_is_taken_over_and_released(run, monkeypatch):
    write_lock(run.folder, socket.gethostname(), dead_pid())
    started = count_epochs(monkeypatch)
    assert runner.execute(run).status == "ok" and len(started) == 2
    assert not (run.folder / "lock").exists()


def test_run_finished_while_waiting_for_the_lock_is_not_trained_again(run, monkeypatch):
    expected = runner.execute(run)
    real_read_result, calls = runner.read_result, []

    def finished_after_first_look(r):  # the other process finished between the two looks
        calls.append(r)
        return None if len(calls) == 1 else real_read_result(r)

    monkeypatch.setattr(runner, "read_result", finished_after_first_look)
    started = count_epochs(monkeypatch)
    assert runner.execute(run) == expected and started == [] and len(calls) == 2


def age(path, seconds):
    then = time.time() - seconds
    os.utime(path, (then, then))


@pytest.mark.parametrize(
    "content",
    [
        "",  # created, not yet written
        json.dumps({"host": "some-other-host", "pid": 1}),  # a host that died
    ],
)
def test_lock_is_held_while_touched_and_stale_when_left(tmp_path, content):
    path = tmp_path / "lock"
    path.write_text(content)
    assert holder(path) is not None
    age(path, STALE_SECONDS + 1)
    assert holder(path) is None
    with run_lock(tmp_path) as owner:  # taken over
        assert owner is None
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert not path.exists()


@pytest.mark.parametrize("content", ["", '{"host": "a-host", "pi'])  # unwritten, cut off
def test_a_lock_left_unwritten_is_stale_within_seconds(tmp_path, content):
    """A process interrupted between creating its lock and writing it (Ctrl+C) leaves
    it unreadable: the sweep started again straight away takes it over, not 5 min on."""
    path = tmp_path / "lock"
    path.write_text(content)
    assert holder(path) == "a process starting"
    age(path, STARTING_SECONDS + 1)
    assert holder(path) is None


def test_lock_with_this_process_id_is_a_dead_predecessors(tmp_path):
    write_lock(tmp_path, socket.gethostname(), os.getpid())  # pid reused after a restart
    with run_lock(tmp_path) as owner:
        assert owner is None


@pytest.mark.skipif(lock_module.boot_id() is None, reason="no boot id or start times here")
def test_a_lock_names_its_process_beyond_host_and_id(tmp_path, live_pid):
    """A process id reused by another process (a container started again) does not hold
    the lock; a host of the same name but another boot (another machine so named, or this
    one restarted) is not judged by this machine's processes: its lock goes stale only
    untouched."""
    path = tmp_path / "lock"
    with run_lock(tmp_path):
        mine = json.loads(path.read_text())
    assert mine["boot"] == lock_module.boot_id()
    assert mine["started"] == lock_module.start_time(os.getpid())
    here, boot = socket.gethostname(), lock_module.boot_id()
    started = lock_module.start_time(live_pid)

    def lock(**fields) -> str | None:
        path.write_text(json.dumps({"host": here, "pid": live_pid, **fields}))
        return holder(path)

    assert lock(boot=boot, started=started) == f"{here}:{live_pid}"
    assert lock(boot=boot) == f"{here}:{live_pid}"  # a lock written before: as before
    assert lock(boot=boot, started=str(int(started) - 1)) is None  # the id reused
    dead = dead_pid()
    assert lock(boot="another-boot", pid=dead) == f"{here}:{dead}"  # not ours to judge
    assert lock(boot=boot, pid=dead) is None


def test_owner_touches_its_lock_and_removes_only_its_own(tmp_path, monkeypatch):
    monkeypatch.setattr(lock_module, "HEARTBEAT_SECONDS", 0.05)
    path = tmp_path / "lock"
    with run_lock(tmp_path) as owner:
        assert owner is None
        age(path, STALE_SECONDS - 10)
        time.sleep(0.5)
        assert time.time() - path.stat().st_mtime < 5  # the heartbeat touched it
        write_lock(tmp_path, "some-other-host", 1)  # taken over by another process
    assert path.is_file()  # not ours any more: left in place


def test_the_heartbeat_goes_on_after_a_touch_that_failed(tmp_path, monkeypatch):
    """One failed touch (a network file system's error) does not stop the heartbeat, or
    the lock would look stale after STALE_SECONDS and be taken over."""
    monkeypatch.setattr(lock_module, "HEARTBEAT_SECONDS", 0.05)
    touch, failed = os.utime, []

    def flaky(path, *args, **kwargs):
        if not failed:
            failed.append(path)
            raise OSError(116, "Stale file handle")
        return touch(path, *args, **kwargs)

    monkeypatch.setattr(lock_module.os, "utime", flaky)
    path = tmp_path / "lock"
    with run_lock(tmp_path) as owner:
        assert owner is None
        time.sleep(0.3)
        assert failed
        age(path, STALE_SECONDS - 10)
        time.sleep(0.5)
        assert time.time() - path.stat().st_mtime < 5  # touched again after the failure


def test_a_lock_taken_over_is_known_lost_to_its_first_owner(tmp_path):
    assert lock_lost() is None  # outside a lock
    with run_lock(tmp_path) as owner:
        assert owner is None and lock_lost() is None
        write_lock(tmp_path, "some-other-host", 7)  # taken over while this one was paused
        assert "lost the lock" in lock_lost() and "to some-other-host:7" in lock_lost()
        (tmp_path / "lock").unlink()
        assert "(removed)" in lock_lost()
    assert lock_lost() is None


def test_a_run_whose_lock_is_taken_over_stops_and_writes_nothing(run, monkeypatch):
    """A sweep paused past ``STALE_SECONDS`` loses its run to another; on waking it stops
    at the end of its epoch, writing no checkpoint, model or result (a failed one
    neither), and leaves the run to the process that holds it."""
    from optprior.training.trainer import Trainer

    original = Trainer._train_epoch

    def taken_over(self, *args):
        write_lock(run.folder, "some-other-host", 7)
        return original(self, *args)

    monkeypatch.setattr(Trainer, "_train_epoch", taken_over)
    result = runner.execute(run)
    assert result.status == "running" and "to some-other-host:7" in result.error
    assert "abandoned after epoch 1" in result.error
    written = {p.name for p in run.folder.iterdir()}
    # written as training started; the lock is the other process's
    assert written == {"config.json", runner.TRAINING_STARTED_FILE, "lock"}
    monkeypatch.undo()
    (run.folder / "lock").unlink()  # the other process ends without a trace
    assert runner.execute(run).status == "ok"


def test_a_run_whose_lock_is_taken_over_while_scoring_writes_no_result(run, monkeypatch):
    original = runner.evaluate

    def taken_over(*args):
        write_lock(run.folder, "some-other-host", 7)
        return original(*args)

    monkeypatch.setattr(runner, "evaluate", taken_over)
    result = runner.execute(run)
    assert result.status == "running" and "to some-other-host:7" in result.error
    assert not (run.folder / "result.json").exists()


def test_lock_is_released_when_training_fails(tmp_path):
    with pytest.raises(RuntimeError), run_lock(tmp_path) as owner:
        assert owner is None
        raise RuntimeError("training failed")
    assert not (tmp_path / "lock").exists()


def test_cli_reports_runs_left_to_other_processes(tmp_path, capsys, live_pid):
    if not (DATA_ROOT / "usps" / "usps.h5").is_file():
        pytest.skip(f"staged USPS absent under {DATA_ROOT} (set OPTPRIOR_DATA)")
    from optprior.cli import HELD_STATUS, main

    write_lock(tmp_path / "usps-mnist" / "vae" / "seed-0", socket.gethostname(), live_pid)
    args = ["reproduce", "usps-mnist", "--quick", "--quiet", "--methods", "vae", "--seeds", "1"]
    code = main([*args, "--out", str(tmp_path), "--data-root", str(DATA_ROOT)])
    out = capsys.readouterr().out
    assert code == HELD_STATUS  # not 0: a job script restarting till 0 sees runs left
    assert "0 runs ok, 0 failed, 1 being trained by other processes" in out
    assert f"  usps-mnist/vae/seed-0: being trained by {socket.gethostname()}" in out
    assert f"`optprior tables {tmp_path}` completes the tables" in out
    assert not (tmp_path / "usps-mnist" / "vae" / "seed-0" / "result.json").exists()


def test_sweeps_that_open_a_rescore_request_at_once_share_the_first_written(tmp_path, monkeypatch):
    """As if another sweep wrote its request between this one's look and its write: this
    one goes on with that request (its runs scored again are kept), not over it."""
    request = runner.RescoreRequest(tmp_path, "all")
    theirs = {"metrics": "all", "started": "theirs", "versions": runner.versions()}
    mine = iter(["mine"])

    def now_after_theirs() -> str:
        request.path.write_text(json.dumps(theirs))
        return next(mine)

    monkeypatch.setattr(runner, "_now", now_after_theirs)
    assert request.open() == "theirs"
    assert json.loads(request.path.read_text()) == theirs
    assert [p.name for p in tmp_path.iterdir()] == [request.path.name]  # no temporary left


def test_an_exclusive_write_works_where_the_file_system_has_no_hard_links(tmp_path, monkeypatch):
    """Without hard links (FAT, some network and FUSE mounts) an exclusive write copies
    into a file it creates exclusively: still never over another's file."""
    from optprior._io import write_text_atomic

    def no_links(*args: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    path = tmp_path / "request.json"
    write_text_atomic(path, "first", exclusive=True)
    with pytest.raises(FileExistsError):
        write_text_atomic(path, "second", exclusive=True)
    assert path.read_text() == "first" and [p.name for p in tmp_path.iterdir()] == [path.name]
