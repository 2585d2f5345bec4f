"""A run's lock file: one process trains a run, however many sweeps share its folder.

Sweeps started more than once on the same output folder (two terminals, or an array job
on a cluster with a shared file system) then split the runs between them instead of
training each one twice. The lock is ``<run folder>/lock``, created atomically
(``O_CREAT | O_EXCL``), holding the owner's host, process id and a random token and,
where the system tells them (Linux), its boot id and its process's start time; the owner
touches it every ``HEARTBEAT_SECONDS``. A lock is stale, and taken over, when its
process is gone (same host and boot, no such process, or another process under its id)
or when it has not been touched for ``STALE_SECONDS`` (its host died or restarted, or its
job was killed; a host of the same name but another boot is judged so): so a process
paused for longer than that loses its runs to other sweeps, and once it wakes
``lock_lost`` says so, for it to stop writing there. The owner removes the lock only
while it still holds its token. Two processes that find the same stale lock at the same
instant may both take it over: the lock prevents duplicate work in the usual case, it is
not a guarantee.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

#: How often the owner touches its lock (seconds).
HEARTBEAT_SECONDS = 30.0
#: A lock not touched for this long is stale, whoever wrote it.
STALE_SECONDS = 300.0
#: A lock still unwritten (or cut off as it was written) after this long is stale.
STARTING_SECONDS = 10.0

GONE = "gone"  # what ``holder`` returns when the file vanished while it looked
#: The lock file and token this context holds (``run_lock``), for ``lock_lost``.
_HELD: ContextVar[tuple[Path, str] | None] = ContextVar("held_run_lock", default=None)


@functools.cache
def boot_id() -> str | None:
    """This machine's boot id (Linux; None elsewhere): it tells a host of the same name,
    or the same host since it restarted, from this one."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="utf-8").strip()
    except OSError:
        return None


def start_time(pid: int) -> str | None:
    """When process ``pid`` started, in clock ticks since boot (Linux; None elsewhere or
    where there is no such process): a process id reused later has another."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
        return stat.rsplit(")", 1)[1].split()[19]  # field 22; its name may hold spaces
    except (OSError, IndexError):
        return None


def _alive(pid: int, started: str | None = None) -> bool:
    """Whether process ``pid`` of this host runs, and is the one that started at
    ``started`` (``start_time``) where that is known."""
    if pid == os.getpid():  # a lock with our own id is a dead predecessor's (pid reuse)
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user
        pass
    now = None if started is None else start_time(pid)
    return now is None or now == started  # another start: the id was reused


def holder(path: Path) -> str | None:
    """``host:pid`` of the live process holding the lock at ``path``; None if the lock
    is stale; ``GONE`` if there is no lock file."""
    try:
        text = path.read_text(encoding="utf-8")
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return GONE
    if age > STALE_SECONDS:
        return None
    try:
        owner = json.loads(text)
        host, pid = str(owner["host"]), int(owner["pid"])
        boot, started = owner.get("boot"), owner.get("started")
    except (ValueError, KeyError, TypeError, AttributeError):  # not yet written, or cut off
        return "a process starting" if age <= STARTING_SECONDS else None
    this_boot = boot is None or boot == boot_id()  # unrecorded: taken for this one
    if host == socket.gethostname() and this_boot and not _alive(pid, started):
        return None
    return f"{host}:{pid}"


def _owns(path: Path, token: str) -> bool:
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("token") == token
    except (OSError, ValueError, AttributeError):
        return False


def lock_lost() -> str | None:
    """Why the lock this context holds (inside ``run_lock``) is no longer its own, else
    None (also outside one, or where the file cannot be read just now): another process
    took it over, stale after this one went ``STALE_SECONDS`` without touching it (paused
    or suspended), or it was removed. The run is then the other process's to write."""
    held = _HELD.get()
    if held is None:
        return None
    path, token = held
    try:
        owner = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        whom = "(removed)"
    except OSError:
        return None
    except ValueError:  # being written by a process taking it over
        whom = "to a process taking it over"
    else:
        if isinstance(owner, dict) and owner.get("token") == token:
            return None
        owner = owner if isinstance(owner, dict) else {}
        whom = f"to {owner.get('host', '?')}:{owner.get('pid', '?')}"
    return (
        f"lost the lock of {path.parent} {whom}, untouched over {STALE_SECONDS:.0f} s "
        "(this process paused?); the run is left to the process that holds it"
    )


def _heartbeat(path: Path, token: str, stop: threading.Event) -> None:
    """Touch ``path`` every ``HEARTBEAT_SECONDS`` while ``token`` owns it, until ``stop``;
    a touch that fails (the file gone between the check and the touch, a network file
    system's error) is tried again at the next beat."""
    while not stop.wait(HEARTBEAT_SECONDS):
        try:
            if _owns(path, token):
                os.utime(path)
        except OSError:
            continue


@contextmanager
def run_lock(folder: Path) -> Iterator[str | None]:
    """Hold ``folder/lock`` for the block; yields None, or ``host:pid`` of the process
    that holds it already (then nothing is taken and the block must not train)."""
    path = folder / "lock"
    folder.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    for _ in range(5):  # a stale or vanished lock is tried again
        try:
            handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = holder(path)
            if owner is None:
                path.unlink(missing_ok=True)
            elif owner != GONE:
                yield owner
                return
            continue
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            me = {"host": socket.gethostname(), "pid": os.getpid(), "token": token}
            me |= {"boot": boot_id(), "started": start_time(os.getpid())}
            json.dump(me, stream)
        stop = threading.Event()
        beat = threading.Thread(target=_heartbeat, args=(path, token, stop), daemon=True)
        beat.start()
        held = _HELD.set((path, token))
        try:
            yield None
        finally:
            _HELD.reset(held)
            stop.set()
            beat.join()
            if _owns(path, token):
                path.unlink(missing_ok=True)
        return
    yield "another process"
