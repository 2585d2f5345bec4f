"""Wording shared by the command line's messages."""


def counted(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless ``n`` is 1: ``counted(1, "run") == "1 run"``."""
    return f"{n} {noun}{'s' * (n != 1)}"
