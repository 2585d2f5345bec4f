"""Wording shared by the command line's messages."""


def counted(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless ``n`` is 1: ``counted(1, "run") == "1 run"``."""
    return f"{n} {noun}{'s' * (n != 1)}"


def cut(text: str, width: int) -> str:
    """``text``, or its first ``width - 3`` characters and "..." where it is longer."""
    return text if len(text) <= width else text[: width - 3] + "..."
