"""Input checks that turn bad arrays into errors naming the problem."""

from __future__ import annotations

import difflib
import math
import numbers
import os
import sys
from collections.abc import Collection, Iterable
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, TypeGuard, TypeVar

import numpy as np

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T")


def plain_numbers_(config: DataclassInstance, prefix: str = "") -> None:
    """Turn a dataclass's NumPy scalar fields (``np.int64(3)``) into Python numbers, in place,
    so settings behave alike everywhere (seeding, JSON, checkpoints); ``ValueError``
    naming a field typed ``bool`` (by ``prefix`` + its name: its flat name) that holds
    anything but True or False (``"False"`` would read as true)."""
    for field in fields(config):
        value = getattr(config, field.name)
        if isinstance(value, np.generic):
            value = value.item()
            setattr(config, field.name, value)
        if field.type in ("bool", bool):
            true_or_false(value, f"{prefix}{field.name}")


def true_or_false(value: object, name: str) -> bool:
    """``value`` as a Python bool where it is one (NumPy's included), else a ``ValueError``
    naming ``name`` (``"False"`` and 0 are refused: a string would read as true)."""
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def is_real(value: object) -> TypeGuard[float]:
    """Whether ``value`` is a real number (Python, NumPy, ``Fraction``...) but not a bool.

    Typed as float: the type stubs of ``numbers.Real`` lack most of its operations."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


#: Other libraries' names of settings (scikit-learn's, PyTorch Lightning's), by ours.
OTHER_NAMES = {
    "random_state": "seed",
    "lr": "learning_rate",
    "n_epochs": "epochs",
    "max_epochs": "epochs",
    "n_latent": "latent_dim",
}


def did_you_mean(unknown: Iterable[str], valid: Iterable[str]) -> str:
    """`` (did you mean 'latent_dim'?)`` for the names of ``unknown`` one of ``valid`` is
    close to (a typo's likely fix) or is another library's name for (``OTHER_NAMES``),
    each named when there are several; "" if none is."""
    unknown, valid = list(unknown), list(valid)
    fixes = {
        name: close[0]
        for name in unknown
        if (
            close := [OTHER_NAMES[name]]
            if OTHER_NAMES.get(name) in valid
            else difflib.get_close_matches(name, valid, 1)
        )
    }
    if not fixes:
        return ""
    if len(fixes) == 1 and len(unknown) == 1:
        return f" (did you mean {next(iter(fixes.values()))!r}?)"
    return " (did you mean " + ", ".join(f"{v!r} for {k!r}" for k, v in fixes.items()) + "?)"


def one_of(value: object, name: str, choices: Collection[str]) -> None:
    """A ``ValueError`` naming ``name`` and the ``choices`` (a tuple, or a dict's keys)
    unless ``value`` is one."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")


def whole_number(value: object, name: str, minimum: int) -> int:
    """``value`` as an int >= ``minimum`` (3.0 and ``np.int64(3)`` are taken as 3), or a
    ``ValueError`` naming it."""
    if not (is_real(value) and math.isfinite(value) and value == int(value)):
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


def fraction(value: object, name: str, zero_allowed: bool = True) -> float:
    """``value`` as a float in [0, 1) (``zero_allowed``) or (0, 1), or a ``ValueError``
    naming it."""
    low = "[0" if zero_allowed else "(0"
    if not is_real(value):
        raise ValueError(f"{name} must be a number in {low}, 1), got {value!r}")
    if not (0.0 <= value < 1.0 if zero_allowed else 0.0 < value < 1.0):
        raise ValueError(f"{name} must lie in {low}, 1), got {value}")
    return float(value)


def as_given(normalised: T, given: object) -> T:
    """``given`` itself where it equals its ``normalised`` form in value and type, else
    ``normalised``: a setting passed in its normal form keeps its identity (scikit-learn's
    ``clone`` checks that an estimator stores the very objects it was given)."""
    return given if _identical(given, normalised) else normalised  # type: ignore[return-value]


def _identical(a: object, b: object) -> bool:
    """Equal in value and in type, item by item for tuples."""
    if type(a) is not type(b):
        return False
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_identical(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def layer_widths(values: object, name: str) -> tuple[int, ...]:
    """A sequence of layer widths as a tuple of ints >= 1, or a ``ValueError`` naming it."""
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ValueError(
            f"{name} must be a sequence of layer widths such as (500, 500), got {values!r}"
        )
    return tuple(whole_number(width, f"each of {name}", 1) for width in values)


def output_file(path: str, name: str = "--out") -> Path:
    """``path`` as the file a command will write, checked before any work: not a folder,
    a file name given, no file where a folder above it goes (missing folders are made
    when it is written, as ``save`` makes them). ValueError naming ``name`` otherwise."""
    given = Path(path)
    if given.is_dir() or path.endswith(("/", os.sep)):
        raise ValueError(f"{name} {path} is a folder: give the file to write, e.g. {name} model.pt")
    if given.name in ("", ".", ".."):
        raise ValueError(f"{name} {path!r} names no file: give the file to write")
    folder = given.resolve().parent
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        raise ValueError(f"{name} {path}: {existing} is a file, not a folder")
    return given


#: How far outside [0, 1] Bernoulli data may stray by rounding (a few float32 ulps at 1);
#: such values are clipped into [0, 1].
BERNOULLI_SLACK = 1e-6


def check_data(
    x: object, name: str = "X", bernoulli: bool = False, fitted: bool = False
) -> np.ndarray:
    """Return ``x`` as a float32 (N, D) array, or raise ``ValueError`` saying what is wrong
    (Bernoulli data within ``BERNOULLI_SLACK`` of [0, 1] are clipped into it; ``fitted``:
    the data of a fitted model, whose likelihood is no longer a choice)."""
    if hasattr(x, "toarray") and hasattr(x, "nnz"):  # a SciPy sparse matrix
        raise ValueError(f"{name} is a sparse matrix: pass a dense array ({name}.toarray())")
    try:
        array = np.asarray(_detached(x))
        # float32 would drop imaginary parts with a warning, and take dates as numbers
        if array.dtype.kind not in "cmM":
            array = np.asarray(array, dtype=np.float32)
    except (TypeError, ValueError) as error:
        hint = "; fill or drop its missing values (pd.NA) first" if "NAType" in str(error) else ""
        raise ValueError(f"{name} must be a numeric array: {error}{hint}") from None
    if array.dtype.kind in "mM":
        raise ValueError(
            f"{name} must be a numeric array, got dtype {array.dtype} (dates or durations): "
            "convert them to numbers first"
        )
    if array.dtype.kind == "c":
        raise ValueError(
            f"Complex data not supported: {name} holds complex numbers; pass real values "
            "(np.abs, .real)"
        )
    if array.ndim != 2:
        fix = (
            f"; flatten images with {name}.reshape(len({name}), -1)"
            if array.ndim > 2
            else f". Reshape your data: {name}.reshape(1, -1) for one point, "
            f"{name}.reshape(-1, 1) for one feature"
            if array.ndim == 1
            else ""
        )
        raise ValueError(f"{name} must be 2-D (n_points, n_features), got shape {array.shape}{fix}")
    for axis, what in ((0, "sample"), (1, "feature")):  # scikit-learn's words
        if array.shape[axis] == 0:
            raise ValueError(
                f"{name} has 0 {what}(s) (shape={array.shape}) while a minimum of 1 is required."
            )
    finite = np.isfinite(array)
    if not finite.all():
        row = int(np.argwhere(~finite)[0, 0])
        raise ValueError(f"{name} contains NaN or infinite values (first in row {row})")
    if bernoulli and -BERNOULLI_SLACK <= array.min() and array.max() <= 1.0 + BERNOULLI_SLACK:
        array = np.clip(array, 0.0, 1.0)  # rounding of a rescaling (MinMaxScaler in float32)
    if bernoulli and (array.min() < 0.0 or array.max() > 1.0):
        fix = (
            "scale it as the model's training data were, and clip what lies beyond their "
            "range (np.clip(X, 0, 1); MinMaxScaler(clip=True) in a Pipeline)"
            if fitted
            else "scale it into [0, 1] (e.g. X / 255) or use the Gaussian likelihood "
            "(likelihood='gaussian', --likelihood gaussian)"
        )
        raise ValueError(
            f"{name} must lie in [0, 1] for the Bernoulli likelihood"
            f"{' this model was trained with' if fitted else ''}, got values in "
            f"[{array.min():.8g}, {array.max():.8g}]: {fix}"
        )
    return np.require(array, requirements="W")  # read-only views (pandas) are copied


def _detached(x: object) -> object:
    """A torch tensor that requires grad without its graph (``np.asarray`` refuses it);
    anything else as it is."""
    if getattr(x, "requires_grad", False) and callable(getattr(x, "detach", None)):
        return x.detach()  # type: ignore[attr-defined]
    return x


def point_weights(weights: object, n_points: int, name: str = "sample_weight") -> np.ndarray:
    """``weights`` as float64 (N,): one finite, non-negative weight a point of the
    ``n_points`` (a scalar is every point's), not all zero; ``ValueError`` naming the
    problem otherwise."""
    array = np.asarray(weights, dtype=np.float64)
    if array.ndim == 0:
        array = np.full(n_points, float(array))
    if array.shape != (n_points,):
        raise ValueError(f"{name} has shape {array.shape}: one weight a point, ({n_points},)")
    if not np.isfinite(array).all() or (array < 0).any() or not array.any():
        raise ValueError(f"{name} must be finite, non-negative and not all zero")
    return array


def non_whole(values: np.ndarray) -> np.ndarray:
    """The entries of numeric ``values`` that are not whole numbers (NaN, inf, 3.7), as a
    boolean mask."""
    return ~np.isfinite(values) | (values != np.round(values))


def check_tasks(
    s: object,
    n_points: int,
    known_tasks: Iterable[int] | None = None,
    name: str = "s",
    data_name: str = "X",
    missing_hint: str = "",
) -> np.ndarray:
    """Return ``s`` as int64 (N,), checking its length against ``data_name``'s
    ``n_points`` and (if given) that every task is known; one task index (a scalar) is
    every point's. ``missing_hint`` ends the message where ``s`` is None."""
    if s is None:
        raise ValueError(
            f"{name} (the task index of each point) is required for this model{missing_hint}"
        )
    array = np.asarray(_detached(s))
    if array.dtype.kind in "mMc":  # would be cast to int64 (durations overflow, i dropped)
        raise ValueError(f"{name} must hold integer task indices 0..K-1, got dtype {array.dtype}")
    if array.ndim == 0:
        array = np.full(n_points, array)
    if array.dtype.kind == "b":  # two tasks marked by a condition: False 0, True 1
        array = array.astype(np.int64)
    if array.dtype.kind in "USO":
        labels = array.dtype.kind != "O" or any(isinstance(v, str) for v in array.ravel())
        if not labels:
            try:
                array = array.astype(np.float64)  # e.g. Python ints, pandas' nullable integers
            except (TypeError, ValueError):
                labels = True
        if labels:
            raise ValueError(
                f"{name} must hold integer task indices 0..K-1, got values such as "
                f"{array.ravel()[:3].tolist()}; map labels to indices with "
                f"np.unique({name}, return_inverse=True)[1]"
            )
    if array.dtype.kind == "f" and np.isnan(array).any():
        row = int(np.flatnonzero(np.isnan(array.ravel()))[0])
        raise ValueError(f"{name} has missing task indices (first in row {row})")
    if array.ndim != 1:
        fix = ""
        if array.ndim == 2 and array.shape[1] == 1:
            fix = f": pass {name}.ravel()"
        elif array.ndim == 2 and array.shape[0] == n_points:
            fix = f"; for one-hot rows pass {name}.argmax(1)"
        raise ValueError(f"{name} must be 1-D (n_points,), got shape {array.shape}{fix}")
    if array.shape[0] != n_points:
        raise ValueError(f"{data_name} has {n_points} points but {name} has {array.shape[0]}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        bad = non_whole(array)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{name} must hold integer task indices, got {array[row].item()!r} in row {row}"
            )
    if array.size and array.max() >= 2**63:  # would wrap round to a negative int64
        row = int(np.argmax(array))
        raise ValueError(
            f"{name} holds task index {array[row].item()!r} in row {row}: number the "
            f"tasks 0..K-1, e.g. with np.unique({name}, return_inverse=True)[1]"
        )
    array = array.astype(np.int64)
    if array.size and array.min() < 0:
        raise ValueError(f"{name} holds negative task index {int(array.min())}")
    if known_tasks is not None:
        known = set(int(k) for k in known_tasks)
        unknown = sorted(set(np.unique(array).tolist()) - known)
        if unknown:
            raise ValueError(
                f"{name} holds task indices {unknown} that were not seen in training "
                f"(known tasks: {sorted(known)})"
            )
    return array


#: Packages whose frames a warning skips to name the user's line (``user_stacklevel``):
#: optprior's own, scikit-learn's, through which a Pipeline or a search calls it, and
#: torch's (its ``no_grad`` decorator wraps some of optprior's functions).
_LIBRARY_FRAMES = ("optprior", "sklearn", "torch")


def user_stacklevel() -> int:
    """The ``stacklevel`` at which a warning raised by the caller of this function names
    the first frame outside optprior, scikit-learn and torch: the user's line, however
    deep the call (a model in a Pipeline included)."""

    def in_library(name: str) -> bool:
        return any(name == root or name.startswith(f"{root}.") for root in _LIBRARY_FRAMES)

    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and in_library(frame.f_globals.get("__name__", "")):
        frame, level = frame.f_back, level + 1
    return level
