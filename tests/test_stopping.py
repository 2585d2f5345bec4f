"""SIGTERM (a batch job's end, ``kill PID``) stops a fit as a time limit passing then
would: after its epoch with its checkpoint written, resumably; scoring at once; a second
SIGTERM at once, as Ctrl+C."""

import signal

import pytest
import torch
from helpers import FAST, count_epochs, sigterm, without_times

from optprior import CVAE
from optprior.training import TrainingStopped, stop_on_sigterm
from optprior.training.stopping import interruptible, time_is_up


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


def test_sigterm_stops_interruptible_work_at_once():
    with stop_on_sigterm(message=None), interruptible("trained, not scored"):
        with pytest.raises(TrainingStopped, match="^trained, not scored: SIGTERM asked to stop$"):
            sigterm()
            raise AssertionError("not stopped at once")
