"""The paper's settings: target sizes, seeding, disjoint splits, metadata."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from optprior.data import SETTINGS, CorruptDatasetError, MultiTaskData, datasets, load_setting
from optprior.data.registry import get_dataset
from optprior.data.transforms import in_centred_box


@pytest.fixture(scope="module")
def usps_mnist(shared: Path) -> dict[str, MultiTaskData]:
    """usps-mnist with seed 0, seed 0 again, and seed 1."""
    for rel in (
        "mnist/train-images-idx3-ubyte.gz",
        "mnist/t10k-images-idx3-ubyte.gz",
        "usps/usps.h5",
    ):
        if not (shared / rel).is_file():
            pytest.skip(f"staged file {shared / rel} is absent")
    return {
        "seed0": load_setting("usps-mnist", 0, shared),
        "seed0 again": load_setting("usps-mnist", 0, shared),
        "seed1": load_setting("usps-mnist", 1, shared),
    }


def _assert_split_shapes(data: MultiTaskData) -> None:
    dim = int(np.prod(data.image_shape))
    for split in (data.train, data.val, data.test):
        assert split.X.dtype == np.float32 and split.X.shape == (len(split), dim)
        assert split.s.dtype == np.int64 and split.y.dtype == np.int64
        assert split.index.dtype == np.int64 and len(split.s) == len(split.y) == len(split)
        assert 0.0 <= split.X.min() and split.X.max() <= 1.0
        assert set(np.unique(split.s)) <= set(range(data.n_tasks))


def _disjoint(data: MultiTaskData, task: int) -> None:
    train, val = data.train.task(task).index, data.val.task(task).index
    assert len(np.unique(train)) == len(train) and not np.intersect1d(train, val).size


def test_usps_mnist(usps_mnist: dict[str, MultiTaskData]) -> None:
    data = usps_mnist["seed0"]
    _assert_split_shapes(data)
    assert data.tasks == ("usps", "mnist") and data.target_task == 1
    assert data.image_shape == (28, 28) and data.likelihood == "bernoulli"
    target = data.train.task(1)
    assert len(target) == 100 and len(data.val.task(1)) == 100
    assert len(data.train.task(0)) + len(data.val.task(0)) == 7291
    assert len(data.val.task(0)) == 729
    assert len(data.test.task(0)) == 2007 and len(data.test.task(1)) == 10000
    _disjoint(data, 0)
    _disjoint(data, 1)
    assert set(np.unique(target.y)) <= set(range(10))


def test_same_seed_same_points(usps_mnist: dict[str, MultiTaskData]) -> None:
    first, again = usps_mnist["seed0"], usps_mnist["seed0 again"]
    for split in ("train", "val", "test"):
        a, b = getattr(first, split), getattr(again, split)
        np.testing.assert_array_equal(a.index, b.index)
        np.testing.assert_array_equal(a.X, b.X)


def test_different_seed_different_points(usps_mnist: dict[str, MultiTaskData]) -> None:
    zero, one = usps_mnist["seed0"], usps_mnist["seed1"]
    assert not np.array_equal(zero.train.task(1).index, one.train.task(1).index)
    assert not np.array_equal(zero.val.task(0).index, one.val.task(0).index)
    np.testing.assert_array_equal(zero.test.X, one.test.X)  # test sets do not move


def test_faces(shared: Path, require) -> None:
    require("frey/frey_rawface.mat", "olivetti/olivettifaces.mat", "umist/UMIST.mat")
    data = load_setting("faces", 3, shared)
    _assert_split_shapes(data)
    assert data.tasks == ("frey", "olivetti", "umist") and data.target_task is None
    assert data.image_shape == (28, 20) and data.likelihood == "gaussian"
    sizes = [
        len(data.train.task(k)) + len(data.val.task(k)) + len(data.test.task(k)) for k in range(3)
    ]
    assert sizes == [1965, 400, 575]
    for k in range(3):
        _disjoint(data, k)
    assert (data.train.task(0).y == -1).all() and (data.train.task(1).y >= 0).all()
    again = load_setting("faces", 3, shared)
    np.testing.assert_array_equal(data.val.index, again.val.index)
    other = load_setting("faces", 4, shared)
    assert not np.array_equal(data.val.index, other.val.index)
    np.testing.assert_array_equal(data.test.index, other.test.index)


def test_faces_record_the_umist_variant_that_decides_the_split(tmp_path: Path, fakes) -> None:
    """The cropped original comes before the 32 x 32 copy when both are present; the files
    read, with their SHA-256, are recorded (runs read from other ones are not paired)."""
    fakes.frey(tmp_path / "frey" / "frey_rawface.mat", n=20)
    fakes.olivetti(tmp_path / "olivetti" / "olivettifaces.mat", subjects=3)
    fakes.umist_32(tmp_path / "umist" / "UMIST.mat", counts=(5, 5))
    small = load_setting("faces", 0, tmp_path, download=False, verify=False)
    assert [(f.dataset, f.variant, f.name) for f in small.files] == [
        ("frey", "mat", "frey_rawface.mat"),
        ("olivetti", "mat", "olivettifaces.mat"),
        ("umist", "32x32", "UMIST.mat"),
    ]
    digest = hashlib.sha256((tmp_path / "umist" / "UMIST.mat").read_bytes()).hexdigest()
    assert small.files[-1].digest == f"sha256 {digest}"
    fakes.umist_cropped(tmp_path / "umist" / "umist_cropped.mat", counts=(5, 5, 5))
    cropped = load_setting("faces", 0, tmp_path, download=False, verify=False)
    assert cropped.files[-1].variant == "cropped" and cropped.files[:2] == small.files[:2]
    assert len(cropped.test.task(2)) != len(small.test.task(2))


def test_two_task_settings_record_each_file_once(usps_mnist: dict[str, MultiTaskData]) -> None:
    """MNIST's files are known by their content (a copy gzipped again holds the same
    pixels in other bytes), USPS's by its bytes' SHA-256, as the registry accepts them."""
    files = usps_mnist["seed0"].files
    for f in files:
        variant = get_dataset(f.dataset).variant(f.variant)
        spec = next(s for s in (*variant.train, *variant.test) if s.name == f.name)
        expected = f"gunzip md5 {spec.content_md5}" if spec.content_md5 else None
        assert f.digest == expected or f.digest == f"sha256 {spec.sha256[0]}"
    assert [f.digest.split()[0] for f in files] == ["sha256"] + ["gunzip"] * 4
    names = [(f.dataset, f.name) for f in files]
    assert sorted(names) == sorted(
        [("usps", "usps.h5")]
        + [
            ("mnist", f"{p}-{k}-idx{d}-ubyte.gz")
            for p in ("train", "t10k")
            for k, d in (("images", 3), ("labels", 1))
        ]
    )


@pytest.fixture
def colour_root(tmp_path: Path, fakes, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Small fake SVHN and syn_number.mat; their checksums are not the official ones."""
    fakes.svhn(tmp_path / "svhn" / "train_32x32.mat", n=250, seed=0)
    fakes.svhn(tmp_path / "svhn" / "test_32x32.mat", n=30, seed=1)
    fakes.syn_number(tmp_path / "synth" / "syn_number.mat", n_train=300, n_test=40)
    monkeypatch.setattr(datasets, "verify_file", lambda path, spec: None)
    return tmp_path


def test_synth_svhn(colour_root: Path) -> None:
    data = load_setting("synth-svhn", 0, colour_root, n_target_val=20, val_fraction=0.2)
    _assert_split_shapes(data)
    assert data.tasks == ("synth", "svhn") and data.image_shape == (32, 32, 3)
    assert data.likelihood == "gaussian" and data.train.X.shape[1] == 3072
    assert len(data.train.task(1)) == 100 and len(data.val.task(1)) == 20
    assert len(data.train.task(0)) == 240 and len(data.val.task(0)) == 60
    assert len(data.test.task(0)) == 40 and len(data.test.task(1)) == 30
    _disjoint(data, 1)


def test_options(colour_root: Path) -> None:
    data = load_setting(
        "svhn-synth",
        1,
        colour_root,
        n_source=50,
        image_size=(16, 16),
        n_target_train=10,
        n_target_val=5,
        val_fraction=0.0,
    )
    assert data.image_shape == (16, 16, 3) and data.train.X.shape[1] == 768
    assert len(data.train.task(0)) == 50 and len(data.val.task(0)) == 0
    assert len(data.train.task(1)) == 10 and len(data.val.task(1)) == 5
    with pytest.raises(ValueError, match="cannot draw"):
        load_setting("svhn-synth", 1, colour_root, n_target_train=300)
    with pytest.raises(
        ValueError,
        match=r"\['n_tagret_train'\] of setting 'svhn-synth' \(did "
        r"you mean 'n_target_train'\?\); it takes image_size, n_target_train",
    ):
        load_setting("svhn-synth", 1, colour_root, n_tagret_train=10)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"image_size": 28}, r"image_size must be \(height, width\), such as \(28, 28\); got 28"),
        ({"image_size": (28,)}, r"image_size must be \(height, width\)"),
        ({"image_size": (0, 28)}, r"each of image_size must be >= 1, got 0"),
        ({"image_size": (16.5, 16)}, r"each of image_size must be a whole number >= 1"),
        ({"n_source": 50.5}, r"n_source must be a whole number >= 1, got 50.5"),
        ({"n_source": True}, r"n_source must be a whole number >= 1, got True"),
        ({"n_target_train": 1.5}, r"n_target_train must be a whole number >= 1"),
        ({"n_target_val": -1}, r"n_target_val must be >= 0, got -1"),
        ({"n_source": 1, "val_fraction": 0.6}, r"leaves none to train on: raise n_source"),
    ],
)
def test_setting_options_are_named(colour_root: Path, options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_setting("svhn-synth", 1, colour_root, **options)


def test_a_negative_seed_is_named(colour_root: Path) -> None:
    with pytest.raises(ValueError, match=r"seed must be >= 0, got -1"):
        load_setting("svhn-synth", -1, colour_root)


def test_unknown_setting_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="usps-mnist.*faces"):
        load_setting("mnist-svhn", 0)
    assert SETTINGS == ("usps-mnist", "mnist-usps", "synth-svhn", "svhn-synth", "faces")


def test_unofficial_copies_need_verify_false(tmp_path: Path, fakes) -> None:
    """Files in the right format but not the official bytes: refused unless verify=False."""
    fakes.svhn(tmp_path / "svhn" / "train_32x32.mat", n=250, seed=0)
    fakes.svhn(tmp_path / "svhn" / "test_32x32.mat", n=30, seed=1)
    fakes.syn_number(tmp_path / "synth" / "syn_number.mat", n_train=300, n_test=40)
    with pytest.raises(CorruptDatasetError, match="checksum"):
        load_setting("svhn-synth", 0, tmp_path, download=False)
    data = load_setting("svhn-synth", 0, tmp_path, download=False, verify=False)
    assert data.tasks == ("svhn", "synth") and len(data.train.task(1)) == 100


def test_a_box_holds_the_resized_image_in_the_middle_of_a_blank_canvas() -> None:
    ones = np.ones((2, 16, 16), dtype=np.float32)
    for box, (top, left) in (((20, 20), (4, 4)), ((28, 28), (0, 0)), ((16, 10), (6, 9))):
        out = in_centred_box(ones, box, (28, 28))
        expected = np.zeros((2, 28, 28), dtype=np.float32)
        expected[:, top : top + box[0], left : left + box[1]] = 1.0
        np.testing.assert_array_equal(out, expected)
    with pytest.raises(ValueError, match="does not fit"):
        in_centred_box(ones, (29, 20), (28, 28))


def test_usps_box_redraws_only_the_usps_digits(
    tmp_path: Path, fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    fakes.mnist(tmp_path / "mnist", n=60, prefix="train")
    fakes.mnist(tmp_path / "mnist", n=8, prefix="t10k")
    fakes.usps_h5(tmp_path / "usps" / "usps.h5", n_train=40, n_test=12)
    monkeypatch.setattr(datasets, "verify_file", lambda path, spec: None)
    options = {"n_target_train": 10, "n_target_val": 5}
    canvas = load_setting("mnist-usps", 2, tmp_path, **options)
    boxed = load_setting("mnist-usps", 2, tmp_path, usps_box=20, **options)
    for split in ("train", "val", "test"):
        full, box = getattr(canvas, split), getattr(boxed, split)
        np.testing.assert_array_equal(full.index, box.index)  # the same points
        np.testing.assert_array_equal(full.task(0).X, box.task(0).X)  # MNIST as it was
        native = datasets.read_native("usps", split if split == "test" else "train", tmp_path)[0]
        expected = in_centred_box(native[box.task(1).index], (20, 20), (28, 28))
        np.testing.assert_allclose(box.task(1).X, expected.reshape(len(expected), -1))
        images = box.task(1).X.reshape(-1, 28, 28)
        assert not images[:, :4].any() and not images[:, :, 24:].any()  # blank outside
    with pytest.raises(ValueError, match="usps_box applies to the settings with USPS"):
        load_setting("svhn-synth", 0, tmp_path, usps_box=20)
    for box, message in ((29, "usps_box 29 does not fit"), (20.5, "whole number"), (0, ">= 1")):
        with pytest.raises(ValueError, match=message):
            load_setting("mnist-usps", 2, tmp_path, usps_box=box, **options)


@pytest.fixture
def faces_root(tmp_path: Path, fakes) -> Path:
    """Small copies of the three face datasets (16, 24 and 8 training images)."""
    fakes.frey(tmp_path / "frey" / "frey_rawface.mat", n=20)
    fakes.olivetti(tmp_path / "olivetti" / "olivettifaces.mat", subjects=3)
    fakes.umist_32(tmp_path / "umist" / "UMIST.mat", counts=(5, 5))
    return tmp_path


def test_faces_image_size_none_is_the_default_size(faces_root: Path) -> None:
    """As for the two-task settings, image_size=None (a config's unset value) is the
    setting's own size, (28, 20)."""
    data = load_setting("faces", 0, faces_root, image_size=None, download=False, verify=False)
    assert data.image_shape == (28, 20) and data.train.X.shape[1] == 28 * 20


def test_faces_val_fraction_that_leaves_a_task_no_training_points_is_refused(
    faces_root: Path,
) -> None:
    with pytest.raises(
        ValueError, match=r"^val_fraction 0.999 of the 16 frey training images leaves none"
    ):
        load_setting("faces", 0, faces_root, val_fraction=0.999, download=False, verify=False)
