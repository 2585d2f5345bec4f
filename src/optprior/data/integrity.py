"""Checksum verification of dataset files.

Each file is hashed the first time it is used in a process; its digests are remembered for that
file as it is (path, size, modification and change times, inode), so later loads and records
of it in the same process cost nothing. Nothing is written next to the data, so read-only
data directories work.
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
_Key = tuple[str, int, int, int, int]  # path, size, modification time, inode, change time
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
    """A file as it is now: a file rewritten since (even with its modification time put
    back, as ``cp -p`` does) has another inode or change time."""
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_ctime_ns


def remembered_digests(path: Path) -> tuple[str, str]:
    """(md5, sha256) hex digests of ``path``, hashed once per file as it is (``_key``) in
    a process."""
    key = _key(path)
    if key not in _digests:
        _digests[key] = cast(tuple[str, str], file_digests(path))
    return _digests[key]


def content_digest(path: Path, spec: FileSpec) -> str:
    """What a file's content is known by, for records: ``"gunzip md5 <hex>"`` for a file
    accepted by its decompressed content (``spec.content_md5``: copies re-compressed with
    other bytes hold the same pixels), else ``"sha256 <hex>"`` of its bytes; hashed once
    per file as it is in a process."""
    if spec.content_md5 is None:
        return f"sha256 {remembered_digests(path)[1]}"
    return f"gunzip md5 {_content_md5(path, spec)}"


def _content_md5(path: Path, spec: FileSpec) -> str:
    """md5 of the decompressed content of ``path``, a file of ``spec`` (which has a
    ``content_md5``): that one, without decompressing, where the file's bytes are a listed
    copy; else decompressed, once per file as it is."""
    key = _key(path)
    if key not in _contents:
        md5, sha256 = remembered_digests(path)
        listed = md5 in spec.md5 or sha256 in spec.sha256
        _contents[key] = cast(str, spec.content_md5) if listed else gunzip_md5(path)
    return _contents[key]


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
        return _content_md5(path, spec) == spec.content_md5
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
