"""Rows of the Markdown tables the package prints and writes."""

from __future__ import annotations

from collections.abc import Iterable


def markdown_row(cells: Iterable[object]) -> str:
    """One table row of ``cells``; a ``|`` inside a cell (``ln p(x|s)``) is escaped as
    ``\\|``, so that the row keeps its columns."""
    return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"


def markdown_rule(columns: int) -> str:
    """The line under a table's heading of ``columns`` cells."""
    return "|" + "---|" * columns
