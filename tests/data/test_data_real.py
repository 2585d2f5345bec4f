"""The staged real files parse to the official numbers (shared/data/README.md).

The staged data are looked up at ``<repo>/../shared/data`` or $OPTPRIOR_DATA; a test whose
file is absent is skipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from optprior.data import load

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
USPS_TRAIN_COUNTS = [1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644]
USPS_TEST_COUNTS = [359, 264, 198, 166, 200, 160, 170, 147, 166, 177]
UMIST_COUNTS = [38, 35, 26, 24, 26, 23, 19, 22, 20, 32, 34, 34, 26, 30, 19, 26, 26, 33, 48, 34]


def _check(images: np.ndarray, labels: np.ndarray, shape: tuple[int, ...]) -> None:
    assert images.dtype == np.float32 and labels.dtype == np.int64
    assert images.shape[1:] == shape and labels.shape == (len(images),)
    assert 0.0 <= images.min() and images.max() <= 1.0


@pytest.mark.parametrize(
    ("split", "counts"), [("train", MNIST_TRAIN_COUNTS), ("test", MNIST_TEST_COUNTS)]
)
def test_mnist(shared: Path, require, split: str, counts: list[int]) -> None:
    prefix = "train" if split == "train" else "t10k"
    require(f"mnist/{prefix}-images-idx3-ubyte.gz", f"mnist/{prefix}-labels-idx1-ubyte.gz")
    images, labels = load("mnist", split, shared)  # the re-gzipped train images pass too
    _check(images, labels, (28, 28))
    assert np.bincount(labels).tolist() == counts
    assert images.min() == 0.0 and images.max() == 1.0


@pytest.mark.parametrize(
    ("split", "counts"), [("train", USPS_TRAIN_COUNTS), ("test", USPS_TEST_COUNTS)]
)
def test_usps_h5(shared: Path, require, split: str, counts: list[int]) -> None:
    require("usps/usps.h5")
    images, labels = load("usps", split, shared)
    _check(images, labels, (16, 16))
    assert np.bincount(labels).tolist() == counts


def test_usps_libsvm_test_matches_h5_labels(shared: Path, require) -> None:
    require("usps/usps.t.bz2", "usps/usps.h5")
    images, labels = load("usps", "test", shared, variant="libsvm")
    _check(images, labels, (16, 16))
    np.testing.assert_array_equal(labels, load("usps", "test", shared)[1])


def test_frey(shared: Path, require) -> None:
    require("frey/frey_rawface.mat")
    train, train_labels = load("frey", "train", shared)
    test, _ = load("frey", "test", shared)
    _check(train, train_labels, (28, 20))
    assert len(train) + len(test) == 1965 and len(test) == 393
    assert (train_labels == -1).all()
    everything = np.concatenate([train, test])
    assert round(everything.min() * 255) == 8 and round(everything.max() * 255) == 238


def test_olivetti(shared: Path, require) -> None:
    require("olivetti/olivettifaces.mat")
    train, train_labels = load("olivetti", "train", shared)
    test, test_labels = load("olivetti", "test", shared)
    _check(train, train_labels, (64, 64))
    assert len(train) == 320 and len(test) == 80
    assert np.bincount(np.concatenate([train_labels, test_labels])).tolist() == [10] * 40
    assert round(max(train.max(), test.max()) * 255) == 242  # stored 0..242, divided by 255


def test_umist_32(shared: Path, require) -> None:
    require("umist/UMIST.mat")
    train, train_labels = load("umist", "train", shared, variant="32x32")
    test, test_labels = load("umist", "test", shared, variant="32x32")
    _check(train, train_labels, (32, 32))
    assert len(train) + len(test) == 575 and len(test) == 115
    assert np.bincount(np.concatenate([train_labels, test_labels])).tolist() == UMIST_COUNTS


def test_umist_original(shared: Path, require) -> None:
    require("umist/umist_cropped.mat")
    train, labels = load("umist", "train", shared)
    _check(train, labels, (112, 92))
    assert len(train) + len(load("umist", "test", shared)[0]) == 575


@pytest.mark.parametrize(("split", "n"), [("train", 73257), ("test", 26032)])
def test_svhn(shared: Path, require, split: str, n: int) -> None:
    require(f"svhn/{split}_32x32.mat")
    images, labels = load("svhn", split, shared)
    _check(images, labels, (32, 32, 3))
    assert len(images) == n and set(np.unique(labels)) == set(range(10))


@pytest.mark.parametrize(("split", "n"), [("train", 25000), ("test", 9000)])
def test_synth_syn_number(shared: Path, require, split: str, n: int) -> None:
    require("synth/syn_number.mat")
    images, labels = load("synth", split, shared, variant="syn_number")
    _check(images, labels, (32, 32, 3))
    assert len(images) == n and set(np.unique(labels)) == set(range(10))


def test_synth_full(shared: Path, require) -> None:
    require("synth/synth_test_32x32.mat")
    images, labels = load("synth", "test", shared, variant="mat")
    _check(images, labels, (32, 32, 3))
    assert len(images) == 9553


def test_root_from_environment(shared: Path, require, monkeypatch: pytest.MonkeyPatch) -> None:
    require("mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz")
    monkeypatch.setenv("OPTPRIOR_DATA", str(shared))
    images, labels = load("mnist", "test")
    assert images.shape == (10000, 28, 28) and np.bincount(labels).tolist() == MNIST_TEST_COUNTS
