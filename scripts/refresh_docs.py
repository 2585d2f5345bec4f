"""Rewrite the blocks of the docs that a repository command prints, or check that they
are current, so that every number in them is one the command prints from the published
run files.

Run: ``python scripts/refresh_docs.py`` (rewrite) or ``python scripts/refresh_docs.py
--check`` (exit 1 naming each stale block, writing nothing). A block, in README.md or
docs/*.md, is::

    <!-- output of: COMMAND -->
    ...what COMMAND prints...
    <!-- end of output -->

with COMMAND one that only prints (``optprior tables ... --print``, ``optprior status``,
``optprior config`` or ``python benchmarks/NAME.py ARGS``), run from the repository root
with this interpreter and without a shell.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from optprior._io import write_text_atomic

REPO = Path(__file__).resolve().parents[1]
BLOCK = re.compile(
    r"(?P<start><!-- output of: (?P<command>[^\n]+?) -->\n)"
    r"(?P<body>.*?)"
    r"(?P<end><!-- end of output -->)",
    re.DOTALL,
)
#: What a block may run: commands that only read (``optprior tables --print``, ``status``,
#: ``config``) and the benchmarks, which print tables.
READ_ONLY = {"config", "status"}


def output(command: str, root: Path) -> str:
    """What ``command`` prints, run from ``root``: ``optprior`` in this process, a
    repository script in a child process; a failing command raises with its errors, and
    anything but a repository command that only prints is refused."""
    words = shlex.split(command)
    prints_table = words[1:2] == ["tables"] and "--print" in words
    if words[:1] == ["optprior"] and (prints_table or words[1:2] and words[1] in READ_ONLY):
        from optprior.cli import main as optprior

        printed, errors, here = io.StringIO(), io.StringIO(), Path.cwd()
        os.chdir(root)  # contextlib.chdir from Python 3.11 on
        try:
            with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(errors):
                code = optprior(words[1:])
        finally:
            os.chdir(here)
        done = subprocess.CompletedProcess(words, code, printed.getvalue(), errors.getvalue())
    elif words[:1] == ["python"] and len(words) > 1 and words[1].startswith("benchmarks/"):
        done = subprocess.run(
            [sys.executable, *words[1:]], cwd=root, capture_output=True, text=True
        )
    else:
        raise ValueError(
            "not a repository command that only prints (optprior tables --print, status, "
            f"config; python benchmarks/...): {command}"
        )
    if done.returncode:
        raise RuntimeError(f"`{command}` exited {done.returncode}:\n{done.stderr}")
    return done.stdout if done.stdout.endswith("\n") else done.stdout + "\n"


def refreshed(text: str, root: Path) -> str:
    """``text`` with every block's body replaced by what its command prints now."""
    return BLOCK.sub(lambda m: m["start"] + output(m["command"], root) + m["end"], text)


def documents(root: Path) -> list[Path]:
    """The files whose blocks are kept: README.md and docs/*.md."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    parser.add_argument("--root", type=Path, default=REPO, help="the repository root")
    args = parser.parse_args(argv)
    stale = []
    for path in documents(args.root):
        text = path.read_text()
        new = refreshed(text, args.root)
        if new == text:
            continue
        stale.append(path)
        if args.check:
            name = str(path.relative_to(args.root))
            diff = difflib.unified_diff(
                text.splitlines(), new.splitlines(), name, f"{name} (refreshed)", lineterm=""
            )
            print("\n".join(diff))
        else:
            write_text_atomic(path, new)
    for path in stale:
        verb = "is stale" if args.check else "refreshed"
        print(f"{path.relative_to(args.root)} {verb}", file=sys.stderr)
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
