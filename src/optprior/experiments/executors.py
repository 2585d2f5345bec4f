"""Executors of a sweep's runs: in this process, in local worker processes (their log
records printed here, named by run; each worker ends with its parent), or as Ray tasks.
An executor takes the runs and a callback for each result (``runner.Executor``)."""

from __future__ import annotations

import _thread
import logging
import logging.handlers
import multiprocessing
import multiprocessing.connection
import multiprocessing.resource_tracker
import os
import pickle
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from optprior.experiments.records import RunResult
from optprior.experiments.runner import CURRENT_RUN, Executor, Run, execute
from optprior.models.methods import check_known_to_workers
from optprior.training.stopping import ASKED_CAUSE, ask_to_stop, held, stop_asked


class _RunName(logging.Filter):
    """Names the run this process is executing in every record (``record.run``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.run = CURRENT_RUN.get()
        return True


#: How a worker's records read: time, run, message.
LOG_FORMAT = logging.Formatter("%(asctime)s %(run)s: %(message)s", "%H:%M:%S")
#: Seconds a sweep with worker processes waits, at its end, for their last log records.
LISTENER_SECONDS = 10.0
#: The ``error`` of a run whose worker process ended abruptly: its status is ``failed``
#: (the sweep's other runs go on, each in a worker of its own), to be tried again, from
#: its checkpoint, by the next sweep.
WORKER_LOST = (
    "its worker process ended abruptly (killed by the system, e.g. out of memory, or by a "
    "signal); the next sweep tries it again from its checkpoint; if it recurs, give fewer "
    "--jobs"
)
_worker_handlers: list[logging.Handler] = []  # what ``_report_to`` attached in this process


def _report_to(handler: logging.Handler, level: int) -> None:
    """Send this worker process's optprior records from ``level`` up to ``handler``, each
    named by the run being executed (in place of one attached before: Ray reuses
    workers)."""
    package = logging.getLogger("optprior")
    while _worker_handlers:
        package.removeHandler(_worker_handlers.pop())
    handler.addFilter(_RunName())
    package.addHandler(handler)
    package.setLevel(level)
    package.propagate = False  # not twice where the root logger has handlers too
    _worker_handlers.append(handler)


class _TqdmWrite(logging.Handler):
    """Writes each record to stderr through ``tqdm.write``, above the progress bars."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)


@contextmanager
def _stages_shown(progress: bool) -> Iterator[None]:
    """With ``progress``, the runner's records of this process from INFO up (a run being
    scored, or waiting for its first stage) printed above its progress bars, named by
    run, as a sweep's workers' records are; the epochs have their bar."""
    if not progress:
        yield
        return
    runner_log = logging.getLogger("optprior.experiments.runner")
    handler = _TqdmWrite()
    handler.setFormatter(LOG_FORMAT)
    handler.addFilter(_RunName())
    level, propagate = runner_log.level, runner_log.propagate
    runner_log.addHandler(handler)
    runner_log.setLevel(logging.INFO)
    runner_log.propagate = False  # not twice where the root logger has handlers too
    try:
        yield
    finally:
        runner_log.removeHandler(handler)
        runner_log.setLevel(level)
        runner_log.propagate = propagate


def _start_worker(
    queue: Any,
    level: int,
    formatwarning: Callable[..., str] | None,
    stopping: Any,
    ctrl_c: bool,
) -> None:
    """Process-pool initializer: the worker's records go to the sweep's ``queue``, its
    warnings are shown as the sweep's process shows them (``formatwarning``, e.g. the
    command line's), it ends with the process that started it (``_end_with_parent``), and
    it follows the sweep's ``stopping`` flag (``_follow_stopping``): at ``STOP_ASKED``
    its run stops as at a time limit (as on SIGTERM, ``_terminate_once``), at
    ``STOP_NOW`` it starts no run and interrupts its run as Ctrl+C does
    (``_interrupt_once``; where ``ctrl_c`` is false, the sweep's process ignores SIGINT,
    and so do its workers: a second SIGTERM interrupts it)."""
    global _STOPPING
    _STOPPING = stopping
    _report_to(logging.handlers.QueueHandler(queue), level)
    if formatwarning is not None:
        warnings.formatwarning = formatwarning
    _end_with_parent()
    # SIG_IGN is inherited where processes inherit it (POSIX)
    signal.signal(signal.SIGINT, _interrupt_once if ctrl_c else signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _terminate_once)
    if ASKED_SIGNAL is not None:
        signal.signal(ASKED_SIGNAL, _asked_by_sweep)
    threading.Thread(target=_follow_stopping, args=(ctrl_c,), name="stopping", daemon=True).start()
    if hasattr(signal, "pthread_sigmask"):  # held since it started (``run_all``)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD_SIGNALS)


#: How often a worker looks whether its sweep is being stopped (``_follow_stopping``),
#: and the sweep's process whether a stop was asked of it.
STOP_POLL_SECONDS = 0.2
#: Values of a sweep's stopping flag: stop after the epoch, as at a time limit (SIGTERM);
#: stop at once (Ctrl+C).
STOP_ASKED, STOP_NOW = 2, 1
#: What a worker's ``_follow_stopping`` sends its main thread at ``STOP_ASKED``: a
#: signal of its own, which only asks to stop (``_asked_by_sweep``), so that a SIGTERM
#: that reached the worker as well does not make it a second one (None on Windows).
ASKED_SIGNAL: signal.Signals | None = getattr(signal, "SIGUSR1", None)
#: The signals held while a sweep starts its workers (``local_executor``): a worker would
#: print the traceback of its interrupted imports, or die of SIGTERM before its
#: handlers are set; it unblocks them once they are, and the held ones are delivered.
HELD_SIGNALS = {signal.SIGINT, signal.SIGTERM} | ({ASKED_SIGNAL} if ASKED_SIGNAL else set())
#: In a worker: the sweep's flag set when it is stopped (``_start_worker``: a shared
#: byte, set without a lock that a second Ctrl+C could leave held), whether a run is
#: executing, whether Ctrl+C came already, and whether SIGTERM did.
_STOPPING: Any = None
_EXECUTING = False
_INTERRUPTED = False
_TERMINATED = False


def _interrupt_once(signum: int, frame: Any) -> None:
    """A worker's SIGINT handler. The first interrupts the run it is executing (as Ctrl+C
    in one process: the run keeps its checkpoint and frees its lock) and the runs queued
    to it do not start; a worker between runs stays quiet. Later ones are ignored: Ctrl+C
    in a terminal reaches both the worker and the sweep's process, which stops it too."""
    global _INTERRUPTED
    if _INTERRUPTED:
        return
    _INTERRUPTED = True
    if _EXECUTING:
        raise KeyboardInterrupt


def _terminate_once(signum: int, frame: Any) -> None:
    """A worker's SIGTERM handler: the first asks its run to stop as at a time limit
    (SIGTERM reaches a batch job's every process); a second, or one sent once the sweep
    stops at once (``STOP_NOW``, ``_follow_stopping``), interrupts it as Ctrl+C would
    (``_interrupt_once``). A stop the sweep asked (``_asked_by_sweep``) is no first
    SIGTERM: sent as the batch job's SIGTERM reaches this worker too, its signal can be
    handled first, and the job's SIGTERM then must not interrupt the run."""
    global _TERMINATED
    if _TERMINATED or (_STOPPING is not None and _STOPPING.value == STOP_NOW):
        _interrupt_once(signum, frame)
        return
    _TERMINATED = True
    if not stop_asked():
        ask_to_stop()


def _asked_by_sweep(signum: int, frame: Any) -> None:
    """A worker's ``ASKED_SIGNAL`` handler: its sweep was asked to stop (SIGTERM to the
    sweep's process alone), so is this worker (``ask_to_stop``), once."""
    if not stop_asked():
        ask_to_stop()


def _signal_main_thread(signum: signal.Signals) -> None:
    """Deliver ``signum`` to this process's main thread, whose handler then runs there."""
    if hasattr(signal, "pthread_kill"):  # a signal, to wake the main thread from a sleep
        signal.pthread_kill(threading.main_thread().ident or 0, signum)
    else:
        _thread.interrupt_main(signum)


def _follow_stopping(ctrl_c: bool) -> None:
    """A worker's thread: once the sweep's process sets the stopping flag, stop this
    worker's run as SIGTERM would (``STOP_ASKED``: the sweep's process was sent SIGTERM),
    and as Ctrl+C would (``STOP_NOW``: Ctrl+C, SIGINT or a second SIGTERM sent to the
    sweep's process alone): by SIGINT where ``ctrl_c``, else by a SIGTERM after the stop
    is asked (``_terminate_once`` then interrupts)."""
    while _STOPPING.value != STOP_NOW:
        if _STOPPING.value == STOP_ASKED and not stop_asked():
            if ASKED_SIGNAL is None:  # Windows: training stops after its epoch
                ask_to_stop()
            else:
                _signal_main_thread(ASKED_SIGNAL)
        time.sleep(STOP_POLL_SECONDS)
    if ctrl_c:
        _signal_main_thread(signal.SIGINT)
        return
    if not stop_asked():
        ask_to_stop()  # in this thread: the flag alone
    _signal_main_thread(signal.SIGTERM)


def _execute_in_worker(run: Run) -> RunResult:
    """``execute`` in a worker process, unless its sweep is being stopped."""
    global _EXECUTING
    if _STOPPING is not None and _STOPPING.value == STOP_NOW:
        raise KeyboardInterrupt  # not started: its sweep was stopped
    if _STOPPING is not None and _STOPPING.value == STOP_ASKED and not stop_asked():
        ask_to_stop()  # before ``_follow_stopping`` sees it: the run does not start
    _EXECUTING = True  # before the check: Ctrl+C from here on interrupts the run
    try:
        if _INTERRUPTED:
            raise KeyboardInterrupt
        return execute(run)
    finally:
        _EXECUTING = False


def _sendable(function: Callable[..., str]) -> Callable[..., str] | None:
    """``function`` where a spawned process can receive it (a module's function, sent by
    its name; not a lambda or a nested function), else None."""
    try:
        pickle.dumps(function)
    except (pickle.PicklingError, AttributeError, TypeError):
        return None
    return function


def _end_with_parent() -> None:
    """End this worker process as soon as its parent process ends. A sweep killed by a
    signal sent to it alone (``kill PID``; Ctrl+C reaches the workers too) would otherwise
    leave its workers training on, holding their runs' locks, so that the sweep started
    again skips those runs; killed, the run goes on from its checkpoint instead."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


def _execute_reporting(run: Run, level: int) -> RunResult:
    """``execute`` in a Ray worker, its records from ``level`` up on the worker's stderr
    (which Ray shows the driver)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LOG_FORMAT)
    _report_to(handler, level)
    return execute(run)


def _print_records(queue: Any) -> None:
    """Listener thread of ``local_executor``: prints the workers' records from ``queue``
    to stderr, through tqdm so that they do not break the progress bar drawn there, until
    it reads None."""
    printer = logging.getLogger(f"{__name__}.workers")
    printer.propagate = False  # the records were shown by no handler of this process yet
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LOG_FORMAT)
    printer.handlers = [handler]
    with logging_redirect_tqdm([printer]):
        while (record := queue.get()) is not None:
            printer.handle(record)


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity where the system keeps one (a
    Slurm job's or ``taskset``'s share, not the whole machine's), else every core."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def worker_threads(jobs: int, threads: int | None = None) -> int:
    """Torch threads of each of ``jobs`` workers: ``threads``, else the usable cores shared
    out (at least one)."""
    return threads or max(1, usable_cores() // jobs)


class _Worker:
    """A process pool of one worker, with the queue that carries its log records here
    and the thread that prints them: a worker that is killed (for memory) breaks only
    its own pool and queue (a record half sent, or the queue's lock left held), and so
    loses only its own run."""

    def __init__(self, context: Any, stopping: Any, level: int) -> None:
        from concurrent.futures import ProcessPoolExecutor

        self.queue = context.Queue()
        self.listener = threading.Thread(target=_print_records, args=(self.queue,), daemon=True)
        self.listener.start()
        initargs = (
            self.queue,
            level,
            _sendable(warnings.formatwarning),
            stopping,
            signal.getsignal(signal.SIGINT) is not signal.SIG_IGN,
        )
        self.pool = ProcessPoolExecutor(
            1, mp_context=context, initializer=_start_worker, initargs=initargs
        )

    def submit(self, run: Run) -> Future[RunResult]:
        """Execute ``run`` in this worker (started by the first run given it)."""
        return self.pool.submit(_execute_in_worker, run)

    def close(self, wait_for_records: bool = True) -> None:
        """Wait for the worker to end (shut down without waiting, the pool would let go
        of its queues while the worker may still be starting, which then fails to read
        them), then for its last log records where ``wait_for_records`` (a dead worker's
        are printed as they come, the sweep going on meanwhile). A worker killed while
        writing to the queue can leave its lock held or a record half sent: then neither
        the None nor the process's exit waits for ever."""
        self.pool.shutdown(wait=True)
        self.queue.put(None)
        self.queue.cancel_join_thread()
        if wait_for_records:
            self.listener.join(LISTENER_SECONDS)


def local_executor(jobs: int = 1, progress: bool = False, threads: int | None = None) -> Executor:
    """Runs in this process (``jobs == 1``) or in ``jobs`` worker processes, each with
    ``threads`` torch threads (default: the usable cores shared out, ``worker_threads``).

    With ``jobs > 1`` the workers' log records come to this process's stderr, named by
    run; with ``progress`` these include each run's epochs (at most one line a minute) and
    scoring, in place of the progress bars a single process draws (which, with
    ``progress``, says when a run is being scored). A worker that ends abruptly (killed
    for memory, a signal) fails its run alone (``WORKER_LOST``), which the next sweep
    tries again from its checkpoint; a new worker takes its place for the runs left.
    """

    def run_all(runs: list[Run], done: Callable[[RunResult], None]) -> None:
        if jobs == 1:
            with _stages_shown(progress):
                for run in runs:
                    done(execute(run))
            return
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool
        from multiprocessing import get_context

        check_known_to_workers(run.method for run in runs)
        if stop_asked():  # SIGTERM came first: no worker is started only to say so
            for run in runs:
                done(run.result("stopped", error=f"not started: {ASKED_CAUSE}"))
            return

        context = get_context("spawn")
        if os.name == "posix":  # started outside the block below, which its start unblocks
            multiprocessing.resource_tracker.ensure_running()
        each = worker_threads(jobs, threads)
        waiting = [replace(run, threads=each, progress=False) for run in reversed(runs)]
        stopping = context.RawValue("b", 0)
        level = logging.INFO if progress else logging.WARNING
        workers: list[_Worker] = []  # every one started, to close
        idle: list[_Worker] = []
        running: dict[Future[RunResult], tuple[int, Run, _Worker]] = {}

        def start(run: Run) -> None:
            """Give ``run`` to an idle worker, or to a new one where none is idle or the
            idle one has died since its last run."""
            while True:
                if not idle:
                    workers.append(_Worker(context, stopping, level))
                    idle.append(workers[-1])
                worker = idle.pop()
                try:
                    future = worker.submit(run)
                except BrokenProcessPool:
                    workers.remove(worker)
                    worker.close(wait_for_records=False)
                    continue
                running[future] = (len(runs) - len(waiting), run, worker)
                return

        try:
            while waiting or running:
                if stop_asked() and stopping.value != STOP_NOW:  # SIGTERM came: before
                    stopping.value = STOP_ASKED  # a run starts, so that it does not train
                # Held while workers start: a worker would die of them half set up, or
                # this process be stopped while it sends one its start; held by the
                # workers' threads for good (they inherit it), so that they reach this
                # thread. Python's resource tracker, started by a first queue, unblocks
                # both on starting, which would cut the block short: it runs already.
                with held(*HELD_SIGNALS):
                    while waiting and len(running) < jobs:
                        start(waiting.pop())
                ended, _ = wait(running, STOP_POLL_SECONDS, FIRST_COMPLETED)
                for future in sorted(ended, key=lambda f: running[f][0]):
                    _, run, worker = running.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool:  # its worker died: a new one for the next
                        result = run.result("failed", error=WORKER_LOST)
                        workers.remove(worker)
                        worker.close(wait_for_records=False)
                    else:
                        idle.append(worker)
                    done(result)
        except KeyboardInterrupt:  # the runs still waiting do not start
            stopping.value = STOP_NOW
            raise
        finally:
            for worker in workers:  # each ends once its run has stopped
                worker.close()

    return run_all


def with_absolute_paths(run: Run) -> Run:
    """``run`` with its output folder, data root, CVAE folder and own data file as
    absolute paths: a Ray worker, maybe on another machine of a shared file system, reads
    relative ones from its own working folder. None of them is part of the run's
    configuration (a data file is known by its SHA-256), so the run stays the same run."""

    def absolute(path: str | None) -> str | None:
        return None if path is None else os.path.abspath(Path(path).expanduser())

    data = run.data if "file" not in run.data else {**run.data, "file": absolute(run.data["file"])}
    return replace(
        run,
        out=str(absolute(run.out)),
        data_root=absolute(run.data_root),
        cvae_runs=absolute(run.cvae_runs),
        data=data,
    )


def ray_executor(address: str | None = None, progress: bool = False) -> Executor:
    """Runs as Ray tasks, on a cluster at ``address`` or a local Ray instance.

    With ``progress``, the tasks' log lines (as ``local_executor``'s workers write them)
    are shown here, when this call starts Ray (``log_to_driver``).
    """
    try:
        import ray
    except ImportError:
        raise ValueError("the Ray executor needs Ray: pip install 'optprior[ray]'") from None

    def run_all(runs: list[Run], done: Callable[[RunResult], None]) -> None:
        check_known_to_workers(run.method for run in runs)
        if not ray.is_initialized():
            handler = signal.getsignal(signal.SIGTERM)
            ray.init(address=address, ignore_reinit_error=True, log_to_driver=progress)
            if handler is not None and threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, handler)  # Ray puts its own in its place
        gpus = 1 if str(runs[0].training.get("device", "cpu")).startswith("cuda") else 0
        remote = ray.remote(num_cpus=1, num_gpus=gpus)(_execute_reporting)
        level = logging.INFO if progress else logging.WARNING
        pending = {
            remote.remote(replace(with_absolute_paths(run), progress=False, threads=1), level): run
            for run in runs
        }
        while pending:
            (ready,), _ = ray.wait(list(pending), num_returns=1)
            run = pending.pop(ready)
            try:
                result = ray.get(ready)
            except ray.exceptions.RayError as error:  # its worker died (memory), or Ray's
                result = run.result(
                    "failed", error=f"its Ray task: {type(error).__name__}: {error}"
                )
            done(result)

    return run_all
