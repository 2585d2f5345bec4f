"""Settings as flat names (nested settings dataclasses to and from ``{name: value}``) and
comparing settings recorded by an earlier run or checkpoint with the current ones."""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

D = TypeVar("D", bound="DataclassInstance")


def in_current_terms(
    stored: dict[str, Any], current: dict[str, Any], defaults: dict[str, Any]
) -> dict[str, Any]:
    """``stored`` settings as the current code reads them: a field added since they were
    recorded (in ``current`` and ``defaults`` but not in ``stored``) takes its default,
    which is how the code behaved before the field existed; a field removed since (not in
    ``defaults``) is dropped, since no code reads it."""
    filled = {key: value for key, value in stored.items() if key in defaults}
    for key in current.keys() - stored.keys():
        if key in defaults:
            filled[key] = defaults[key]
    return filled


def differences(stored: Any, current: Any, path: str = "") -> list[str]:
    """Where two nested dicts of settings differ, as ``"section.key: stored -> current"``
    lines (an empty list when they are equal)."""
    if isinstance(stored, dict) and isinstance(current, dict):
        found = []
        for key in sorted(stored.keys() | current.keys(), key=str):
            name = f"{path}.{key}" if path else str(key)
            if key not in stored:
                found.append(f"{name}: absent -> {current[key]!r}")
            elif key not in current:
                found.append(f"{name}: {stored[key]!r} -> absent")
            else:
                found += differences(stored[key], current[key], name)
        return found
    return [] if stored == current else [f"{path or 'value'}: {stored!r} -> {current!r}"]


# -------------------------------------------------------------- flat names of settings
# A settings dataclass may nest others: such a field carries ``metadata={"prefix": p}``
# and its own fields are named ``p + name`` in the flat form that users pass as keywords
# and that config files, records and model files hold. A field's ``"section"`` metadata
# (``"model"`` or ``"training"``; set on a nested field, it covers all its fields) says
# which table of a config file it belongs in.


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """The resolved field types of dataclass ``cls`` (resolving them is slow)."""
    return typing.get_type_hints(cls)


def _leaves(cls: type, prefix: str, section: str) -> Iterator[tuple[str, tuple[str, ...], str]]:
    """(flat name, attribute path, section) of every leaf setting of dataclass ``cls``."""
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        where = f.metadata.get("section", section)
        kind = hints[f.name]
        if "prefix" in f.metadata:
            for name, path, leaf_section in _leaves(kind, prefix + f.metadata["prefix"], where):
                yield name, (f.name, *path), leaf_section
        else:
            yield prefix + f.name, (f.name,), where


@functools.cache
def _leaf_table(cls: type, section: str) -> tuple[tuple[str, tuple[str, ...], str], ...]:
    """``_leaves`` of ``cls``, computed once per class (type hints are slow to resolve)."""
    return tuple(_leaves(cls, "", section))


def flat_names(cls: type, section: str = "model") -> dict[str, str]:
    """The flat name of every setting of dataclass ``cls`` -> its section (``section``
    where no field metadata says otherwise), in field order."""
    return {name: where for name, _, where in _leaf_table(cls, section)}


def flatten(config: Any) -> dict[str, Any]:
    """A settings dataclass instance as ``{flat name: value}``."""
    flat = {}
    kind: type = type(config)
    for name, path, _ in _leaf_table(kind, ""):
        value = config
        for attribute in path:
            value = getattr(value, attribute)
        flat[name] = value
    return flat


def unflatten(cls: type[D], values: dict[str, Any]) -> D:
    """An instance of dataclass ``cls`` from flat settings ``values`` (those absent take
    their defaults); ``KeyError`` names any that ``cls`` has not."""
    unknown = sorted(set(values) - set(flat_names(cls)))
    if unknown:
        raise KeyError(unknown)
    hints = _hints(cls)
    given: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if "prefix" in f.metadata:
            p, names = f.metadata["prefix"], flat_names(hints[f.name])
            inner = {k[len(p) :]: v for k, v in values.items() if k.startswith(p)}
            inner = {k: v for k, v in inner.items() if k in names}
            given[f.name] = unflatten(hints[f.name], inner)
        elif f.name in values:
            given[f.name] = values[f.name]
    return cls(**given)


def flat_defaults(cls: type) -> dict[str, Any]:
    """The default of every setting of dataclass ``cls`` by flat name."""
    return flatten(cls())
