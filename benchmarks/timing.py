"""Wall times of pieces of work measured in turns, for the benchmarks beside it (run as
``python benchmarks/NAME.py``, which puts this folder on the import path)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence


def seconds_in_turns(works: Sequence[Callable[[], object]], rounds: int) -> list[list[float]]:
    """Seconds of each of ``works`` in each of ``rounds``, after one untimed call of each
    (a warm-up), timed in turns: first to last, then last to first, and so on, so that
    the host's drift falls on all alike. A work that queues device work (CUDA) waits for
    it before returning."""
    for work in works:
        work()
    seconds: list[list[float]] = [[] for _ in works]
    for round_ in range(rounds):
        order = range(len(works)) if round_ % 2 == 0 else reversed(range(len(works)))
        for k in order:
            start = time.perf_counter()
            works[k]()
            seconds[k].append(time.perf_counter() - start)
    return seconds


def medians_in_turns(works: Sequence[Callable[[], object]], rounds: int) -> list[float]:
    """The median of each of ``works``' ``seconds_in_turns``."""
    return [statistics.median(times) for times in seconds_in_turns(works, rounds)]
