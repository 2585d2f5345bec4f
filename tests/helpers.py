"""Constants shared by the tests: fast model settings, where the staged data lie, and a
warnings guard."""

import os
import signal
import subprocess
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

from optprior.data.download import data_root
from optprior.models.base import BaseModel

#: Model settings small enough for unit tests.
FAST = {
    "latent_dim": 3,
    "hidden_sizes": (16,),
    "epochs": 3,
    "warmup_epochs": 1,  # a fit of 3 epochs ends its warm-up (else it warns)
    "batch_size": 50,
    "progress": False,
}

REPO = Path(__file__).resolve().parents[1]
#: Where the tests read real datasets: the package's own rule (``data_root``: the
#: CLI's without --data-root), $OPTPRIOR_DATA, else the user cache; ``.ci/run`` points
#: OPTPRIOR_DATA at the staged copies in ``../shared/data``.
DATA_ROOT = data_root()


def _ctrl_c() -> None:
    raise KeyboardInterrupt


def sigterm() -> None:
    """Send SIGTERM to this process (its handler runs in the main thread at once)."""
    os.kill(os.getpid(), signal.SIGTERM)


def count_epochs(
    monkeypatch, interrupt_at: int | None = None, interrupt: Callable[[], None] = _ctrl_c
) -> list[int]:
    """Record every training epoch a ``Trainer`` starts (the list returned grows by one
    per epoch); as the ``interrupt_at``-th (1-based) starts, ``interrupt`` is called:
    by default it raises KeyboardInterrupt (Ctrl+C) instead of the epoch."""
    from optprior.training.trainer import Trainer

    original, started = Trainer._train_epoch, []

    def train_epoch(self, *args):
        started.append(1)
        if len(started) == interrupt_at:
            interrupt()
        return original(self, *args)

    monkeypatch.setattr(Trainer, "_train_epoch", train_epoch)
    return started


#: Marks a test (or a parameter) that needs a CUDA device; it is skipped without one.
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")


#: T's size in unit tests, for the methods that have a T.
FAST_T = {"discriminator_hidden_sizes": (16,)}

#: The exact mixture's subset in unit tests (at most their training sets).
FAST_MIXTURE = {"mixture_components": 100}


def fast(method: type[BaseModel], **settings: Any) -> BaseModel:
    """``method`` at the small size of ``FAST``, ``FAST_T`` and ``FAST_MIXTURE`` (those of
    their settings it reads with its choices) with ``settings`` on top."""
    return method(**method.settings_read({**FAST, **FAST_T, **FAST_MIXTURE}, settings))


@contextmanager
def no_warnings() -> Iterator[None]:
    """Every warning an error, but the ``ConvergenceWarning`` of a fit that used all its
    epochs: the tests' fits of a few epochs end at their cap on purpose."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def without_times(model, curves: str = "epochs") -> list[dict[str, float]]:
    """The model's curves (``"epochs"``, or T's post-hoc ``"prior_epochs"``) but times."""
    records = getattr(model.history_, curves)
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def signalled_output(process, send: Callable[[int, int], None], signum: int, timeout: float):
    """Send ``signum`` to ``process`` by ``send`` (``os.kill``: the process alone;
    ``os.killpg``: its process group) and return its (stdout, stderr); killed with its
    group where it has not ended within ``timeout`` seconds."""
    send(process.pid, signum)
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        return process.communicate()
