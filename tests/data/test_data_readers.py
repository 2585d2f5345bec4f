"""Each reader on small files written in the real format, and its errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import h5py
import numpy as np
import pytest

from optprior.data import CorruptDatasetError, readers


def test_mnist_idx(tmp_path: Path, fakes) -> None:
    images, labels = fakes.mnist(tmp_path, n=7)
    got_images, got_labels = readers.read_mnist(
        tmp_path / "t10k-images-idx3-ubyte.gz", tmp_path / "t10k-labels-idx1-ubyte.gz"
    )
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    assert got_images.dtype == np.uint8 and got_labels.dtype == np.int64


def test_mnist_files_swapped_names_the_file(tmp_path: Path, fakes) -> None:
    fakes.mnist(tmp_path)
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    with pytest.raises(CorruptDatasetError, match="t10k-labels.*2051"):
        readers.read_mnist(labels, tmp_path / "t10k-images-idx3-ubyte.gz")


def test_idx_size_must_match_header(tmp_path: Path) -> None:
    path = tmp_path / "short.gz"
    with gzip.open(path, "wb") as f:  # header says 3x28x28, payload has one image only
        f.write(bytes([0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 28, 0, 0, 0, 28]) + bytes(28 * 28))
    with pytest.raises(CorruptDatasetError, match="short.gz.*IDX size"):
        readers.read_idx(path)


def test_idx_bad_magic(tmp_path: Path, fakes) -> None:
    path = fakes.idx(tmp_path / "x.gz", np.zeros((2, 2), np.uint8), magic=0x12340802)
    with pytest.raises(CorruptDatasetError, match="bad magic"):
        readers.read_idx(path)


def test_truncated_gzip_names_the_file(tmp_path: Path, fakes) -> None:
    fakes.mnist(tmp_path, n=50)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CorruptDatasetError, match="t10k-images-idx3-ubyte.gz"):
        readers.read_idx(path)


def test_usps_h5(tmp_path: Path, fakes) -> None:
    expected = fakes.usps_h5(tmp_path / "usps.h5")
    for split in ("train", "test"):
        images, labels = readers.read_usps_h5(tmp_path / "usps.h5", split)
        np.testing.assert_array_equal(images, expected[split][0])
        np.testing.assert_array_equal(labels, expected[split][1])
        assert images.shape[1:] == (16, 16) and labels.dtype == np.int64


def test_usps_h5_out_of_range(tmp_path: Path) -> None:
    path = tmp_path / "usps.h5"
    with h5py.File(path, "w") as f:
        f["train/data"] = np.full((2, 256), -1.0, np.float32)
        f["train/target"] = np.zeros(2, np.int32)
    with pytest.raises(CorruptDatasetError, match=r"outside \[0, 1\]"):
        readers.read_usps_h5(path, "train")


def test_usps_libsvm(tmp_path: Path, fakes) -> None:
    rng = np.random.default_rng(0)
    values = np.round(rng.uniform(-1, 1, (12, 256)), 6)
    values[:, :5] = 0.0  # omitted from the file, read back as 0 -> 0.5
    values[0, 5], values[1, 6] = -1.0, 1.0
    digits = np.arange(12) % 10
    path = fakes.libsvm(tmp_path / "usps.t.bz2", values, digits + 1)
    images, labels = readers.read_usps_libsvm(path)
    assert images.shape == (12, 16, 16) and images.dtype == np.float32
    np.testing.assert_allclose(images.reshape(12, -1), (values + 1) / 2, atol=1e-6)
    np.testing.assert_array_equal(labels, digits)
    assert images.min() == 0.0 and images.max() == 1.0


def test_usps_libsvm_bad_label(tmp_path: Path, fakes) -> None:
    path = fakes.libsvm(tmp_path / "usps.bz2", np.zeros((1, 256)), np.array([11]))
    with pytest.raises(CorruptDatasetError, match="usps.bz2.*labels outside 1..10"):
        readers.read_usps_libsvm(path)


@pytest.mark.parametrize(
    "line, named",
    [
        ("3.7 1:0.5", "labels must be whole numbers"),
        ("inf 1:0.5", "labels must be whole numbers"),
        ("1e400 1:0.5", "labels must be whole numbers"),
        ("2 1.9:0.5", "line 2: feature indices must be whole numbers"),
        ("2 1e400:0.5", "line 2: feature indices must be whole numbers"),
    ],
)
def test_usps_libsvm_numbers_that_are_not_whole_are_refused_not_truncated(
    tmp_path: Path, line: str, named: str
) -> None:
    import bz2

    path = tmp_path / "usps.bz2"
    with bz2.open(path, "wt") as f:
        f.write(f"2 1:0.1\n{line}\n")
    with pytest.raises(CorruptDatasetError, match=f"usps.bz2.*{named}"):
        readers.read_usps_libsvm(path)


@pytest.mark.parametrize("line", ["1 0:0.5", "1 257:0.5", "1 3:0.5 3:0.25"])
def test_usps_libsvm_feature_indices_are_one_based_and_distinct(tmp_path: Path, line) -> None:
    """A 0-based file would shift every image by a pixel (index 0 writing the last)."""
    import bz2

    path = tmp_path / "usps.bz2"
    with bz2.open(path, "wt") as f:
        f.write(f"2 1:0.1\n{line}\n")
    with pytest.raises(CorruptDatasetError, match="line 2: feature indices must be distinct"):
        readers.read_usps_libsvm(path)


def test_only_svhn_layouts_read_label_10_as_digit_0(tmp_path: Path, fakes) -> None:
    """USPS h5 and MNIST store digits 0..9: labels 1..10 there (digit + 1) are refused,
    not read with 10 as 0 and 1..9 shifted by one."""
    path = tmp_path / "usps.h5"
    with h5py.File(path, "w") as f:
        f["train/data"] = np.zeros((10, 256), np.float32)
        f["train/target"] = np.arange(1, 11, dtype=np.int32)
    with pytest.raises(CorruptDatasetError, match=r"digit labels outside 0..9"):
        readers.read_usps_h5(path, "train")
    fakes.idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.arange(1, 11, dtype=np.uint8))
    fakes.idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((10, 28, 28), np.uint8))
    with pytest.raises(CorruptDatasetError, match=r"labels-idx1-ubyte.gz.*outside 0..9"):
        readers.read_mnist(
            tmp_path / "t10k-images-idx3-ubyte.gz", tmp_path / "t10k-labels-idx1-ubyte.gz"
        )


def test_svhn_mat(tmp_path: Path, fakes) -> None:
    images, digits = fakes.svhn(tmp_path / "test_32x32.mat", n=13)
    got, labels = readers.read_svhn_mat(tmp_path / "test_32x32.mat")
    assert got.shape == (13, 32, 32, 3) and got.dtype == np.uint8
    np.testing.assert_array_equal(got, images)
    np.testing.assert_array_equal(labels, digits)  # 10 means 0
    assert labels.dtype == np.int64


def test_synth_full_layout_is_svhn_layout(tmp_path: Path, fakes) -> None:
    images, digits = fakes.svhn(tmp_path / "synth_test_32x32.mat", n=4, seed=9)
    got, labels = readers.read_svhn_mat(tmp_path / "synth_test_32x32.mat")
    np.testing.assert_array_equal(got, images)
    np.testing.assert_array_equal(labels, digits)


@pytest.mark.parametrize("svhn_layout", [False, True])
def test_syn_number(tmp_path: Path, fakes, svhn_layout: bool) -> None:
    path = tmp_path / "syn_number.mat"
    expected = fakes.syn_number(path, n_train=11, n_test=5, svhn_layout=svhn_layout)
    for split in ("train", "test"):
        images, labels = readers.read_syn_number(path, split)
        assert images.shape[1:] == (32, 32, 3)
        np.testing.assert_array_equal(images, expected[split][0])
        np.testing.assert_array_equal(labels, expected[split][1])


def test_frey(tmp_path: Path, fakes) -> None:
    frames = fakes.frey(tmp_path / "frey_rawface.mat", n=9)
    images, labels = readers.read_frey(tmp_path / "frey_rawface.mat")
    np.testing.assert_array_equal(images, frames)
    np.testing.assert_array_equal(labels, np.full(9, -1))


def test_olivetti(tmp_path: Path, fakes) -> None:
    faces = fakes.olivetti(tmp_path / "olivettifaces.mat", subjects=2)
    images, labels = readers.read_olivetti(tmp_path / "olivettifaces.mat")
    np.testing.assert_array_equal(images, faces)
    np.testing.assert_array_equal(labels, np.repeat([0, 1], 10))


def test_umist_cropped_cell_array(tmp_path: Path, fakes) -> None:
    faces = fakes.umist_cropped(tmp_path / "umist_cropped.mat", counts=(3, 1, 2))
    images, labels = readers.read_umist_cropped(tmp_path / "umist_cropped.mat")
    assert images.shape == (6, 112, 92)
    np.testing.assert_array_equal(images, faces)
    np.testing.assert_array_equal(labels, [0, 0, 0, 1, 2, 2])


def test_umist_32(tmp_path: Path, fakes) -> None:
    faces = fakes.umist_32(tmp_path / "UMIST.mat", counts=(3, 2))
    images, labels = readers.read_umist_32(tmp_path / "UMIST.mat")
    np.testing.assert_array_equal(images, faces)
    np.testing.assert_array_equal(labels, [0, 0, 0, 1, 1])


def test_missing_variable_names_file_and_variable(tmp_path: Path, fakes) -> None:
    path = fakes.mat(tmp_path / "olivettifaces.mat", other=np.zeros(3))
    with pytest.raises(CorruptDatasetError, match=r"olivettifaces.mat.*'faces'"):
        readers.read_olivetti(path)


def test_wrong_shape(tmp_path: Path, fakes) -> None:
    path = fakes.mat(tmp_path / "frey_rawface.mat", ff=np.zeros((100, 3), np.uint8))
    with pytest.raises(CorruptDatasetError, match=r"ff of shape \(100, 3\)"):
        readers.read_frey(path)


def test_garbage_mat_file(tmp_path: Path) -> None:
    path = tmp_path / "test_32x32.mat"
    path.write_bytes(b"not a MATLAB file" * 20)
    with pytest.raises(CorruptDatasetError, match="test_32x32.mat"):
        readers.read_svhn_mat(path)


def test_truncated_mat_file(tmp_path: Path, fakes) -> None:
    fakes.svhn(tmp_path / "train_32x32.mat", n=20)
    path = tmp_path / "train_32x32.mat"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(CorruptDatasetError, match="train_32x32.mat"):
        readers.read_svhn_mat(path)


def test_corrupt_error_is_value_error() -> None:
    assert issubclass(CorruptDatasetError, ValueError)


def test_a_mat_header_too_large_to_allocate_names_the_file(
    tmp_path: Path, fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A corrupt MAT v4 header can announce a matrix of terabytes: scipy's MemoryError is
    a CorruptDatasetError naming the file, as any other parse failure."""
    path = tmp_path / "frey_rawface.mat"
    fakes.frey(path, n=4)

    def too_large(*args: object, **kwargs: object) -> None:
        raise MemoryError("Unable to allocate 1.09 TiB for an array")

    monkeypatch.setattr(readers.scipy.io, "loadmat", too_large)
    with pytest.raises(CorruptDatasetError, match=r"frey_rawface.mat .*MemoryError: Unable"):
        readers.read_frey(path)
