"""Where the data live, and fetching of missing files with atomic writes.

The data root is ``root`` if given, else ``$OPTPRIOR_DATA``, else ``$XDG_CACHE_HOME/optprior``
(``~/.cache/optprior`` when XDG_CACHE_HOME is unset). A download goes to a temporary file in
the destination folder, is checked against the registry checksum and only then renamed into
place with :func:`os.replace`; on any failure the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import urllib.request
from pathlib import Path

from tqdm import tqdm

from optprior._io import atomic_write, remove_leftovers
from optprior.data.integrity import file_digests, matches
from optprior.data.registry import FileSpec

ENV_ROOT = "OPTPRIOR_DATA"
ENV_NO_DOWNLOAD = "OPTPRIOR_NO_DOWNLOAD"
TIMEOUT_S = 60.0
#: A partial download (``.part``) not written for this long was left by a killed process.
STALE_PART_S = 10 * TIMEOUT_S
_CHUNK = 1 << 20


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding ``<dataset>/<file>``: ``root``, else $OPTPRIOR_DATA, else the cache."""
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get(ENV_ROOT):
        return Path(os.environ[ENV_ROOT]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "optprior"


def downloads_allowed(download: bool | None = None) -> bool:
    """``download`` if given, else True unless $OPTPRIOR_NO_DOWNLOAD is 1/true/yes."""
    if download is not None:
        return download
    return os.environ.get(ENV_NO_DOWNLOAD, "").strip().lower() not in {"1", "true", "yes"}


def download_file(spec: FileSpec, dest: Path, timeout: float = TIMEOUT_S) -> None:
    """Fetch ``spec`` from its URLs, in order, to ``dest``; OSError listing failures if none works.

    ``dest`` only ever appears complete and checksum-verified. Partial downloads that killed
    processes left in its folder (not written for ``STALE_PART_S``) are removed first.
    """
    if not spec.urls:
        raise OSError(f"no download address for {spec.name}")
    created = [folder for folder in (dest.parent, *dest.parent.parents) if not folder.exists()]
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(dest.parent, ".part", unchanged_for=STALE_PART_S)  # of killed downloads
    failures = []
    for url in spec.urls:
        try:
            _fetch(url, spec, dest, timeout)
            return
        # URLError, timeouts, a response cut off (IncompleteRead), bad checksum
        except (OSError, http.client.HTTPException, ValueError) as exc:
            failures.append(f"{url}: {type(exc).__name__}: {exc}")
    for folder in created:  # deepest first: a failed download leaves no new folders
        with contextlib.suppress(OSError):  # not empty: another process wrote there
            folder.rmdir()
    raise OSError("download failed: " + "; ".join(failures))


def _fetch(url: str, spec: FileSpec, dest: Path, timeout: float) -> None:
    with (
        atomic_write(dest, suffix=".part") as (out, tmp),
        urllib.request.urlopen(url, timeout=timeout) as response,
    ):
        kind = str(response.headers.get("Content-Type") or "")
        if kind.startswith("text/html") and not spec.name.endswith((".html", ".htm")):
            raise ValueError(f"got a web page ({kind}), not the file: a login or error page?")
        size = int(response.headers.get("Content-Length") or 0) or None
        # read1: what has arrived, so that a slow download's .part grows (not stale)
        read = getattr(response, "read1", response.read)
        received = 0
        with tqdm(total=size, unit="B", unit_scale=True, desc=dest.name, disable=None) as bar:
            while chunk := read(_CHUNK):
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        if size is not None and received != size:  # urllib reads a cut-off body as its end
            raise http.client.IncompleteRead(b"", size - received)
        out.flush()
        if not matches(tmp, spec):
            md5, sha256 = file_digests(tmp)
            raise ValueError(
                f"wrong checksum: got md5 {md5}, sha256 {sha256}; expected {spec.expected}"
            )
