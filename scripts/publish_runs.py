"""Copy finished runs, without their weights, into a published results folder, and
rewrite that folder's tables.

Run: ``python scripts/publish_runs.py SRC DEST [--replace]``, e.g. ``/tmp/out/author
docs/results/converged-author``. Each ``SRC/<setting>/<method>/seed-<k>`` whose
``result.json`` is finished (status ok) is copied into DEST file by file: its config,
curves, figures and result, not its weights (``*.pt``), its lock, a result set aside
under a lower epoch cap (``result-epochs-N.json``) or a temporary file. Each file is
written atomically and ``result.json`` last, so an interrupted copy never reads as a
finished run. A run DEST holds with the same ``result.json`` is left as it is; one with a
different result is refused by name unless ``--replace``, and then nothing is copied.
Once a run was copied, DEST's ``results.md``, ``results.csv`` and figures are written
again (``optprior tables DEST``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from optprior._io import atomic_write
from optprior._text import counted
from optprior.experiments.records import RESULT_FILE, read_result_file
from optprior.experiments.reproduce import collect, write_tables
from optprior.experiments.runner import TRAINING_STARTED_FILE, unlike_pairs


def published_files(run: Path) -> list[Path]:
    """The files of the run folder ``run`` that are published, ``result.json`` last."""
    kept = [
        path
        for path in sorted(run.iterdir())
        if path.is_file()
        and not path.name.startswith(".")
        and path.suffix != ".pt"
        and path.name not in ("lock", TRAINING_STARTED_FILE)
        and not path.name.startswith("result-epochs-")
        and path.name != RESULT_FILE
    ]
    return [*kept, run / RESULT_FILE]


def copy_atomically(source: Path, target: Path) -> None:
    with source.open("rb") as read, atomic_write(target) as (write, _):
        shutil.copyfileobj(read, write)


def publish(source: Path, target: Path, replace: bool = False) -> tuple[list[str], list[str]]:
    """Copy ``source``'s finished runs into ``target``; returns (copied, already there).
    Raises ValueError, before copying anything, naming the runs ``target`` holds with a
    different result (unless ``replace``), or the runs that its tables would pair by seed
    with runs of other data or scoring (``runner.unlike_pairs``)."""
    runs = [p.parent for p in sorted(source.glob(f"*/*/seed-*/{RESULT_FILE}"))]
    finished = [run for run in runs if read_result_file(run / RESULT_FILE).ok]
    copied, same, differ = [], [], []
    for run in finished:
        name = str(run.relative_to(source))
        there = target / name / RESULT_FILE
        if there.is_file() and there.read_bytes() == (run / RESULT_FILE).read_bytes():
            same.append(name)
        elif there.is_file() and not replace:
            differ.append(name)
        else:
            copied.append(name)
    if differ:
        raise ValueError(
            f"{target} holds a different result of {', '.join(differ)}: "
            "--replace publishes the new one over it"
        )
    kept = [r for r in collect(target) if r.run not in copied]  # none in a new folder
    unlike = unlike_pairs([*kept, *(read_result_file(source / n / RESULT_FILE) for n in copied)])
    if unlike:
        raise ValueError(
            f"{target}'s tables would pair runs of other data or scoring seed by seed: "
            + "; ".join(unlike)
            + ". Publish them to a folder of their own"
        )
    for name in copied:
        # A run replaced is unfinished until its new result is in: its result goes first.
        (target / name / RESULT_FILE).unlink(missing_ok=True)
        for path in published_files(source / name):
            copy_atomically(path, target / name / path.name)
    return copied, same


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("source", type=Path, help="an optprior reproduce --out folder")
    parser.add_argument("target", type=Path, help="the published folder")
    parser.add_argument("--replace", action="store_true", help="publish over differing runs")
    args = parser.parse_args(argv)
    if not args.source.is_dir():
        parser.error(f"no folder {args.source}")
    try:
        copied, same = publish(args.source, args.target, args.replace)
    except ValueError as error:
        print(f"publish_runs: {error}", file=sys.stderr)
        return 1
    for name in copied:
        print(f"published {name}")
    print(f"{counted(len(copied), 'run')} published, {len(same)} already there")
    if copied:
        write_tables(collect(args.target), args.target)
        print(f"tables in {args.target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
