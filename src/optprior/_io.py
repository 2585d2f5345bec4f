"""Atomic file writes: a temporary file beside the target, renamed over it when complete."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import secrets
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import torch


@contextmanager
def atomic_write(
    path: str | os.PathLike, suffix: str = ".tmp", exclusive: bool = False
) -> Iterator[tuple[BinaryIO, Path]]:
    """Yield ``(stream, temporary_path)``; ``path`` appears only if the block completes.

    The temporary file lives in ``path``'s folder (so the rename is atomic) and is removed
    on any error or interruption, leaving an existing ``path`` untouched. A new file gets
    the permissions a plain ``open`` would give it; a replaced one keeps its own. With
    ``exclusive``, an existing ``path`` is never replaced: ``FileExistsError`` where one
    is there as the block completes, even one another process created meanwhile
    (``_link_or_copy``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = _create_beside(path, suffix)
    try:
        with os.fdopen(handle, "wb") as stream:
            if path.exists():
                os.chmod(temporary, stat.S_IMODE(path.stat().st_mode))
            yield stream, temporary
            stream.flush()
            os.fsync(stream.fileno())  # the data reach the disk before the rename does
        if exclusive:
            _link_or_copy(temporary, path)
        else:
            os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _link_or_copy(temporary: Path, path: Path) -> None:
    """``temporary``'s bytes at ``path`` where no file is there (``FileExistsError``
    else): a hard link, atomic; where the file system has none (FAT, some network and
    FUSE mounts), a copy into a file created exclusively (``O_EXCL``), briefly partial."""
    try:
        os.link(temporary, path)
        return
    except FileExistsError:
        raise
    except OSError:
        pass
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    with os.fdopen(os.open(path, flags, 0o666), "wb") as out:
        out.write(temporary.read_bytes())
        out.flush()
        os.fsync(out.fileno())


def remove_leftovers(
    folder: Path, suffix: str = ".tmp", unchanged_for: float | None = None
) -> list[Path]:
    """Remove the temporary files ``atomic_write`` left in ``folder`` when a process was
    killed mid-write (its cleanup could not run); returns them. Call it only where no
    other process writes into ``folder`` (e.g. under the run's lock), or with
    ``unchanged_for``: only those not written for that many seconds, longer than a live
    writer pauses."""
    pattern = re.compile(rf"\..+\.[0-9a-f]{{12}}{re.escape(suffix)}")
    leftovers = [p for p in folder.glob(f".*{suffix}") if pattern.fullmatch(p.name)]
    if unchanged_for is not None:
        now = time.time()
        leftovers = [p for p in leftovers if now - _modified(p) > unchanged_for]
    for path in leftovers:
        path.unlink(missing_ok=True)
    return leftovers


def _modified(path: Path) -> float:
    """``path``'s modification time; +inf (never stale) if it went meanwhile."""
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return math.inf


def _create_beside(path: Path, suffix: str) -> tuple[int, Path]:
    """A new, uniquely named file in ``path``'s folder, opened for writing with mode 0666
    less the umask (as ``open`` does; ``tempfile.mkstemp`` would give 0600)."""
    for _ in range(100):
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}{suffix}")
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
            return os.open(temporary, flags, 0o666), temporary
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def write_text_atomic(path: str | os.PathLike, text: str, exclusive: bool = False) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically; with ``exclusive``, only where no
    file is there (else ``FileExistsError``, nothing written: ``atomic_write``)."""
    with atomic_write(path, exclusive=exclusive) as (stream, _):
        stream.write(text.encode("utf-8"))


def read_json_object(path: str | os.PathLike, what: str = "record") -> dict[str, Any]:
    """The JSON object in ``path`` (UTF-8); ``ValueError`` naming the file and ``what``
    it should hold where it cannot be read as one (``FileNotFoundError`` if absent)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except ValueError as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ValueError(f"{path} is not a readable {what}: {error}") from None
    return data


def atomic_torch_save(obj: object, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename over it."""
    with atomic_write(path) as (stream, _):
        torch.save(obj, stream)


def content_digest(obj: object) -> str:
    """Hex BLAKE2b digest of nested dicts (keys sorted), lists, tuples, tensors (shape,
    dtype and bytes) and plain values (their ``repr``): stored in a file beside its
    contents, it tells a file damaged after it was written."""
    digest = hashlib.blake2b(digest_size=16)

    def feed(value: object) -> None:
        if isinstance(value, torch.Tensor):
            data = value.detach().cpu().contiguous()
            digest.update(f"tensor{tuple(data.shape)}{data.dtype}".encode())
            digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(value, dict):
            digest.update(b"{")
            for key in sorted(value, key=repr):
                feed(key)
                feed(value[key])
            digest.update(b"}")
        elif isinstance(value, list | tuple):
            digest.update(b"(" if isinstance(value, tuple) else b"[")
            for item in value:
                feed(item)
            digest.update(b")")
        else:
            digest.update(f"{type(value).__name__}:{value!r};".encode())

    feed(obj)
    return digest.hexdigest()


def with_digest(payload: dict[str, object]) -> dict[str, object]:
    """``payload`` with a ``"digest"`` entry: the ``content_digest`` of the rest."""
    return {**payload, "digest": content_digest(payload)}


def intact(payload: dict[str, object]) -> bool:
    """Whether ``payload`` still matches its ``"digest"`` entry (``with_digest``); True
    without one (files written before digests existed)."""
    if "digest" not in payload:
        return True
    return content_digest({k: v for k, v in payload.items() if k != "digest"}) == payload["digest"]
