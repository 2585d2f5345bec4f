"""Exceptions raised when a dataset file is missing or unreadable."""

from __future__ import annotations

from pathlib import Path


class DatasetNotFoundError(FileNotFoundError):
    """A dataset file is absent and could not be downloaded.

    The message names every missing file, the exact path where it belongs and where to get it.
    """


class CorruptDatasetError(ValueError):
    """A dataset file exists but is truncated, corrupt or not in the expected format.

    Attributes:
        path: the offending file.
        reason: what is wrong with it.
        expected: the checksum(s) the file should have, or ``None`` where none is known.
        source: where to get a fresh copy, or ``None`` where the caller does not know.
    """

    def __init__(
        self,
        path: Path | str,
        reason: str,
        expected: str | None = None,
        source: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.reason = reason
        self.expected = expected
        self.source = source
        message = f"dataset file {self.path} is corrupt or unreadable: {reason}"
        if expected:
            message += f" (expected {expected})"
        message += ". Delete it and get a fresh copy" + (f" from {source}." if source else ".")
        super().__init__(message)
