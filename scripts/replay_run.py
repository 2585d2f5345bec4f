"""Does a recorded run repeat here? Its first epochs, retrained by the commit that made it.

Run: ``python scripts/replay_run.py RUN_FOLDER [--epochs 2] [--commit C] [--data-root DIR]``,
e.g. ``docs/results/converged-author/faces/optimal/seed-1``; or, without training,
``python scripts/replay_run.py RUN_FOLDER --against OTHER_RUN_FOLDER [--tolerance R]`` to
compare two recorded runs' curves (a rerun with its published run) the same way, or
where they first part by more than a relative ``R`` (how far a difference has grown).

Reads the run's ``config.json`` (its settings as its code resolved them), ``result.json``
(the commit that trained it and its torch thread count; for a run that went on from a
checkpoint, those of the process that began it where recorded, ``started_by``: the
first epochs are its) and ``curves.csv``; checks the
commit out into a temporary git worktree; trains the same setting, method and seed there
for ``--epochs`` epochs with every recorded setting (``optprior reproduce`` of that
commit, the same thread count, a light scoring that nothing here reads); and compares the
two ``curves.csv`` epoch by epoch, column by column (all but ``seconds``), bit for bit.

Runs of one commit, settings and seed repeat bit for bit on alike CPUs (one BLAS, one
instruction set of torch's kernels), so a replay that differs from the first epoch on
says that the run was made on another kind of CPU (or with other package versions; both
printed), not that later code changed it. The training can then part from the recorded
one by far (``docs/results.md``: the faces optimal-prior reruns).

Exit status: 0 when the replayed epochs repeat the recorded ones, 1 when they differ, 2
when the run cannot be replayed (a commit with uncommitted changes without ``--commit``,
a user's own data file, a post-hoc run whose first stage was another run's, a missing
file, a failed training, no epoch or column to compare).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from optprior.data import SETTINGS, data_root
from optprior.experiments.config import toml_value
from optprior.experiments.records import RESULT_FILE, read_result_file
from optprior.experiments.runner import cpu_model, versions

REPO = Path(__file__).resolve().parents[1]

#: Light scoring for the replay: only its curves are compared.
LIGHT_EVALUATION = {
    "n_samples": 2,
    "probe_points": 50,
    "test_points": 20,
    "figures": False,
    "normalizer_temperatures": 2,
    "mlp_probe": False,
}

#: The file, and the text in it, of the commits whose config reads ``seeds`` as a list
#: (older ones read only a count).
LISTED_SEEDS_MARK = ("src/optprior/experiments/config.py", "def seed_numbers")

#: Columns that differ between any two runs (wall-clock time).
UNCOMPARED = {"seconds"}


class CannotReplay(Exception):
    """The run lacks what a replay needs."""


def replay_config(recorded: dict[str, Any], epochs: int, seeds_as_count: bool = False) -> str:
    """A TOML config that ``optprior reproduce --config`` of the recorded run's own
    commit reads to the run's settings, but for ``epochs`` epochs and a light scoring.

    ``recorded``: the run's ``config.json``. Only the evaluation keys it records are
    written (an older commit refuses newer ones); a setting recorded as null is left out,
    so that it takes that commit's default (which null stood for). The seed is given as
    a list of one, or with ``seeds_as_count`` as the count seed + 1 (seeds 0..seed: the
    only form the oldest commits read)."""
    if missing := [key for key in ("setting", "method", "seed") if key not in recorded]:
        raise CannotReplay(f"its config.json lacks {missing}")
    if recorded["setting"] not in SETTINGS:
        raise CannotReplay(
            f"setting {recorded.get('setting')!r} is not a built-in one (a user's own data "
            "file is not replayed here)"
        )
    lines = [
        f"setting = {toml_value(recorded['setting'])}",
        f"methods = {toml_value([recorded['method']])}",
        f"seeds = {recorded['seed'] + 1 if seeds_as_count else toml_value([recorded['seed']])}",
    ]
    sections = {
        "data": recorded.get("data", {}),
        "model": recorded.get("model", {}),
        "training": {**recorded.get("training", {}), "epochs": epochs},
        "evaluation": {
            key: LIGHT_EVALUATION[key]
            for key in recorded.get("evaluation", {})
            if key in LIGHT_EVALUATION
        },
    }
    for section, values in sections.items():
        lines += ["", f"[{section}]"]
        lines += [
            f"{key} = {toml_value(value)}" for key, value in values.items() if value is not None
        ]
    return "\n".join(lines) + "\n"


def read_curves(path: Path) -> list[dict[str, str]]:
    """The rows of a ``curves.csv``, as text (compared bit for bit)."""
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def first_difference(
    recorded: list[dict[str, str]], replayed: list[dict[str, str]], tolerance: float = 0.0
) -> tuple[int, list[tuple[str, str, str]]] | None:
    """The first epoch whose values differ between the two curves (up to the shorter
    one), with its differing ``(column, recorded, replayed)``; None when none does.
    Columns that only one records, and ``UNCOMPARED`` ones, are not compared. With a
    ``tolerance``, numbers differ only where they lie more than that apart relative to
    the recorded one (text must still be equal)."""

    def apart(old: str, new: str) -> bool:
        if old == new:
            return False
        try:
            a, b = float(old), float(new)
        except ValueError:
            return True
        return abs(a - b) > tolerance * abs(a)

    for old, new in zip(recorded, replayed, strict=False):
        columns = sorted((old.keys() & new.keys()) - UNCOMPARED)
        differing = [(c, old[c], new[c]) for c in columns if apart(old[c], new[c])]
        if differing:
            return int(old["epoch"]), differing
    return None


def relative(old: str, new: str) -> str:
    """How far apart two numbers written as text are, relative to the first."""
    try:
        a, b = float(old), float(new)
    except ValueError:
        return "not numbers"
    return f"relative {abs(a - b) / abs(a):.1e}" if a else f"absolute {abs(b):.1e}"


def train_at(
    commit: str,
    recorded: dict[str, Any],
    epochs: int,
    threads: int,
    root: Path,
    data_root: str,
) -> tuple[Path, str]:
    """Train the run at ``commit`` in a worktree under ``root`` (removed after); its
    ``curves.csv``, and a note where the replay's scoring failed after its training."""
    tree, out = root / "tree", root / "out"
    curves = out / recorded["setting"] / recorded["method"] / f"seed-{recorded['seed']}"
    curves /= "curves.csv"
    git = ["git", "-C", str(REPO)]
    try:
        add = [*git, "worktree", "add", "--quiet", "--detach", str(tree), commit]
        subprocess.run(add, check=True, capture_output=True, text=True)
        env = {**os.environ, "PYTHONPATH": str(tree / "src"), "OMP_NUM_THREADS": str(threads)}
        as_count = not (tree / LISTED_SEEDS_MARK[0]).read_text().count(LISTED_SEEDS_MARK[1])
        if as_count:
            print(f"  {commit[:12]} reads seeds as a count: seeds 0-{recorded['seed']} trained")
        config = replay_config(recorded, epochs, as_count)
        (root / "replay.toml").write_text(config, encoding="utf-8")
        command = [
            sys.executable, "-m", "optprior.cli", "reproduce", recorded["setting"],
            "--config", str(root / "replay.toml"), "--out", str(out),
            "--threads", str(threads), "--quiet", "--data-root", data_root,
        ]  # fmt: skip
        done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
        said = done.stdout + done.stderr
        if not curves.is_file():
            raise CannotReplay(f"the replay's training failed ({done.returncode}):\n{said}")
        failed = f"the replay exited {done.returncode} after training the run:\n{said}"
        return curves, "" if done.returncode == 0 else failed
    finally:
        subprocess.run([*git, "worktree", "remove", "--force", str(tree)], capture_output=True)
        subprocess.run([*git, "worktree", "prune"], capture_output=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "run", type=Path, help="a run folder (config.json, result.json, curves.csv)"
    )
    parser.add_argument("--epochs", type=int, default=2, help="epochs to replay (default 2)")
    parser.add_argument("--commit", help="replay with this commit (default: the run's own)")
    parser.add_argument("--data-root", help="where the datasets are (as for reproduce)")
    parser.add_argument(
        "--against", type=Path, help="compare with this recorded run's curves, not a replay"
    )
    parser.add_argument(
        "--tolerance", type=float, default=0.0, help="relative difference ignored (default 0)"
    )
    args = parser.parse_args(argv)
    if args.against is not None:
        return compared_with(args.run, args.against, args.tolerance)
    root = str(data_root(args.data_root).resolve())  # the worktree is another folder
    try:
        recorded = json.loads((args.run / "config.json").read_text(encoding="utf-8"))
        result = read_result_file(args.run / RESULT_FILE)
        curves = read_curves(args.run / "curves.csv")
        if result.cvae_reused:
            raise CannotReplay(f"its first stage is the run it reused ({result.cvae_reused})")
        # A run that went on from a checkpoint: its first epochs are its first process's.
        first = result.started_by or {}
        made_by = first.get("versions") or result.versions
        commit = args.commit or made_by.get("optprior commit")
        if not commit or commit.endswith("-dirty"):
            raise CannotReplay(
                f"the run was trained by {commit or 'an unrecorded commit'}; name the "
                "commit to replay it with (--commit)"
            )
        threads = first.get("threads") or result.threads or 1
        replay_config(recorded, args.epochs)  # refused before a checkout
        print(f"Replaying {result.run}: {args.epochs} epochs, {commit[:12]}, {threads} thread(s)")
        if not first and (result.resumed_from_checkpoint or result.resumed_from_model):
            print("  (it went on from a checkpoint, and the process that began it is not")
            print("  recorded: the commit and threads are those of the one that finished it)")
        print(f"  recorded on: {made_by.get('cpu', 'a CPU not recorded')}")
        print(f"  replayed on: {cpu_model()}")
        here = versions()
        for name, version in made_by.items():
            if name not in ("cpu", "optprior commit") and here.get(name) != version:
                print(f"  {name}: {version} recorded, {here.get(name)} here")
        with tempfile.TemporaryDirectory(prefix="replay-") as folder:
            path, note = train_at(commit, recorded, args.epochs, threads, Path(folder), root)
            replayed = read_curves(path)
    except (CannotReplay, OSError, ValueError, KeyError, subprocess.CalledProcessError) as error:
        said = getattr(error, "stderr", None) or ""
        print(f"cannot replay {args.run}: {error}\n{said}".rstrip(), file=sys.stderr)
        return 2
    if note:
        print(f"  ({note})")
    if len(replayed) < min(args.epochs, len(curves)):
        print(f"  (the replay trained {len(replayed)} of the {args.epochs} epochs asked)")
    return report(args.run, curves, replayed, "The replay", "replayed")


def compared_with(run: Path, other: Path, tolerance: float) -> int:
    """``report`` of ``run``'s curves against ``other``'s (no training)."""
    try:
        curves, others = read_curves(run / "curves.csv"), read_curves(other / "curves.csv")
    except OSError as error:
        print(f"cannot compare: {error}", file=sys.stderr)
        return 2
    return report(run, curves, others, f"The run in {other}", "other", tolerance)


def report(
    run: Path,
    curves: list[dict[str, str]],
    others: list[dict[str, str]],
    subject: str,
    label: str,
    tolerance: float = 0.0,
) -> int:
    """Print where ``others`` (``subject``'s curves, ``label`` in the lines) first part
    from ``run``'s ``curves``: exit status 0 where they do not, 1 where they do, 2 where
    nothing can be compared."""
    compared = min(len(curves), len(others))
    columns = set(curves[0] if curves else ()) & set(others[0] if others else ())
    if not compared or not columns - UNCOMPARED - {"epoch"}:
        print(f"cannot compare {run}: no epoch or no column to compare", file=sys.stderr)
        return 2
    within = f"within a relative {tolerance:g}" if tolerance else "bit for bit"
    difference = first_difference(curves, others, tolerance)
    if difference is None:
        print(f"{subject} repeats the recorded run {within} over its {compared} epoch(s).")
        return 0
    epoch, differing = difference
    by = f", by more than a relative {tolerance:g}" if tolerance else ""
    print(f"{subject} parts from the recorded run at epoch {epoch} (of {compared} compared{by}):")
    for column, old, new in differing:
        print(f"  {column}: {old} recorded, {new} {label} ({relative(old, new)})")
    return 1


if __name__ == "__main__":
    sys.exit(main())
