"""Downloads: atomic writes, checksum check, fallbacks; only local file:// URLs are used."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from optprior.data import DatasetNotFoundError, load
from optprior.data.download import STALE_PART_S, download_file, downloads_allowed, partial
from optprior.data.registry import DATASETS, DatasetSpec, FileSpec, Variant


def _source(tmp_path: Path, content: bytes = b"payload" * 1000) -> tuple[Path, str]:
    path = tmp_path / "server" / "file.bin"
    path.parent.mkdir()
    path.write_bytes(content)
    return path, hashlib.md5(content).hexdigest()


def _leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.endswith(".part")]


def test_download_writes_verified_file(tmp_path: Path) -> None:
    source, md5 = _source(tmp_path)
    dest = tmp_path / "root" / "ds" / "file.bin"
    download_file(FileSpec("file.bin", md5=(md5,), urls=(source.as_uri(),)), dest)
    assert dest.read_bytes() == source.read_bytes()
    assert _leftovers(dest.parent) == []


def test_a_download_removes_the_partial_files_of_killed_ones_not_live_ones(tmp_path: Path) -> None:
    """A killed download's ``.part`` (not written for ``STALE_PART_S``) goes; one written
    lately may be another process's download under way, and stays."""
    source, md5 = _source(tmp_path)
    folder = tmp_path / "root" / "ds"
    folder.mkdir(parents=True)
    stale, live = folder / ".other.bin.0123456789ab.part", folder / ".file.bin.ba9876543210.part"
    for path in (stale, live):
        path.write_bytes(b"half")
    old = time.time() - STALE_PART_S - 5
    os.utime(stale, (old, old))
    download_file(FileSpec("file.bin", md5=(md5,), urls=(source.as_uri(),)), folder / "file.bin")
    assert _leftovers(folder) == [live.name]


def test_download_with_wrong_checksum_leaves_nothing(tmp_path: Path) -> None:
    source, actual = _source(tmp_path)
    dest = tmp_path / "root" / "file.bin"
    with pytest.raises(
        OSError, match=f"wrong checksum: got md5 {actual}, sha256 .*; expected md5 0"
    ):
        download_file(FileSpec("file.bin", md5=("0" * 32,), urls=(source.as_uri(),)), dest)
    assert not dest.parent.exists()  # nothing left, not even the folder it made
    dest.parent.mkdir()  # a folder that was there before stays, without leftovers
    with pytest.raises(OSError, match="wrong checksum"):
        download_file(FileSpec("file.bin", md5=("0" * 32,), urls=(source.as_uri(),)), dest)
    assert dest.parent.is_dir() and _leftovers(dest.parent) == []


def test_download_tries_the_next_address(tmp_path: Path) -> None:
    source, md5 = _source(tmp_path)
    missing = (tmp_path / "server" / "absent.bin").as_uri()
    dest = tmp_path / "file.bin"
    download_file(FileSpec("file.bin", md5=(md5,), urls=(missing, source.as_uri())), dest)
    assert dest.read_bytes() == source.read_bytes()


def test_a_response_cut_off_tries_the_next_address(tmp_path: Path, monkeypatch) -> None:
    """A server that closes a response early raises http.client.IncompleteRead, not an
    OSError: it is a failed address like any other."""
    import http.client
    import urllib.request

    source, md5 = _source(tmp_path)
    opened = urllib.request.urlopen

    def cut_off(url, **kwargs):
        if getattr(url, "full_url", url).startswith("https:"):
            raise http.client.IncompleteRead(b"", 100)
        return opened(url, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", cut_off)
    dest = tmp_path / "root" / "file.bin"
    spec = FileSpec("file.bin", md5=(md5,), urls=("https://example.org/cut", source.as_uri()))
    download_file(spec, dest)
    assert dest.read_bytes() == source.read_bytes()
    elsewhere = tmp_path / "other" / "file.bin"
    with pytest.raises(OSError, match=r"example.org/cut: IncompleteRead"):
        download_file(FileSpec("file.bin", md5=(md5,), urls=(spec.urls[0],)), elsewhere)
    assert not elsewhere.parent.exists()


def test_downloads_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not downloads_allowed()  # the tests' autouse fixture sets OPTPRIOR_NO_DOWNLOAD=1
    assert downloads_allowed(True)
    monkeypatch.delenv("OPTPRIOR_NO_DOWNLOAD")
    assert downloads_allowed() and not downloads_allowed(False)


def _frey_from(monkeypatch: pytest.MonkeyPatch, url: str, md5: str) -> None:
    spec = FileSpec("frey_rawface.mat", md5=(md5,), urls=(url,))
    variant = Variant("mat", train=(spec,), test=(spec,))
    monkeypatch.setitem(DATASETS, "frey", DatasetSpec("frey", (variant,), official_split=False))


def test_load_downloads_a_missing_file(tmp_path: Path, monkeypatch, fakes) -> None:
    served = tmp_path / "server" / "frey_rawface.mat"
    frames = fakes.frey(served, n=10)
    _frey_from(monkeypatch, served.as_uri(), hashlib.md5(served.read_bytes()).hexdigest())
    root = tmp_path / "root"
    images, _ = load("frey", "train", root, download=True)
    assert (root / "frey" / "frey_rawface.mat").read_bytes() == served.read_bytes()
    originals = {frame.tobytes() for frame in frames / np.float32(255)}
    assert len(images) == 8 and {image.tobytes() for image in images} <= originals


def test_failed_download_says_where_to_put_the_file(tmp_path: Path, monkeypatch) -> None:
    url = (tmp_path / "server" / "nowhere.mat").as_uri()
    _frey_from(monkeypatch, url, "0" * 32)
    with pytest.raises(DatasetNotFoundError) as info:
        load("frey", "test", tmp_path / "root", download=True)
    message = str(info.value)
    assert str(tmp_path / "root" / "frey" / "frey_rawface.mat") in message
    assert url in message and "download failed" in message
    assert not (tmp_path / "root" / "frey" / "frey_rawface.mat").exists()


def test_a_download_that_fails_while_another_process_saves_the_file_reads_that(
    tmp_path: Path, monkeypatch, fakes
) -> None:
    """Two workers fetch one missing file: one fails (say, a timeout) while the other
    saves it; the first reads the saved file rather than report it missing."""
    from optprior.data import datasets

    served = tmp_path / "server" / "frey_rawface.mat"
    fakes.frey(served, n=10)
    _frey_from(monkeypatch, served.as_uri(), hashlib.md5(served.read_bytes()).hexdigest())

    def saved_by_another(spec: FileSpec, dest: Path) -> None:
        download_file(spec, dest)  # the other worker's download, done meanwhile
        raise OSError("download failed: timed out")

    monkeypatch.setattr(datasets, "download_file", saved_by_another)
    images, _ = load("frey", "train", tmp_path / "root", download=True)
    assert len(images) == 8


@contextlib.contextmanager
def serving(respond: Callable[[http.server.BaseHTTPRequestHandler], None]) -> Iterator[str]:
    """A local HTTP server whose GET requests ``respond`` answers; yields its address."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            respond(self)
            self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_a_real_response_cut_off_or_a_web_page_is_not_taken_for_the_file(tmp_path: Path) -> None:
    """urllib reads a body its server closed early as complete: the bytes are counted
    against Content-Length, so a file without a known checksum is not kept cut off;
    nor is a web page (a login or error page) served in its place."""

    def respond(request: http.server.BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        if request.path == "/cut":
            request.send_header("Content-Length", "100000")
            request.end_headers()
            request.wfile.write(b"x" * 1000)  # then the connection closes
        else:
            body = b"<html>sign in</html>"
            request.send_header("Content-Type", "text/html; charset=utf-8")
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.write(body)

    with serving(respond) as base:
        dest = tmp_path / "root" / "file.mat"
        with pytest.raises(OSError, match=r"/cut: IncompleteRead"):
            download_file(FileSpec("file.mat", urls=(f"{base}/cut",)), dest)
        with pytest.raises(OSError, match=r"/page: ValueError: got a web page \(text/html"):
            download_file(FileSpec("file.mat", urls=(f"{base}/page",)), dest)
        assert not dest.exists() and not dest.parent.exists()


def test_a_body_of_unknown_length_is_not_taken_for_a_file_without_checksum(tmp_path: Path) -> None:
    """A body without Content-Length ends where the connection closes, cut off or not:
    with no checksum to tell (umist_cropped.mat), it is refused as a cut-off one is. A
    chunked body, whose end is marked, and a file with a checksum are taken."""
    content = os.urandom(30_000)

    def respond(request: http.server.BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        if request.path == "/chunked":
            request.send_header("Transfer-Encoding", "chunked")
            request.end_headers()
            request.wfile.write(b"%x\r\n%b\r\n0\r\n\r\n" % (len(content), content))
            return
        request.end_headers()
        request.wfile.write(content[:10_000] if request.path == "/cut" else content)

    with serving(respond) as base:
        dest = tmp_path / "root" / "umist_cropped.mat"
        for path, received in (("/cut", 10_000), ("/whole", 30_000)):
            with pytest.raises(
                OSError, match=rf"{path}: UnknownLengthRead: {received} bytes received without"
            ):
                download_file(FileSpec(dest.name, urls=(base + path,)), dest)
            assert not dest.parent.exists()  # nor a part: never gone on from without checksum
        download_file(FileSpec(dest.name, urls=(f"{base}/chunked",)), dest)
        assert dest.read_bytes() == content
        checked = tmp_path / "checked" / "file.bin"
        md5 = hashlib.md5(content).hexdigest()
        download_file(FileSpec(checked.name, md5=(md5,), urls=(f"{base}/whole",)), checked)
        assert checked.read_bytes() == content


def test_a_download_cut_off_goes_on_from_the_bytes_it_received(tmp_path: Path) -> None:
    """The bytes of a download cut off stay in its .part; the next asks only for the
    rest (a Range request), and the whole is checked against the checksum. A server
    that ignores the range sends the whole again, which replaces the part."""
    content = bytes(range(256)) * 400
    other = bytes(reversed(content))  # a mirror's copy of other bytes, also accepted
    md5 = hashlib.md5(content).hexdigest()
    asked: list[str | None] = []

    def respond(request: http.server.BaseHTTPRequestHandler) -> None:
        ranged = request.headers.get("Range")
        asked.append(ranged)
        start = int(re.fullmatch(r"bytes=(\d+)-", ranged).group(1)) if ranged else 0
        if request.path == "/whole":  # ignores ranges
            start = 0
        served = other if request.path == "/other" else content
        if start >= len(served):
            request.send_response(416)
            request.end_headers()
            return
        body = served[start:]
        request.send_response(206 if start else 200)
        if start:
            request.send_header("Content-Range", f"bytes {start}-{len(content) - 1}/{len(content)}")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        # the first request is cut off after 10,000 bytes
        request.wfile.write(body[:10_000] if len(asked) == 1 else body)

    with serving(respond) as base:
        dest = tmp_path / "root" / "file.bin"
        spec = FileSpec("file.bin", md5=(md5,), urls=(f"{base}/ranged",))
        with pytest.raises(OSError, match="IncompleteRead"):
            download_file(spec, dest)
        assert partial(dest).stat().st_size == 10_000 and not dest.exists()
        download_file(spec, dest)
        assert asked == [None, "bytes=10000-"]
        assert dest.read_bytes() == content and not partial(dest).exists()

        again = tmp_path / "again" / "file.bin"
        again.parent.mkdir()
        partial(again).write_bytes(b"x" * 5000)  # kept from a server that ranges
        download_file(FileSpec("file.bin", md5=(md5,), urls=(f"{base}/whole",)), again)
        assert asked[-1] == "bytes=5000-" and again.read_bytes() == content

        # Bytes kept from one mirror, the rest asked of another with another copy: the
        # mixture fails the checksum, and the second mirror's whole copy is fetched.
        mirrored = tmp_path / "mirrored" / "file.bin"
        mirrored.parent.mkdir()
        partial(mirrored).write_bytes(content[:10_000])
        both = (md5, hashlib.md5(other).hexdigest())
        download_file(FileSpec("file.bin", md5=both, urls=(f"{base}/other",)), mirrored)
        assert asked[-2:] == ["bytes=10000-", None] and mirrored.read_bytes() == other

        # A part kept whole (killed before its rename): nothing left to ask for (416).
        whole = tmp_path / "whole" / "file.bin"
        whole.parent.mkdir()
        partial(whole).write_bytes(content)
        download_file(spec, whole)
        assert asked[-1] == f"bytes={len(content)}-" and whole.read_bytes() == content


def test_one_process_at_a_time_downloads_a_file(tmp_path: Path, monkeypatch) -> None:
    """Workers that miss one file together: one downloads it, the others wait for it
    and find it in place rather than fetching it again."""
    import urllib.request

    from optprior.data import download

    source, md5 = _source(tmp_path)
    opened, release = [], threading.Event()
    real = urllib.request.urlopen

    def slow(request, **kwargs):
        opened.append(request)
        release.wait(10)  # the first holds the lock meanwhile
        return real(request, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", slow)
    dest = tmp_path / "root" / "file.bin"
    spec = FileSpec("file.bin", md5=(md5,), urls=(source.as_uri(),))
    workers = [threading.Thread(target=download_file, args=(spec, dest)) for _ in range(3)]
    for worker in workers:
        worker.start()
    time.sleep(0.5)
    release.set()
    for worker in workers:
        worker.join(10)
    assert len(opened) == 1 and dest.read_bytes() == source.read_bytes()
    assert download.fcntl is not None  # POSIX: the lock is real here


def test_a_folder_removed_by_a_failed_download_before_the_lock_opens_is_made_again(
    tmp_path: Path, monkeypatch
) -> None:
    """A failed download removes the folders it made; a waiter that had just made the
    folder again and not yet opened the lock file there makes it once more."""
    from optprior.data import download

    source, md5 = _source(tmp_path)
    dest = tmp_path / "root" / "ds" / "file.bin"
    real_open, opened = open, []

    def folder_gone_first(path, *args, **kwargs):
        opened.append(path)
        if len(opened) == 1:  # the failed download's cleanup, just before this open
            Path(path).parent.rmdir()
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(download, "open", folder_gone_first, raising=False)
    download_file(FileSpec("file.bin", md5=(md5,), urls=(source.as_uri(),)), dest)
    assert dest.read_bytes() == source.read_bytes() and len(opened) >= 2


def test_a_file_system_without_flock_still_downloads(tmp_path: Path, monkeypatch) -> None:
    """Where flock fails (a network file system without it), the download goes on
    unlocked, into a part of its own process."""
    from optprior.data import download

    def no_flock(*args: object) -> None:
        raise OSError(37, "No locks available")

    monkeypatch.setattr(download.fcntl, "flock", no_flock)
    source, md5 = _source(tmp_path)
    dest = tmp_path / "root" / "file.bin"
    download_file(FileSpec("file.bin", md5=(md5,), urls=(source.as_uri(),)), dest)
    assert dest.read_bytes() == source.read_bytes() and _leftovers(dest.parent) == []


def test_a_server_that_sends_other_bytes_than_the_range_asked_is_fetched_whole(
    tmp_path: Path,
) -> None:
    """A 206 from the wrong offset is not appended to the part kept, nor does it fail
    every later try the same way: the whole file is fetched once instead."""
    content = bytes(range(256)) * 40
    asked: list[str | None] = []

    def respond(request: http.server.BaseHTTPRequestHandler) -> None:
        asked.append(request.headers.get("Range"))
        request.send_response(206 if asked[-1] else 200)
        if asked[-1]:  # ranges from 0 whatever was asked
            request.send_header("Content-Range", f"bytes 0-{len(content) - 1}/{len(content)}")
        request.send_header("Content-Length", str(len(content)))
        request.end_headers()
        request.wfile.write(content)

    with serving(respond) as base:
        dest = tmp_path / "root" / "file.bin"
        dest.parent.mkdir(parents=True)
        partial(dest).write_bytes(content[:100])
        md5 = hashlib.md5(content).hexdigest()
        download_file(FileSpec("file.bin", md5=(md5,), urls=(f"{base}/file",)), dest)
    assert asked == ["bytes=100-", None]
    assert dest.read_bytes() == content and not partial(dest).exists()


def test_an_unlocked_download_killed_leaves_a_part_removed_once_stale(
    tmp_path: Path, monkeypatch
) -> None:
    """Without flock each download writes a part of its own; one a killed process left
    is removed by a later download once it is not written for ``STALE_PART_S``."""
    from optprior.data import download

    def no_flock(*args: object) -> None:
        raise OSError(37, "No locks available")

    def killed(
        url: str, spec: FileSpec, dest: Path, part: Path, *args: object, **kw: object
    ) -> None:
        part.write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(download.fcntl, "flock", no_flock)
    source, md5 = _source(tmp_path)
    dest = tmp_path / "root" / "file.bin"
    spec = FileSpec("file.bin", md5=(md5,), urls=(source.as_uri(),))
    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(download, "_fetch", killed)
        download_file(spec, dest)
    (left,) = dest.parent.glob("*.part")
    old = time.time() - STALE_PART_S - 5
    os.utime(left, (old, old))
    download_file(spec, tmp_path / "root" / "other.bin")
    assert _leftovers(dest.parent) == []
