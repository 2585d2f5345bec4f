"""Checksum verification of dataset files.

Each file is hashed the first time it is used in a process; its digests are remembered for that
path, size and modification time, so later loads and records of it in the same process cost
nothing. Nothing is written next to the data, so read-only data directories work.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from pathlib import Path
from typing import cast

from optprior.data.errors import CorruptDatasetError
from optprior.data.registry import FileSpec

_CHUNK = 1 << 20
_Key = tuple[str, int, int]  # resolved path, size, modification time (ns)
_verified: set[_Key] = set()
_digests: dict[_Key, tuple[str, str]] = {}
_contents: dict[_Key, str] = {}


def file_digests(
    path: str | os.PathLike, algorithms: tuple[str, ...] = ("md5", "sha256")
) -> tuple[str, ...]:
    """Hex digests of the bytes of ``path``, one per ``hashlib`` algorithm, in one read."""
    digests = [hashlib.new(name) for name in algorithms]
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            for digest in digests:
                digest.update(chunk)
    return tuple(digest.hexdigest() for digest in digests)


def _key(path: Path) -> _Key:
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def remembered_digests(path: Path) -> tuple[str, str]:
    """(md5, sha256) hex digests of ``path``, hashed once per path, size and modification
    time in a process."""
    key = _key(path)
    if key not in _digests:
        _digests[key] = cast(tuple[str, str], file_digests(path))
    return _digests[key]


def content_digest(path: Path, spec: FileSpec) -> str:
    """What a file's content is known by, for records: ``"gunzip md5 <hex>"`` for a file
    accepted by its decompressed content (``spec.content_md5``: copies re-compressed with
    other bytes hold the same pixels), else ``"sha256 <hex>"`` of its bytes; hashed once
    per path, size and modification time in a process."""
    if spec.content_md5 is None:
        return f"sha256 {remembered_digests(path)[1]}"
    key = _key(path)
    if key not in _contents:
        _contents[key] = gunzip_md5(path)
    return f"gunzip md5 {_contents[key]}"


def gunzip_md5(path: Path) -> str:
    """md5 hex digest of the decompressed content of the gzip file ``path``."""
    md5 = hashlib.md5()
    with gzip.open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            md5.update(chunk)
    return md5.hexdigest()


def matches(path: Path, spec: FileSpec) -> bool:
    """Whether ``path`` has one of the checksums of ``spec`` (True where none is known)."""
    if spec.expected is None:
        return True
    md5, sha256 = remembered_digests(path)
    if md5 in spec.md5 or sha256 in spec.sha256:
        return True
    if spec.content_md5 is None:
        return False
    try:
        return gunzip_md5(path) == spec.content_md5
    except (OSError, EOFError, zlib.error):
        return False


def verify_file(path: Path, spec: FileSpec) -> None:
    """Raise :class:`CorruptDatasetError` unless ``path`` matches a checksum of ``spec``."""
    key = _key(path)
    if key in _verified:
        return
    if not matches(path, spec):
        raise CorruptDatasetError(
            path, "checksum mismatch (truncated or wrong file?)", spec.expected, spec.source
        )
    _verified.add(key)
