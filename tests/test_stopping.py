"""SIGTERM (a batch job's end, ``kill PID``) stops a fit as a time limit passing then
would: after its epoch with its checkpoint written, resumably; scoring at once; a second
SIGTERM at once, as Ctrl+C."""

import signal

import pytest
import torch
from helpers import FAST, count_epochs, sigterm, without_times

from optprior import CVAE
from optprior.training import TrainingStopped, stop_on_sigterm
from optprior.training.stopping import ask_to_stop, interruptible, time_is_up


def test_sigterm_stops_a_fit_after_its_epoch_and_the_same_fit_goes_on(
    two_tasks, tmp_path, monkeypatch, capfd
):
    x, s = two_tasks
    data = (x[:200], s[:200], x[200:], s[200:])
    settings = {**FAST, "epochs": 4, "patience": 0}
    whole = CVAE(**settings).fit(*data)
    path = tmp_path / "checkpoint.pt"
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_sigterm():
        with monkeypatch.context() as patch:
            count_epochs(patch, interrupt_at=2, interrupt=sigterm)  # as epoch 2 starts
            with pytest.raises(TrainingStopped, match=r"after epoch 2 of at most 4 \(SIGTERM"):
                CVAE(**settings).fit(*data, checkpoint=path)
        assert time_is_up()  # what a sweep's later runs ask before they start
        with pytest.raises(KeyboardInterrupt):  # the second: at once, as Ctrl+C
            sigterm()
    assert "optprior: SIGTERM: each run in training stops" in capfd.readouterr().err
    # Left: the handler is the earlier one, the stop forgotten.
    assert signal.getsignal(signal.SIGTERM) is before and not time_is_up()
    resumed = CVAE(**settings).fit(*data, checkpoint=path)
    assert without_times(resumed) == without_times(whole)
    expected, got = whole.module_.state_dict(), resumed.module_.state_dict()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=0)


def test_sigterm_stops_interruptible_work_at_once_whatever_it_catches():
    """Scoring (``interruptible``) stops at once, and an ``except Exception`` on the way
    (a grid search scoring a failed fit as NaN) cannot make it go on with a part lost."""
    with stop_on_sigterm(message=None):
        with pytest.raises(TrainingStopped, match="^trained, not scored: SIGTERM asked to stop$"):
            with interruptible("trained, not scored"):
                try:
                    sigterm()
                except Exception:  # noqa: BLE001 - what a library's fallback does
                    pass
                raise AssertionError("not stopped at once")
    with stop_on_sigterm(message=None):  # caught even as a BaseException: on leaving
        with pytest.raises(TrainingStopped, match="^not scored again: SIGTERM"):
            with interruptible("not scored again"):
                try:
                    sigterm()
                except BaseException:  # noqa: BLE001
                    pass
    assert not time_is_up()


def test_after_a_stop_asked_in_code_sigterm_is_the_second():
    """A worker asked by its sweep (``ask_to_stop``) and then sent SIGTERM stops at once,
    as on a second SIGTERM; leaving forgets the stop."""
    with stop_on_sigterm(message=None):
        ask_to_stop()
        assert time_is_up()
        with pytest.raises(KeyboardInterrupt):
            sigterm()
    assert not time_is_up()
