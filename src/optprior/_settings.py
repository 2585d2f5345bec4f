"""Comparing settings recorded by an earlier run or checkpoint with the current ones."""

from __future__ import annotations

from typing import Any


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
