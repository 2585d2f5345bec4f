"""Interrupted training goes on from its checkpoint and ends where it would have ended."""

import pytest
import torch
from helpers import FAST

from optprior import CVAE, OptimalPriorCVAE
from optprior.training import trainer as trainer_module
from optprior.training.trainer import Trainer


def interrupt_in_epoch(monkeypatch, number: int) -> None:
    """Make the ``number``-th training epoch (1-based) raise KeyboardInterrupt."""
    original, calls = Trainer._train_epoch, []

    def train_epoch(self, *args):
        calls.append(1)
        if len(calls) == number:
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(Trainer, "_train_epoch", train_epoch)


@pytest.mark.parametrize(
    "method, extra",
    [
        (CVAE, {}),
        (OptimalPriorCVAE, {}),
        (OptimalPriorCVAE, {"discriminator_schedule": "deferred"}),
        (
            OptimalPriorCVAE,
            {"discriminator_schedule": "epoch", "discriminator_task_weights": "balanced"},
        ),
    ],
)
def test_resumed_fit_equals_uninterrupted_fit(method, extra, two_tasks, tmp_path, monkeypatch):
    x, s = two_tasks
    data = (x[:200], s[:200], x[200:], s[200:])
    settings = {**FAST, "epochs": 5, "patience": 0, **extra}
    whole = method(**settings).fit(*data)

    monkeypatch.setattr(trainer_module, "CHECKPOINT_SECONDS", 0.0)  # save after every epoch
    path = tmp_path / "checkpoint.pt"
    with monkeypatch.context() as patch:
        interrupt_in_epoch(patch, 3)
        with pytest.raises(KeyboardInterrupt):
            method(**settings).fit(*data, checkpoint=path)
    assert path.is_file()
    resumed = method(**settings).fit(*data, checkpoint=path)

    assert not path.exists()  # removed once training has ended
    expected, got = whole.module_.state_dict(), resumed.module_.state_dict()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=0)
    drop_time = [{k: v for k, v in r.items() if k != "seconds"} for r in whole.history_.epochs]
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in resumed.history_.epochs] == (
        drop_time
    )
    assert resumed.history_.best_epoch == whole.history_.best_epoch


def test_checkpoint_of_another_fit_is_refused(two_tasks, tmp_path, monkeypatch):
    x, s = two_tasks
    monkeypatch.setattr(trainer_module, "CHECKPOINT_SECONDS", 0.0)
    path = tmp_path / "checkpoint.pt"
    with monkeypatch.context() as patch:
        interrupt_in_epoch(patch, 2)
        with pytest.raises(KeyboardInterrupt):
            CVAE(**FAST).fit(x, s, checkpoint=path)
    with pytest.raises(ValueError, match="other settings or data; delete it"):
        CVAE(**FAST, learning_rate=1e-2).fit(x, s, checkpoint=path)
    with pytest.raises(ValueError, match="other settings or data; delete it"):
        CVAE(**FAST).fit(x[:100], s[:100], checkpoint=path)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable training checkpoint"):
        CVAE(**FAST).fit(x, s, checkpoint=path)
