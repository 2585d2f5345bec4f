"""``load``: data root, variants, face splits, checksums and error messages."""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from optprior.data import (
    FACE_TEST_FRACTION,
    CorruptDatasetError,
    DatasetNotFoundError,
    data_root,
    datasets,
    integrity,
    load,
)
from optprior.data.download import downloads_allowed
from optprior.data.registry import DATASETS, DatasetSpec, FileSpec, Variant


def test_data_root_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OPTPRIOR_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data_root() == tmp_path / "env"
    monkeypatch.delenv("OPTPRIOR_DATA")
    assert data_root() == tmp_path / "xdg" / "optprior"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_root() == tmp_path / "home" / ".cache" / "optprior"
    monkeypatch.setenv("XDG_CACHE_HOME", "cache")  # relative: ignored (XDG), not cwd's
    assert data_root() == tmp_path / "home" / ".cache" / "optprior"
    monkeypatch.setenv("XDG_CACHE_HOME", "~/xdg")  # the home folder's, as the shell gives
    assert data_root() == tmp_path / "home" / "xdg" / "optprior"


def test_load_uses_env_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fakes) -> None:
    fakes.mnist(tmp_path / "mnist", n=4)
    monkeypatch.setenv("OPTPRIOR_DATA", str(tmp_path))
    images, labels = load("mnist", "test", verify=False)
    assert images.shape == (4, 28, 28) and images.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 1 and labels.dtype == np.int64


def test_faces_split_is_fixed_and_disjoint(tmp_path: Path, fakes) -> None:
    frames = fakes.frey(tmp_path / "frey" / "frey_rawface.mat", n=50)
    train, _ = load("frey", "train", tmp_path, verify=False)
    test, labels = load("frey", "test", tmp_path, verify=False)
    assert len(test) == round(FACE_TEST_FRACTION * 50) and len(train) + len(test) == 50
    all_rows = {row.tobytes() for row in frames / np.float32(255)}
    train_rows = {row.tobytes() for row in train}
    test_rows = {row.tobytes() for row in test}
    assert not train_rows & test_rows and train_rows | test_rows == all_rows
    np.testing.assert_array_equal(load("frey", "test", tmp_path, verify=False)[0], test)
    assert (labels == -1).all()


def test_umist_prefers_the_original(tmp_path: Path, fakes) -> None:
    fakes.umist_32(tmp_path / "umist" / "UMIST.mat", counts=(5, 5))
    assert load("umist", "train", tmp_path, verify=False)[0].shape[1:] == (32, 32)
    fakes.umist_cropped(tmp_path / "umist" / "umist_cropped.mat", counts=(5, 5))
    assert load("umist", "train", tmp_path, verify=False)[0].shape[1:] == (112, 92)
    forced = load("umist", "train", tmp_path, variant="32x32", verify=False)[0]
    assert forced.shape[1:] == (32, 32)


def test_usps_falls_back_to_libsvm(tmp_path: Path, fakes) -> None:
    values = np.zeros((3, 256))
    fakes.libsvm(tmp_path / "usps" / "usps.t.bz2", values, np.array([1, 2, 10]))
    images, labels = load("usps", "test", tmp_path, verify=False)
    np.testing.assert_array_equal(labels, [0, 1, 9])
    assert np.allclose(images, 0.5)
    fakes.usps_h5(tmp_path / "usps" / "usps.h5", n_test=5)
    assert len(load("usps", "test", tmp_path, verify=False)[0]) == 5


def test_missing_file_error_names_path_and_url(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as info:
        load("svhn", "train", tmp_path)
    message = str(info.value)
    assert str(tmp_path / "svhn" / "train_32x32.mat") in message
    assert "http://ufldl.stanford.edu/housenumbers/train_32x32.mat" in message
    assert "download is off" in message
    assert isinstance(info.value, FileNotFoundError)
    assert "does not exist" not in message  # the data root does
    with pytest.raises(DatasetNotFoundError, match=r"here .*/tpyo, a folder that does not exist"):
        load("svhn", "train", tmp_path / "tpyo")


def test_a_default_cache_not_made_yet_is_no_typo(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("OPTPRIOR_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # never created
    with pytest.raises(DatasetNotFoundError) as info:
        load("svhn", "train")
    assert str(tmp_path / "cache" / "optprior") in str(info.value)
    assert "typo" not in str(info.value)


def test_missing_file_lists_every_variant(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as info:
        load("synth", "test", tmp_path)
    message = str(info.value)
    assert str(tmp_path / "synth" / "synth_test_32x32.mat") in message
    assert str(tmp_path / "synth" / "syn_number.mat") in message
    assert "M3SDA" in message


def test_corrupt_file_names_file_and_checksum(tmp_path: Path, fakes) -> None:
    path = tmp_path / "frey" / "frey_rawface.mat"
    fakes.frey(path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CorruptDatasetError) as info:
        load("frey", "train", tmp_path)
    assert str(path) in str(info.value)
    assert "5aeb024d42b8a6091f30e5eb18c8a48d" in str(info.value)
    assert info.value.path == path
    assert f"fresh copy from {DATASETS['frey'].variants[0].train[0].source}" in str(info.value)


def test_unverified_corrupt_file_still_gives_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "olivetti" / "olivettifaces.mat"
    path.parent.mkdir()
    path.write_bytes(b"\0" * 300)
    with pytest.raises(CorruptDatasetError, match="olivettifaces.mat") as info:
        load("olivetti", "test", tmp_path, verify=False)
    # Unparsable, unchecked: still the checksum it should have and where to get it.
    file = DATASETS["olivetti"].variants[0].test[0]
    assert info.value.expected == file.expected and info.value.source == file.source
    assert f"fresh copy from {file.source}" in str(info.value)


@pytest.mark.parametrize(
    ("name", "split", "message"),
    [
        ("cifar", "train", "unknown dataset 'cifar'; choose one of mnist, usps"),
        ("mnist", "valid", "unknown split 'valid'; choose one of train, test"),
    ],
)
def test_unknown_names(name: str, split: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=message):
        load(name, split, tmp_path)


def _gzip(path: Path, content: bytes, level: int) -> Path:
    path.write_bytes(gzip.compress(content, compresslevel=level, mtime=0))
    return path


def test_recompressed_gzip_passes_by_content(tmp_path: Path) -> None:
    content = bytes(range(256)) * 40
    official = _gzip(tmp_path / "official.gz", content, 1)
    spec = FileSpec(
        "x.gz",
        md5=(hashlib.md5(official.read_bytes()).hexdigest(),),
        content_md5=hashlib.md5(content).hexdigest(),
    )
    assert integrity.matches(official, spec)
    regzipped = _gzip(tmp_path / "regzipped.gz", content, 9)
    assert regzipped.read_bytes() != official.read_bytes()
    assert integrity.matches(regzipped, spec)
    assert not integrity.matches(_gzip(tmp_path / "other.gz", content[:-1], 9), spec)
    (tmp_path / "broken.gz").write_bytes(regzipped.read_bytes()[:50])
    with pytest.raises(CorruptDatasetError, match="broken.gz"):
        integrity.verify_file(tmp_path / "broken.gz", spec)


def test_verification_is_remembered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    spec = FileSpec("f.bin", md5=(hashlib.md5(b"abc").hexdigest(),))
    integrity.verify_file(path, spec)
    monkeypatch.setattr(integrity, "file_digests", lambda p: pytest.fail("hashed twice"))
    integrity.verify_file(path, spec)


def test_every_registered_variant_has_a_reader() -> None:
    registered = {(name, v.name) for name, spec in DATASETS.items() for v in spec.variants}
    assert registered == set(datasets._READERS)


def test_digests_are_taken_where_files_are_recorded_once_per_file_as_it_is(
    tmp_path: Path, fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``load`` without a check hashes nothing; ``read_native(record=True)`` knows an
    MNIST file by its decompressed content, decompressed once; a file rewritten with its
    modification time put back (``cp -p``) is hashed again."""
    fakes.mnist(tmp_path / "mnist")
    decompressed = []
    gunzip = integrity.gunzip_md5
    monkeypatch.setattr(integrity, "gunzip_md5", lambda p: decompressed.append(p) or gunzip(p))
    load("mnist", "test", tmp_path, verify=False)
    assert decompressed == []
    for _ in range(2):
        _, _, files = datasets.read_native("mnist", "test", tmp_path, verify=False, record=True)
    assert len(decompressed) == 2 and all(f.digest.startswith("gunzip md5 ") for f in files)
    path = tmp_path / "same-size.bin"
    path.write_bytes(b"a" * 100)
    before = integrity.remembered_digests(path)
    stat = path.stat()
    path.write_bytes(b"b" * 100)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert integrity.remembered_digests(path) != before


def test_both_splits_come_from_one_variant(tmp_path: Path, monkeypatch) -> None:
    """With one file of the first variant missing, both splits are read from a complete
    later one, not the training split from the first and the test split from the later;
    and a download completes a variant begun before it starts another."""

    def spec_file(name: str) -> FileSpec:
        return FileSpec(name, urls=(f"https://example.org/{name}",))

    begun = Variant("begun", (spec_file("a_train"),), (spec_file("a_test"),))
    whole = Variant("whole", (spec_file("b"),), (spec_file("b"),))
    spec = DatasetSpec("toy", (begun, whole))
    (tmp_path / "a_train").touch()
    (tmp_path / "b").touch()
    for split in ("train", "test"):
        assert datasets._resolve(spec, split, tmp_path, None, False) is whole

    (tmp_path / "b").unlink()
    whole_first = DatasetSpec("toy", (whole, begun))
    assert datasets._resolve(whole_first, "train", tmp_path, None, False) is begun
    fetched = []
    monkeypatch.setattr(datasets, "download_file", lambda f, path: fetched.append(f.name))
    assert datasets._resolve(whole_first, "test", tmp_path, None, True) is begun
    assert fetched == ["a_test"]


@pytest.mark.parametrize(
    "options", [{"download": "False"}, {"download": 0}, {"verify": "no"}, {"verify": None}]
)
def test_download_and_verify_must_be_true_or_false(
    options: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``download="False"`` would read as true and download: a flag that is not a bool
    (Python's or NumPy's; download also None, the environment's choice) is named."""
    fetched: list[str] = []
    monkeypatch.setattr(datasets, "download_file", lambda f, path: fetched.append(f.name))
    ((flag, value),) = options.items()
    with pytest.raises(ValueError, match=rf"^{flag} must be True or False, got {value!r}$"):
        load("frey", "train", tmp_path, **options)
    assert fetched == []


def test_downloads_allowed_takes_bools_only(tmp_path: Path) -> None:
    assert downloads_allowed(np.True_) is True and downloads_allowed(False) is False
    with pytest.raises(ValueError, match=r"^download must be True or False, got 'False'$"):
        downloads_allowed("False")  # type: ignore[arg-type]
    with pytest.raises(DatasetNotFoundError, match="Automatic download is off"):
        load("frey", "train", tmp_path, download=np.False_, verify=np.True_)
