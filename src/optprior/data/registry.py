"""Registry of the dataset files: names, checksums and where to get them.

Files live under ``<root>/<dataset>/<file name>``. Checksums are those of the official files,
listed in ``shared/data/README.md``; a file passes if any listed digest matches.
"""

from __future__ import annotations

from dataclasses import dataclass

from optprior._validation import one_of

SPLITS = ("train", "test")

_ROWEIS = "https://cs.nyu.edu/~roweis/data/"
_MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
_LIBSVM = "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/"
_SVHN = "http://ufldl.stanford.edu/housenumbers/"


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset.

    Attributes:
        name: file name under ``<root>/<dataset>/``.
        md5, sha256: accepted digests of the file's bytes (empty: none known).
        content_md5: md5 of the decompressed content of a ``.gz`` file; accepts a file that was
            re-compressed (e.g. the staged MNIST training images), whose ``.gz`` bytes differ.
        urls: direct download addresses, tried in order (empty: manual download only).
        page: where to get the file by hand.
    """

    name: str
    md5: tuple[str, ...] = ()
    sha256: tuple[str, ...] = ()
    content_md5: str | None = None
    urls: tuple[str, ...] = ()
    page: str | None = None

    @property
    def expected(self) -> str | None:
        """Human-readable list of the accepted checksums, or ``None`` if none is known."""
        parts = [f"md5 {d}" for d in self.md5] + [f"sha256 {d}" for d in self.sha256]
        if self.content_md5:
            parts.append(f"md5 {self.content_md5} after gunzip")
        return " or ".join(parts) or None

    @property
    def source(self) -> str:
        """Where to get the file, for error messages."""
        return " or ".join(self.urls) or self.page or "(unknown source)"


@dataclass(frozen=True)
class Variant:
    """One way a dataset is distributed: the files needed for each split."""

    name: str
    train: tuple[FileSpec, ...]
    test: tuple[FileSpec, ...]

    def files(self, split: str) -> tuple[FileSpec, ...]:
        """Files needed to read ``split`` ('train' or 'test')."""
        return self.train if split == "train" else self.test


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: its variants in order of preference and whether it has an official split.

    Datasets without an official split (the faces) use one file for both splits; the split is
    drawn by :func:`optprior.data.load` with a fixed seed.
    """

    name: str
    variants: tuple[Variant, ...]
    official_split: bool = True

    def variant(self, name: str) -> Variant:
        """The variant called ``name``; ValueError listing the valid ones otherwise."""
        for v in self.variants:
            if v.name == name:
                return v
        valid = ", ".join(v.name for v in self.variants)
        raise ValueError(f"unknown variant {name!r} of {self.name!r}; valid: {valid}")


def _mnist(name: str, md5: tuple[str, ...], content_md5: str) -> FileSpec:
    return FileSpec(
        name,
        md5=md5,
        content_md5=content_md5,
        urls=tuple(m + name for m in _MNIST_MIRRORS),
        page=_MNIST_MIRRORS[1],
    )


_MNIST_TRAIN = (
    # The staged training images were re-gzipped (md5 c7dfcf...); their content is official.
    _mnist(
        "train-images-idx3-ubyte.gz",
        ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "c7dfcf1bfd3481a40f7b3aedbdbd083c"),
        "6bbc9ace898e44ae57da46a324031adb",
    ),
    _mnist(
        "train-labels-idx1-ubyte.gz",
        ("d53e105ee54ea40749a09fcbcd1e9432",),
        "a25bea736e30d166cdddb491f175f624",
    ),
)
_MNIST_TEST = (
    _mnist(
        "t10k-images-idx3-ubyte.gz",
        ("9fb629c4189551a2d022fa330f9573f3",),
        "2646ac647ad5339dbf082846283269ea",
    ),
    _mnist(
        "t10k-labels-idx1-ubyte.gz",
        ("ec29112dd5afa0611ce80d1b7f02629c",),
        "27ae3e4e09519cfbb04c329615203637",
    ),
)

_USPS_H5 = FileSpec(
    "usps.h5",
    md5=("355df6b942eb766252e0340bc019b0b9",),
    sha256=("734f88c541104a956d88be2c95d03b4a463ffd74ccc2ba9c80841fb98e3fcb36",),
    page="https://www.kaggle.com/datasets/bistaumanga/usps-dataset",
)
_USPS_LIBSVM_TRAIN = FileSpec(
    "usps.bz2", md5=("ec16c51db3855ca6c91edd34d0e9b197",), urls=(_LIBSVM + "usps.bz2",)
)
_USPS_LIBSVM_TEST = FileSpec(
    "usps.t.bz2",
    md5=("8ea070ee2aca1ac39742fdd1ef5ed118",),
    sha256=("a9c0164e797d60142a50604917f0baa604f326e9a689698763793fa5d12ffc4e",),
    urls=(_LIBSVM + "usps.t.bz2",),
)

_SYNTH_PAGE = (
    "http://yaroslav.ganin.net/ (SynNumbers); a copy is in the git-LFS repository "
    "https://github.com/domainadaptation/datasets (synth/)"
)
_SYN_NUMBER = FileSpec(
    "syn_number.mat",
    md5=("643f1d62c61aee7d33e796f9a84e0000",),
    page="Digit-Five of M3SDA, http://ai.bu.edu/M3SDA/",
)

_FREY = FileSpec(
    "frey_rawface.mat",
    md5=("5aeb024d42b8a6091f30e5eb18c8a48d",),
    sha256=("265a83a23adb081755cd3de375509828e690324d1d60f076b8ecebc840d59c64",),
    urls=(_ROWEIS + "frey_rawface.mat",),
)
_OLIVETTI = FileSpec(
    "olivettifaces.mat",
    md5=("7be4afc20ba95152afb4c6b4b5d45c5b",),
    sha256=("b1988d02c72fe5b8ee82b5ef3bb7982eafc74f1e1ff0ae0ade35061ad0af534d",),
    urls=(_ROWEIS + "olivettifaces.mat",),
)
# No published checksum for the original; it is checked by parsing only.
_UMIST_CROPPED = FileSpec("umist_cropped.mat", urls=(_ROWEIS + "umist_cropped.mat",))
_UMIST_32 = FileSpec(
    "UMIST.mat",
    md5=("2371b02ac45ef714b394bcec1124d3cd",),
    sha256=("247ce22f5aa04ea95e584756e9255f29b340ed43352b67a92daac724a2144b09",),
    urls=(
        "https://raw.githubusercontent.com/hyzhang98/AdaGAE/"
        "38965140728fc081010291b20f4b28d90b3e0451/data/UMIST.mat",
    ),
)


def _single(name: str, spec: FileSpec) -> Variant:
    return Variant(name, train=(spec,), test=(spec,))


DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec("mnist", (Variant("idx", _MNIST_TRAIN, _MNIST_TEST),)),
    "usps": DatasetSpec(
        "usps",
        (
            _single("h5", _USPS_H5),
            Variant("libsvm", (_USPS_LIBSVM_TRAIN,), (_USPS_LIBSVM_TEST,)),
        ),
    ),
    "svhn": DatasetSpec(
        "svhn",
        (
            Variant(
                "mat",
                (
                    FileSpec(
                        "train_32x32.mat",
                        md5=("e26dedcc434d2e4c54c9b2d4a06d8373",),
                        urls=(_SVHN + "train_32x32.mat",),
                    ),
                ),
                (
                    FileSpec(
                        "test_32x32.mat",
                        md5=("eb5a983be6a315427106f1b164d9cef3",),
                        urls=(_SVHN + "test_32x32.mat",),
                    ),
                ),
            ),
        ),
    ),
    "synth": DatasetSpec(
        "synth",
        (
            Variant(
                "mat",
                (
                    FileSpec(
                        "synth_train_32x32.mat",
                        page=_SYNTH_PAGE,
                        sha256=(
                            "e0e0924ecd0c0b5a55ed6485aaa7d39937af982397717b89a3d91777aca9433c",
                        ),
                    ),
                ),
                (
                    FileSpec(
                        "synth_test_32x32.mat",
                        page=_SYNTH_PAGE,
                        sha256=(
                            "6285fe9a1c6f27b379a47263907a37899b59ce86948fd343a5b904435cde5bcc",
                        ),
                    ),
                ),
            ),
            _single("syn_number", _SYN_NUMBER),
        ),
    ),
    "frey": DatasetSpec("frey", (_single("mat", _FREY),), official_split=False),
    "olivetti": DatasetSpec("olivetti", (_single("mat", _OLIVETTI),), official_split=False),
    "umist": DatasetSpec(
        "umist",
        (
            _single("cropped", _UMIST_CROPPED),
            _single("32x32", _UMIST_32),
        ),
        official_split=False,
    ),
}


def get_dataset(name: str) -> DatasetSpec:
    """The registry entry of ``name``; ValueError listing the valid names otherwise."""
    one_of(name, "dataset", DATASETS)
    return DATASETS[name]
