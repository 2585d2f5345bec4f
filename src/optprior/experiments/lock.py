"""A run's lock file: one process trains a run, however many sweeps share its folder.

Sweeps started more than once on the same output folder (two terminals, or an array job
on a cluster with a shared file system) then split the runs between them instead of
training each one twice. The lock is ``<run folder>/lock``, created atomically
(``O_CREAT | O_EXCL``) and holding the owner's host name and process id. A lock whose
process is gone (same host, no such process) is stale and taken over; a lock of another
host is respected until its owner removes it (or a person deletes the file). Two
processes that find the same stale lock at the same instant may both take it over: the
lock prevents duplicate work in the usual case, it is not a guarantee.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: A lock file still empty after this many seconds was left by a process that died
#: between creating and writing it.
EMPTY_LOCK_SECONDS = 60.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user
        return True
    return True


def holder(path: Path) -> str | None:
    """``host:pid`` of the live process holding the lock at ``path``, else None."""
    try:
        text = path.read_text()
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return None
    try:
        owner = json.loads(text)
        host, pid = str(owner["host"]), int(owner["pid"])
    except (ValueError, KeyError, TypeError):  # not written yet, or by a process that died
        return None if age > EMPTY_LOCK_SECONDS else "a process starting"
    if host == socket.gethostname() and not _alive(pid):
        return None
    return f"{host}:{pid}"


@contextmanager
def run_lock(folder: Path) -> Iterator[str | None]:
    """Hold ``folder/lock`` for the block; yields None, or ``host:pid`` of the process
    that holds it already (then nothing is taken and the block must not train)."""
    path = folder / "lock"
    folder.mkdir(parents=True, exist_ok=True)
    for _ in range(3):  # a stale lock is removed, then taken at the next try
        try:
            handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = holder(path)
            if owner is not None:
                yield owner
                return
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(handle, "w") as stream:
            json.dump({"host": socket.gethostname(), "pid": os.getpid()}, stream)
        try:
            yield None
        finally:
            path.unlink(missing_ok=True)
        return
    yield holder(path) or "another process"
