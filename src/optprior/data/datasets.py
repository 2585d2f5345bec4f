"""``load``: one split of one dataset as arrays, from files under the data root.

Datasets: mnist, usps, svhn, synth (digits, official train/test splits) and frey, olivetti,
umist (faces, no official split: a fixed seeded split, see :data:`FACE_SPLIT_SEED`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from optprior._validation import one_of, true_or_false
from optprior.data import readers
from optprior.data.download import ENV_ROOT, data_root, download_file, downloads_allowed
from optprior.data.errors import CorruptDatasetError, DatasetNotFoundError
from optprior.data.integrity import content_digest, verify_file
from optprior.data.registry import DATASETS, SPLITS, DatasetSpec, Variant, get_dataset
from optprior.data.transforms import to_float01

DATASET_NAMES: tuple[str, ...] = tuple(DATASETS)
FACE_SPLIT_SEED = 0
FACE_TEST_FRACTION = 0.2

Reader = Callable[[Sequence[Path], str], readers.Arrays]
_READERS: dict[tuple[str, str], Reader] = {
    ("mnist", "idx"): lambda paths, split: readers.read_mnist(*paths),
    ("usps", "h5"): lambda paths, split: readers.read_usps_h5(paths[0], split),
    ("usps", "libsvm"): lambda paths, split: readers.read_usps_libsvm(paths[0]),
    ("svhn", "mat"): lambda paths, split: readers.read_svhn_mat(paths[0]),
    ("synth", "mat"): lambda paths, split: readers.read_svhn_mat(paths[0]),
    ("synth", "syn_number"): lambda paths, split: readers.read_syn_number(paths[0], split),
    ("frey", "mat"): lambda paths, split: readers.read_frey(paths[0]),
    ("olivetti", "mat"): lambda paths, split: readers.read_olivetti(paths[0]),
    ("umist", "cropped"): lambda paths, split: readers.read_umist_cropped(paths[0]),
    ("umist", "32x32"): lambda paths, split: readers.read_umist_32(paths[0]),
}


def load(
    name: str,
    split: str,
    root: str | os.PathLike[str] | None = None,
    *,
    variant: str | None = None,
    download: bool | None = None,
    verify: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of ``split`` ('train' or 'test') of dataset ``name``.

    Args:
        name: one of :data:`DATASET_NAMES`.
        split: 'train' or 'test'. For the faces (no official split) a fixed random
            ``FACE_TEST_FRACTION`` of the images, drawn with ``FACE_SPLIT_SEED``, is 'test'.
        root: data root holding ``<name>/<file>``; default $OPTPRIOR_DATA, else the user cache.
        variant: force one distribution of the dataset (e.g. 'libsvm' for usps, '32x32' for
            umist); default: the first (in registry order) whose files of both splits are
            present, else the first with the split's, else the first that can be downloaded
            (``_resolve``).
        download: fetch missing files; default True unless $OPTPRIOR_NO_DOWNLOAD=1.
        verify: check file checksums (once per file and process).

    Returns:
        images: float32 in [0, 1], (N, H, W) for grey or (N, H, W, 3) for RGB images.
        labels: int64 (N,): digits 0..9, face subjects 0..K-1, or -1 for Frey (no labels).

    Raises:
        DatasetNotFoundError: a file is missing and cannot be downloaded.
        CorruptDatasetError: a file fails its checksum or cannot be parsed.
    """
    images, labels, _ = read_native(
        name, split, root, variant=variant, download=download, verify=verify
    )
    return to_float01(images), labels


@dataclass(frozen=True)
class SourceFile:
    """A file a split was read from: the dataset, its variant (which decides the faces' test
    split), the file's name and what its content is known by
    (``integrity.content_digest``: ``"sha256 <hex>"``, or ``"gunzip md5 <hex>"``)."""

    dataset: str
    variant: str
    name: str
    digest: str


def read_native(
    name: str,
    split: str,
    root: str | os.PathLike[str] | None = None,
    *,
    variant: str | None = None,
    download: bool | None = None,
    verify: bool = True,
    record: bool = False,
) -> tuple[np.ndarray, np.ndarray, tuple[SourceFile, ...]]:
    """As :func:`load`, but images keep their stored type (uint8 0..255 or float32 in
    [0, 1]; a caller may subsample a large dataset before converting it to float32), with,
    where ``record``, the files read (each hashed once per process, also with
    ``verify=False``; else none)."""
    spec = get_dataset(name)
    one_of(split, "split", SPLITS)
    if download is not None:
        download = downloads_allowed(download)  # a bool, or a ValueError naming it
    verify = true_or_false(verify, "verify")
    directory = data_root(root) / name
    chosen = _resolve(spec, split, directory, variant, download, root_given=root is not None)
    paths = [directory / f.name for f in chosen.files(split)]
    if verify:
        for path, file in zip(paths, chosen.files(split), strict=True):
            verify_file(path, file)
    try:
        images, labels = _READERS[name, chosen.name](paths, split)
    except CorruptDatasetError as error:  # unparsable: name its checksum and address
        read = zip(paths, chosen.files(split), strict=True)
        spec_of = next((f for path, f in read if path == error.path), None)
        if spec_of is None or error.expected or error.source:
            raise
        raise CorruptDatasetError(
            error.path, error.reason, spec_of.expected, spec_of.source
        ) from None
    if not spec.official_split:
        keep = face_split_indices(len(images), split)
        images, labels = images[keep], labels[keep]
    files = tuple(
        SourceFile(name, chosen.name, f.name, content_digest(path, f))
        for path, f in zip(paths, chosen.files(split), strict=True)
        if record
    )
    return images, labels, files


def face_split_indices(n: int, split: str) -> np.ndarray:
    """Sorted indices of ``split`` among ``n`` images of a dataset without an official split."""
    order = np.random.default_rng(FACE_SPLIT_SEED).permutation(n)
    n_test = round(FACE_TEST_FRACTION * n)
    return np.sort(order[:n_test] if split == "test" else order[n_test:])


def _present(directory: Path, variant: Variant, splits: Sequence[str]) -> bool:
    """Whether every file of ``variant`` for ``splits`` is in ``directory``."""
    return all((directory / f.name).is_file() for split in splits for f in variant.files(split))


def _begun(directory: Path, variant: Variant) -> bool:
    """Whether any file of ``variant`` is in ``directory``."""
    return any((directory / f.name).is_file() for s in SPLITS for f in variant.files(s))


def _resolve(
    spec: DatasetSpec,
    split: str,
    directory: Path,
    variant: str | None,
    download: bool | None,
    root_given: bool = False,
) -> Variant:
    """The variant to read ``split`` from: the first whose files of both splits are
    present, else the first with those of ``split``, else the first downloaded
    successfully, a variant begun first. So a dataset's training and test points come
    from one variant, not (say) SynNumbers' training images beside the Digit-Five
    subset's test images where one file of a variant is missing."""
    candidates = (spec.variant(variant),) if variant else spec.variants
    for splits in (SPLITS, (split,)):
        for candidate in candidates:
            if _present(directory, candidate, splits):
                return candidate
    failures = []
    if downloads_allowed(download):
        for candidate in sorted(candidates, key=lambda c: not _begun(directory, c)):
            files = candidate.files(split)
            if not all(f.urls for f in files):
                continue
            try:
                for f in files:
                    if not (directory / f.name).is_file():
                        download_file(f, directory / f.name)
                return candidate
            except OSError as exc:
                if _present(directory, candidate, (split,)):  # another process's download
                    return candidate
                failures.append(str(exc))
    raise DatasetNotFoundError(
        _not_found_message(spec, split, candidates, directory, download, failures, root_given)
    )


def _not_found_message(
    spec: DatasetSpec,
    split: str,
    candidates: Sequence[Variant],
    directory: Path,
    download: bool | None,
    failures: list[str],
    root_given: bool = False,
) -> str:
    lines = [f"dataset {spec.name!r} (split {split!r}) is missing. Put these files in place:"]
    for i, candidate in enumerate(candidates):
        if i:
            lines.append(f"or, for the {candidate.name!r} variant:")
        lines += [
            f"  {directory / f.name}  (get it from {f.source})"
            for f in candidate.files(split)
            if not (directory / f.name).is_file()
        ]
    if not downloads_allowed(download):
        lines.append("Automatic download is off (download=False or OPTPRIOR_NO_DOWNLOAD=1).")
    elif failures:
        lines += failures
    else:
        lines.append("These files have no direct download address; get them by hand.")
    given = root_given or bool(os.environ.get(ENV_ROOT))
    absent = (
        ", a folder that does not exist (a typo?)"
        if given and not directory.parent.is_dir()
        else ""
    )
    lines.append(
        f"Data root: --data-root (root= in Python), else ${ENV_ROOT}, else the user cache "
        f"($XDG_CACHE_HOME/optprior or ~/.cache/optprior); here {directory.parent}{absent}."
    )
    return "\n".join(lines)
