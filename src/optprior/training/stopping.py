"""Stopping fits early and resumably: after an epoch, with the checkpoint written, at a
deadline (``stop_at``) or when asked (SIGTERM inside ``stop_on_sigterm``, a batch job's
end); or at once, writing nothing, when a check says the fit is not this process's any
more (``abandon_if``)."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

#: The time (``time.time()``, seconds) after which fits with a checkpoint stop (``stop_at``).
_STOP_AT: ContextVar[float | None] = ContextVar("optprior_stop_at", default=None)
#: Why a fit must stop at once, writing nothing, or None: ``abandon_if``'s check.
_ABANDON_IF: ContextVar[Callable[[], str | None] | None] = ContextVar(
    "optprior_abandon_if", default=None
)
#: What is left undone where work that keeps nothing to go on from (scoring) is being
#: done, else None: a stop asked meanwhile ends it at once (``interruptible``).
_INTERRUPTIBLE: ContextVar[str | None] = ContextVar("optprior_interruptible", default=None)
#: Whether a stop was asked in this process (``ask_to_stop``): every ``stop_at`` has
#: passed. A plain bool, not a ``threading.Event``: setting it takes no lock that a
#: signal handler setting it again could wait on for ever.
_asked = False
#: How many ``stop_on_sigterm`` blocks this process is in (only the outermost acts).
_depth = 0
#: What the runs left say when a stop was asked, not a deadline passed (``stop_cause``).
ASKED_CAUSE = "SIGTERM asked to stop"
DEADLINE_CAUSE = "the time limit had passed"
#: What ``stop_on_sigterm`` prints on the first SIGTERM.
SIGTERM_MESSAGE = (
    "optprior: SIGTERM: each run in training stops after its epoch with its checkpoint "
    "written, a run being scored stops unscored (its model kept), runs not started stay "
    "so; SIGTERM again (or Ctrl+C) stops at once\n"
)


class _StopNow(BaseException):
    """Raised by a stop asked inside ``interruptible``: a ``BaseException``, so that no
    ``except Exception`` on the way (a grid search scoring a failed fit as NaN, a logging
    handler) takes it for an error and goes on; ``interruptible`` turns it into
    ``TrainingStopped``."""


class TrainingStopped(Exception):
    """A fit stopped at its time limit (``stop_at``) or when asked (``stop_on_sigterm``)
    with its checkpoint written: the same fit given the same checkpoint goes on from
    there; or abandoned (``abandon_if``) with nothing written; or scoring stopped when
    asked (``interruptible``)."""


@contextlib.contextmanager
def abandon_if(check: Callable[[], str | None]) -> Iterator[None]:
    """Inside, a ``Trainer.fit`` calls ``check`` after each epoch; a reason it returns
    stops the fit there without writing its checkpoint (``TrainingStopped``): e.g. a
    sweep's run whose lock another process has taken over, the files being its now."""
    token = _ABANDON_IF.set(check)
    try:
        yield
    finally:
        _ABANDON_IF.reset(token)


def abandoned() -> str | None:
    """The reason of the enclosing ``abandon_if``'s check, or None (also outside one)."""
    check = _ABANDON_IF.get()
    return None if check is None else check()


@contextlib.contextmanager
def stop_at(deadline: float | None) -> Iterator[None]:
    """Inside, a ``Trainer.fit`` given a checkpoint stops after the first epoch that ends
    at or after ``deadline`` (``time.time()`` seconds; None: no limit), writes its
    checkpoint and raises ``TrainingStopped``; for a job with a wall-time limit. Fits
    without a checkpoint run on, since stopping them would lose their epochs. The limit
    holds in this thread (a context variable): a fit started in a new thread has none."""
    token = _STOP_AT.set(deadline)
    try:
        yield
    finally:
        _STOP_AT.reset(token)


def time_is_up() -> bool:
    """Whether the deadline of the enclosing ``stop_at`` has come, or a stop was asked
    in this process (``ask_to_stop``); False otherwise."""
    deadline = _STOP_AT.get()
    return _asked or (deadline is not None and time.time() >= deadline)


def stop_cause() -> str:
    """Why ``time_is_up``, in the words of the runs it leaves."""
    return ASKED_CAUSE if _asked else DEADLINE_CAUSE


def stop_asked() -> bool:
    """Whether a stop was asked in this process (``ask_to_stop``)."""
    return _asked


def ask_to_stop() -> None:
    """Stop as at a time limit passed now: fits with a checkpoint after their epoch,
    work not started stays so. Inside ``interruptible`` (in this thread), at once."""
    global _asked
    _asked = True
    if _INTERRUPTIBLE.get() is not None:
        raise _StopNow


@contextlib.contextmanager
def interruptible(left: str) -> Iterator[None]:
    """Inside, a stop asked by a signal (``on_sigterm``) raises ``TrainingStopped`` at
    once, saying what is ``left`` (e.g. "trained, not scored"): for work that keeps
    nothing to go on from, such as scoring a saved model. A stop asked inside that the
    work went on from all the same (something on the way caught it) raises it on
    leaving: what the work returned may lack a part."""
    asked_before, token = _asked, _INTERRUPTIBLE.set(left)
    try:
        yield
    except _StopNow:
        raise TrainingStopped(f"{left}: {ASKED_CAUSE}") from None
    finally:
        _INTERRUPTIBLE.reset(token)
    if _asked and not asked_before:
        raise TrainingStopped(f"{left}: {ASKED_CAUSE}")


def on_sigterm(signum: int, frame: Any) -> None:
    """A SIGTERM handler: the first asks to stop (``ask_to_stop``), a later one raises
    ``KeyboardInterrupt``, as Ctrl+C does."""
    if _asked:
        raise KeyboardInterrupt
    ask_to_stop()


def _at_once(signum: int, frame: Any) -> None:
    """A SIGTERM handler that stops at once, as Ctrl+C does."""
    raise KeyboardInterrupt


@contextlib.contextmanager
def stop_on_sigterm(
    message: str | None = SIGTERM_MESSAGE, resumable: bool = True
) -> Iterator[None]:
    """Inside (in the main thread; elsewhere, or inside another such block, nothing
    changes), SIGTERM stops as a time limit passing then would (``on_sigterm``), with
    ``message`` on stderr, and a second one at once (``KeyboardInterrupt``); or, unless
    ``resumable``, the first at once. On leaving (SIGTERM held meanwhile), the earlier
    handler is back and the stop forgotten."""
    global _asked, _depth
    if threading.current_thread() is not threading.main_thread() or _depth:
        yield
        return

    def handle(signum: int, frame: Any) -> None:
        if message and not _asked:
            os.write(2, message.encode())  # no print: it may have been interrupted
        on_sigterm(signum, frame)

    previous = signal.signal(signal.SIGTERM, handle if resumable else _at_once)
    _depth += 1
    try:
        yield
    finally:
        with held(signal.SIGTERM):  # no handler runs half restored
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
            _asked, _depth = False, _depth - 1


@contextlib.contextmanager
def held(*signums: int) -> Iterator[None]:
    """``signums`` blocked in this thread for the block, delivered on leaving (where
    signals cannot be blocked, Windows: nothing)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, set(signums))
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
