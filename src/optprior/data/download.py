"""Where the data live, and fetching of missing files with atomic writes.

The data root is ``root`` if given, else ``$OPTPRIOR_DATA``, else ``$XDG_CACHE_HOME/optprior``
(``~/.cache/optprior`` when XDG_CACHE_HOME is unset). A download goes to a partial file in
the destination folder, is checked against the registry checksum and only then renamed into
place with :func:`os.replace`; one cut off is gone on with from the bytes received.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from secrets import token_hex
from typing import IO

from tqdm import tqdm

try:
    import fcntl
except ImportError:  # not on Windows: downloads are not serialised there
    fcntl = None  # type: ignore[assignment]

from optprior._io import remove_leftovers
from optprior._validation import true_or_false
from optprior.data.integrity import file_digests, matches
from optprior.data.registry import FileSpec

ENV_ROOT = "OPTPRIOR_DATA"
ENV_NO_DOWNLOAD = "OPTPRIOR_NO_DOWNLOAD"
TIMEOUT_S = 60.0
#: A partial download (``.part``) not written for this long was left by a killed process.
STALE_PART_S = 10 * TIMEOUT_S
_CHUNK = 1 << 20


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding ``<dataset>/<file>``: ``root``, else $OPTPRIOR_DATA, else the
    cache: $XDG_CACHE_HOME/optprior where that is an absolute path (``~`` expanded; the
    XDG rule: a relative one is ignored), else ~/.cache/optprior."""
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get(ENV_ROOT):
        return Path(os.environ[ENV_ROOT]).expanduser()
    xdg = os.path.expanduser(os.environ.get("XDG_CACHE_HOME", ""))
    cache = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return cache / "optprior"


def downloads_allowed(download: bool | None = None) -> bool:
    """``download`` if given (a bool: ``ValueError`` naming it otherwise), else True
    unless $OPTPRIOR_NO_DOWNLOAD is 1/true/yes."""
    if download is not None:
        return true_or_false(download, "download")
    return os.environ.get(ENV_NO_DOWNLOAD, "").strip().lower() not in {"1", "true", "yes"}


def download_file(spec: FileSpec, dest: Path, timeout: float = TIMEOUT_S) -> None:
    """Fetch ``spec`` from its URLs, in order, to ``dest``; OSError listing failures if none works.

    ``dest`` only ever appears complete and checksum-verified. One process at a time
    downloads a file (``_download_lock``; the others then find it in place). A download
    cut off (a timeout, a dropped connection, Ctrl+C) keeps what it received in
    ``.<name>.part``, which the next one goes on from where the server takes a byte range
    and the file has a checksum to verify the whole; without the lock (a file system or
    platform without ``flock``) each download writes a part of its own (named by a random
    token, not a process id, which processes on two hosts or containers can share), not
    gone on from. A failed download leaves no folder it made, unless it kept bytes to go
    on from. Such parts that killed processes left (not written for ``STALE_PART_S``) are
    removed.
    """
    if not spec.urls:
        raise OSError(f"no download address for {spec.name}")
    created = [folder for folder in (dest.parent, *dest.parent.parents) if not folder.exists()]
    if dest.parent.is_dir():  # of killed downloads of the earlier naming
        remove_leftovers(dest.parent, ".part", unchanged_for=STALE_PART_S)
    failures = []
    with _download_lock(dest) as locked:
        if dest.is_file():  # another process's download, finished while this one waited
            return
        part = partial(dest) if locked else dest.parent / f".{dest.name}.{token_hex(6)}.part"
        for url in spec.urls:
            try:
                _fetch(url, spec, dest, part, timeout, resume=locked and bool(spec.expected))
                return
            # URLError, timeouts, a response cut off (IncompleteRead), bad checksum
            except (OSError, http.client.HTTPException, ValueError) as exc:
                failures.append(f"{url}: {type(exc).__name__}: {exc}")
        if not (locked and spec.expected):  # never gone on from
            part.unlink(missing_ok=True)
        if created and not part.is_file():  # nothing received to go on from
            _lock_path(dest).unlink(missing_ok=True)  # waiters see it gone: they retry
            for folder in created:  # deepest first: a failed download leaves no new folders
                with contextlib.suppress(OSError):  # not empty: another process wrote there
                    folder.rmdir()
    raise OSError("download failed: " + "; ".join(failures))


class UnknownLengthRead(http.client.IncompleteRead):
    """A body without Content-Length (nor chunked, whose end is marked) of a file without
    a checksum: it ends where the connection closes, so a cut-off one reads as whole."""

    def __init__(self, received: int) -> None:
        super().__init__(b"")
        self.received = received

    def __str__(self) -> str:
        return (
            f"{self.received} bytes received without a Content-Length, and no checksum to "
            "tell whether that is the whole file"
        )


def partial(dest: Path) -> Path:
    """Where the bytes of ``dest`` received so far are kept while it downloads."""
    return dest.parent / f".{dest.name}.part"


def _lock_path(dest: Path) -> Path:
    return dest.parent / f".{dest.name}.lock"


@contextlib.contextmanager
def _download_lock(dest: Path) -> Iterator[bool]:
    """Hold the lock of ``dest``'s download (``flock`` on ``.<name>.lock``), waiting
    while another process downloads it; yields whether it is held (False where the
    platform or file system has no ``flock``). A lock file its holder removed (a failed
    download cleaning up) is taken again from its path, as is a folder it removed between
    this process making it and opening the lock there."""
    while True:
        dest.parent.mkdir(parents=True, exist_ok=True)
        if fcntl is None:
            yield False
            return
        path = _lock_path(dest)
        try:
            handle = open(path, "a", encoding="utf-8")  # closed by the with below
        except FileNotFoundError:  # the folder, just made, removed by a failed download
            continue
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX)
            except OSError:  # e.g. a network file system without flock
                yield False
                return
            try:
                if _same_file(handle, path):
                    yield True
                    return
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _same_file(handle: IO[str], path: Path) -> bool:
    """Whether the open ``handle`` is still the file at ``path`` (not removed since)."""
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
    except FileNotFoundError:
        return False


def _fetch(url: str, spec: FileSpec, dest: Path, part: Path, timeout: float, resume: bool) -> None:
    """Download ``url`` into ``part``, where ``resume`` going on from its bytes if the
    server sends the rest of them (206 from their end); then check it and rename it to
    ``dest``. A body shorter than announced, or cut off, stays to go on from; a web page
    is removed, as is a wrong checksum, after the whole is fetched again once where the
    bytes kept were another copy's (a mirror's, or the file changed since)."""
    have = part.stat().st_size if resume and part.is_file() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        opened = urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=timeout
        )
    except urllib.error.HTTPError as error:
        error.close()
        if have and error.code == 416:  # nothing past the bytes kept: whole, or another copy
            if matches(part, spec):
                os.replace(part, dest)
                return None
            part.unlink()
            return _fetch(url, spec, dest, part, timeout, resume=False)
        raise
    with opened as response:
        kind = str(response.headers.get("Content-Type") or "")
        if kind.startswith("text/html") and not spec.name.endswith((".html", ".htm")):
            part.unlink(missing_ok=True)
            raise ValueError(f"got a web page ({kind}), not the file: a login or error page?")
        ranged = str(response.headers.get("Content-Range") or "")
        resumed = bool(have) and getattr(response, "status", None) == 206
        if resumed and not ranged.startswith(f"bytes {have}-"):  # not the bytes asked for
            response.close()
            part.unlink()
            return _fetch(url, spec, dest, part, timeout, resume=False)  # the whole, once
        start = have if resumed else 0
        length = int(response.headers.get("Content-Length") or 0) or None
        size = None if length is None else start + length
        chunked = "chunked" in str(response.headers.get("Transfer-Encoding") or "").lower()
        # read1: what has arrived, so that a slow download's .part grows as it comes
        read = getattr(response, "read1", response.read)
        received = 0
        with (
            open(part, "ab" if resumed else "wb") as out,
            tqdm(
                total=size, initial=start, unit="B", unit_scale=True, desc=dest.name, disable=None
            ) as bar,
        ):
            while chunk := read(_CHUNK):
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
            out.flush()
            os.fsync(out.fileno())  # the data reach the disk before the rename does
    if size is not None and start + received != size:  # urllib reads a cut-off body as its end
        raise http.client.IncompleteRead(b"", size - start - received)
    if size is None and not chunked and not spec.expected:  # nothing tells a cut-off body
        raise UnknownLengthRead(start + received)
    if not matches(part, spec):
        md5, sha256 = file_digests(part)
        part.unlink()
        if resumed:  # the bytes kept were of another copy: fetch the whole once
            return _fetch(url, spec, dest, part, timeout, resume=False)
        raise ValueError(
            f"wrong checksum: got md5 {md5}, sha256 {sha256}; expected {spec.expected}"
        )
    os.replace(part, dest)
    return None
