"""The experimental settings of the paper as ready-to-train multi-task arrays.

Two-task digits (``usps-mnist``, ``mnist-usps``, ``synth-svhn``, ``svhn-synth``): task 0 is
the source with its whole training set (less a validation part), task 1 the target with only
``n_target_train`` (100) training points drawn with the seed, plus ``n_target_val`` validation
points drawn from the rest of its training set. The test split holds both official test sets;
scores are reported on the target task (``MultiTaskData.target_task``).

Three-task ``faces``: Frey (0), Olivetti (1), UMist (2) with the fixed test split of
:func:`optprior.data.load` and a seeded validation part of each training set; every task is
scored, so ``target_task`` is None.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from optprior._validation import (
    did_you_mean,
    fraction,
    is_real,
    layer_widths,
    one_of,
    whole_number,
)
from optprior.data.datasets import SourceFile, read_native
from optprior.data.transforms import in_centred_box, resize_images, to_float01

SETTINGS: tuple[str, ...] = ("usps-mnist", "mnist-usps", "synth-svhn", "svhn-synth", "faces")
FACE_TASKS = ("frey", "olivetti", "umist")
_PAIRS = {
    "usps-mnist": ("usps", "mnist"),
    "mnist-usps": ("mnist", "usps"),
    "synth-svhn": ("synth", "svhn"),
    "svhn-synth": ("svhn", "synth"),
}
# Default image size (height, width) of each family of settings.
_DIGIT_SIZE, _COLOUR_SIZE, _FACE_SIZE = (28, 28), (32, 32), (28, 20)

Root = str | os.PathLike[str] | None


@dataclass(frozen=True)
class TaskSplit:
    """One split of a multi-task data set.

    Attributes:
        X: float32 (N, D) flattened images in [0, 1] (row-major over H, W and channel).
        s: int64 (N,) task index of each point.
        y: int64 (N,) class label (digit or face subject), -1 where there is none (Frey).
        index: int64 (N,) position of each point in ``load(tasks[s], "train")`` (train and
            val splits) or ``load(tasks[s], "test")`` (test split); records which points a
            seed drew.
    """

    X: np.ndarray
    s: np.ndarray
    y: np.ndarray
    index: np.ndarray

    def __len__(self) -> int:
        return len(self.X)

    def task(self, k: int) -> TaskSplit:
        """The points of task ``k`` only."""
        mask = self.s == k
        return TaskSplit(self.X[mask], self.s[mask], self.y[mask], self.index[mask])


@dataclass(frozen=True)
class MultiTaskData:
    """A setting: train/val/test splits plus what a model needs to know about them.

    Attributes:
        name: the setting, one of :data:`SETTINGS`, or a user's (``data.user``).
        seed: the seed that drew the training/validation points.
        train, val, test: the splits.
        tasks: dataset name of each task index.
        image_shape: (H, W) for grey or (H, W, 3) for RGB, (D,) for a user's vectors;
            ``X`` rows reshape to it.
        likelihood: decoder family, 'bernoulli' (digits in [0, 1], to be binarised by the
            model) or 'gaussian' (continuous pixels).
        target_task: the task scored in a two-task setting; None when every task is scored.
        files: the dataset files the splits were read from, each once (empty for a user's
            arrays, known by their file's SHA-256 instead).
    """

    name: str
    seed: int
    train: TaskSplit
    val: TaskSplit
    test: TaskSplit
    tasks: tuple[str, ...]
    image_shape: tuple[int, ...]
    likelihood: str
    target_task: int | None
    files: tuple[SourceFile, ...] = ()

    @property
    def n_tasks(self) -> int:
        return len(self.tasks)


def setting_tasks(name: str) -> int | None:
    """The number of tasks of the paper's setting ``name`` (None for any other name)."""
    if name == "faces":
        return len(FACE_TASKS)
    return 2 if name in _PAIRS else None


def setting_options(name: str) -> dict[str, Any]:
    """The keyword options that ``load_setting(name, ...)`` accepts, with their defaults."""
    one_of(name, "setting", SETTINGS)
    function = _faces if name == "faces" else _two_task
    parameters = inspect.signature(function).parameters.values()
    return {p.name: p.default for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}


def load_setting(name: str, seed: int, root: Root = None, **options: Any) -> MultiTaskData:
    """The setting ``name`` with training/validation points drawn with ``seed``.

    Options of the two-task settings: ``image_size`` (default (28, 28) for USPS/MNIST, USPS
    upsampled; (32, 32) for SVHN/Synth), ``n_target_train`` (100), ``n_target_val`` (100),
    ``val_fraction`` of the source training set held out for validation (0.1), ``n_source``
    (use at most this many source training images, drawn with the seed; default all),
    ``usps_box`` (draw each USPS digit resized into a centred square of this side on the
    canvas, as MNIST's digits sit in a 20 x 20 box; default None: it fills the canvas),
    ``download``, ``verify`` (check file checksums; False for copies that differ from the
    official files byte for byte). Options of ``faces``: ``image_size`` ((28, 20), Frey's size),
    ``val_fraction`` of each task's training part (0.1), ``download``, ``verify``.

    Same seed, same points; the test sets do not depend on the seed. An option the
    setting does not take is a ValueError naming the ones it does.
    """
    valid = setting_options(name)  # a ValueError naming the settings for another name
    if unknown := sorted(set(options) - set(valid)):
        raise ValueError(
            f"unknown option(s) {unknown} of setting {name!r}{did_you_mean(unknown, valid)}; "
            f"it takes {', '.join(valid)}"
        )
    seed = whole_number(seed, "seed", 0)
    if options.get("image_size") is not None:
        options["image_size"] = _image_size(options["image_size"])
    if name == "faces":
        return _faces(seed, root, **options)
    return _two_task(name, seed, root, **options)


def _image_size(value: object) -> tuple[int, int]:
    """``image_size`` as (height, width) in whole pixels >= 1 (a config file gives a
    list), or a ``ValueError`` naming it."""
    size = layer_widths(value, "image_size") if not is_real(value) else ()
    if len(size) != 2:
        raise ValueError(f"image_size must be (height, width), such as (28, 28); got {value!r}")
    return cast(tuple[int, int], size)


def _two_task(
    name: str,
    seed: int,
    root: Root,
    *,
    image_size: tuple[int, int] | None = None,
    n_target_train: int = 100,
    n_target_val: int = 100,
    val_fraction: float = 0.1,
    n_source: int | None = None,
    usps_box: int | None = None,
    download: bool | None = None,
    verify: bool = True,
) -> MultiTaskData:
    val_fraction = fraction(val_fraction, "val_fraction")
    n_source = None if n_source is None else whole_number(n_source, "n_source", 1)
    n_target_train = whole_number(n_target_train, "n_target_train", 1)
    n_target_val = whole_number(n_target_val, "n_target_val", 0)
    source, target = _PAIRS[name]
    colour = source in ("svhn", "synth")
    # (height, width); tuple() also takes the list a config file gives
    size = cast(tuple[int, int], tuple(image_size or (_COLOUR_SIZE if colour else _DIGIT_SIZE)))
    if usps_box is not None:
        if "usps" not in (source, target):
            raise ValueError(f"usps_box applies to the settings with USPS, not to {name!r}")
        usps_box = whole_number(usps_box, "usps_box", 1)
        if usps_box > min(size):
            raise ValueError(f"usps_box {usps_box} does not fit the {size} canvas")
    source_rng, target_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2)
    )

    files: list[SourceFile] = []

    def read(task: str, split: str) -> tuple[np.ndarray, np.ndarray]:
        images, labels, read_from = read_native(
            task, split, root, download=download, verify=verify, record=True
        )
        files.extend(read_from)
        if task == "usps" and usps_box is not None:
            images = in_centred_box(to_float01(images), (usps_box, usps_box), size)
        return images, labels

    src_x, src_y = read(source, "train")
    pool = source_rng.permutation(len(src_x))[:n_source]
    n_val = round(val_fraction * len(pool))
    if n_val >= len(pool):
        raise ValueError(
            f"val_fraction {val_fraction} of {len(pool)} {source} training images leaves "
            "none to train on: raise n_source or lower val_fraction"
        )

    tgt_x, tgt_y = read(target, "train")
    if n_target_train + n_target_val > len(tgt_x):
        raise ValueError(
            f"cannot draw {n_target_train} training and {n_target_val} validation "
            f"points from the {len(tgt_x)} {target} training images"
        )
    order = target_rng.permutation(len(tgt_x))
    n_tgt = n_target_train + n_target_val

    return MultiTaskData(
        name=name,
        seed=seed,
        train=_stack(
            [_take(src_x, src_y, pool[n_val:]), _take(tgt_x, tgt_y, order[:n_target_train])], size
        ),
        val=_stack(
            [_take(src_x, src_y, pool[:n_val]), _take(tgt_x, tgt_y, order[n_target_train:n_tgt])],
            size,
        ),
        test=_stack(
            [_whole(*read(d, "test")) for d in (source, target)],
            size,
        ),
        tasks=(source, target),
        image_shape=size + ((3,) if colour else ()),
        likelihood="gaussian" if colour else "bernoulli",
        target_task=1,
        files=tuple(dict.fromkeys(files)),
    )


def _faces(
    seed: int,
    root: Root,
    *,
    image_size: tuple[int, int] | None = _FACE_SIZE,
    val_fraction: float = 0.1,
    download: bool | None = None,
    verify: bool = True,
) -> MultiTaskData:
    val_fraction = fraction(val_fraction, "val_fraction")
    seeds = np.random.SeedSequence(seed).spawn(len(FACE_TASKS))
    train, val, test = [], [], []
    files: list[SourceFile] = []
    for task, task_seed in zip(FACE_TASKS, seeds, strict=True):
        x, y, read_from = read_native(
            task, "train", root, download=download, verify=verify, record=True
        )
        files += read_from  # one file a face dataset, both splits
        order = np.random.default_rng(task_seed).permutation(len(x))
        n_val = round(val_fraction * len(x))
        if n_val >= len(x):
            raise ValueError(
                f"val_fraction {val_fraction} of the {len(x)} {task} training images leaves "
                "none to train on: lower val_fraction"
            )
        train.append(_take(x, y, order[n_val:]))
        val.append(_take(x, y, order[:n_val]))
        test_x, test_y, _ = read_native(task, "test", root, download=download, verify=verify)
        test.append(_whole(test_x, test_y))
    # None: the default size, as for the two-task settings; a config file gives a list
    size = cast(tuple[int, int], tuple(image_size or _FACE_SIZE))
    return MultiTaskData(
        name="faces",
        seed=seed,
        train=_stack(train, size),
        val=_stack(val, size),
        test=_stack(test, size),
        tasks=FACE_TASKS,
        image_shape=size,
        likelihood="gaussian",
        target_task=None,
        files=tuple(files),
    )


_Part = tuple[np.ndarray, np.ndarray, np.ndarray]


def _take(images: np.ndarray, labels: np.ndarray, indices: np.ndarray) -> _Part:
    """(images, labels, indices) of the points ``indices``, in increasing order."""
    indices = np.sort(indices)
    return images[indices], labels[indices], indices


def _whole(images: np.ndarray, labels: np.ndarray) -> _Part:
    return images, labels, np.arange(len(images))


def _stack(parts: list[_Part], size: tuple[int, int]) -> TaskSplit:
    """Concatenate the parts of tasks 0, 1, ... into one flattened split."""
    xs = []
    for images, _, _ in parts:
        resized = resize_images(to_float01(images), size)
        xs.append(resized.reshape(len(resized), int(np.prod(resized.shape[1:]))))
    return TaskSplit(
        X=np.concatenate(xs).astype(np.float32, copy=False),
        s=np.concatenate([np.full(len(x), k, dtype=np.int64) for k, x in enumerate(xs)]),
        y=np.concatenate([labels for _, labels, _ in parts]).astype(np.int64, copy=False),
        index=np.concatenate([index for _, _, index in parts]).astype(np.int64, copy=False),
    )
