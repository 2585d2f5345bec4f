"""Atomic file writes: a temporary file beside the target, renamed over it when complete."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import torch


@contextmanager
def atomic_write(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[tuple[BinaryIO, Path]]:
    """Yield ``(stream, temporary_path)``; ``path`` appears only if the block completes.

    The temporary file lives in ``path``'s folder (so the rename is atomic) and is removed
    on any error or interruption, leaving an existing ``path`` untouched. The file gets the
    permissions a plain ``open`` would give it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    temporary = Path(name)
    try:
        os.chmod(temporary, _new_file_mode())  # mkstemp's 0600 would hide it from the group
        with os.fdopen(handle, "wb") as stream:
            yield stream, temporary
            stream.flush()
            os.fsync(stream.fileno())  # the data reach the disk before the rename does
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _new_file_mode() -> int:
    """The mode ``open`` gives a new file: 0666 less the process's umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_write(path) as (stream, _):
        stream.write(text.encode("utf-8"))


def atomic_torch_save(obj: object, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename over it."""
    with atomic_write(path) as (stream, _):
        torch.save(obj, stream)
