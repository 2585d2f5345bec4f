"""The ``optprior`` command line: demo, reproduce, tables, status, config, train, compare,
embed."""

from __future__ import annotations

import argparse
import contextlib
import math
import re
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from optprior._text import counted
from optprior._validation import layer_widths
from optprior.models.methods import METHODS, PAPER_METHODS, load_plugins
from optprior.training.stopping import (
    ASKED_CAUSE,
    TrainingStopped,
    stop_asked,
    stop_on_sigterm,
)

if TYPE_CHECKING:
    from optprior.experiments.records import RunResult
    from optprior.experiments.runner import Executor


def _methods(text: str) -> tuple[str, ...]:
    """The argparse type of ``--methods``: comma-separated method names, or ``all``."""
    if text.strip() == "all":
        return tuple(METHODS)
    names = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    if not names:
        raise argparse.ArgumentTypeError(f"no method given; choose from {', '.join(METHODS)}")
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown method(s) {unknown}; choose from {', '.join(METHODS)}"
        )
    return names


def _count(flag: str, least: int = 1) -> Callable[[str], int]:
    """The argparse type of ``flag``: a whole number >= ``least`` (a count: threads,
    epochs...; a seed from 0)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = least - 1
        if value < least:
            raise argparse.ArgumentTypeError(
                f"{flag} must be a whole number >= {least}, got {text!r}"
            )
        return value

    return parse


_threads, _jobs, _seed = _count("--threads"), _count("--jobs"), _count("--seed", 0)
_samples, _epochs, _latent_dim = _count("--samples"), _count("--epochs"), _count("--latent-dim")


def _seeds(text: str) -> int | list[int]:
    """The argparse type of ``--seeds``: a count N (seeds 0..N-1), or seed numbers and
    ranges separated by commas (``3-4``, ``0,2``, ``4-4`` for seed 4 alone)."""
    if text.isdigit():
        if int(text) == 0:
            raise argparse.ArgumentTypeError(
                "--seeds 0 would run no seed: a single number is a count of seeds from 0; "
                "for seed 0 alone pass 0-0 (or 1)"
            )
        return _count("--seeds")(text)
    numbers: list[int] = []
    for part in text.split(","):
        bounds = re.fullmatch(r"(\d+)(?:-(\d+))?", part.strip())
        if bounds is None or (bounds[2] is not None and int(bounds[2]) < int(bounds[1])):
            raise argparse.ArgumentTypeError(
                f"--seeds takes a count (5) or seed numbers and ranges (3-4, 0,2), got {text!r}"
            )
        numbers += range(int(bounds[1]), int(bounds[2] or bounds[1]) + 1)
    return sorted(set(numbers))


#: The exit status of a sweep that stopped with runs left to do: at ``--time-limit`` or on
#: SIGTERM.
STOPPED_STATUS = 3
#: The exit status of a sweep whose other runs are done but some are held by other
#: processes (sweeps sharing its --out folder): they finish them, or after 5 minutes
#: without their owner's sign of life, the same command takes them over.
HELD_STATUS = 4


def _number(text: str, option: str, unit: str, zero: bool) -> float:
    """``text`` as a finite number > 0 (>= 0 with ``zero``), else an argparse error naming
    ``option`` and ``unit``."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value >= 0 if zero else value > 0) or math.isinf(value):
        bound = ">= 0" if zero else "> 0"
        raise argparse.ArgumentTypeError(f"{option} must be {unit} {bound}, got {text!r}")
    return value


def _hidden_sizes(text: str) -> list[int]:
    """The argparse type of ``--hidden-sizes``: layer widths >= 1 separated by commas
    (``layer_widths``, as the setting is checked)."""
    try:
        return list(layer_widths([int(part) for part in text.split(",")], "--hidden-sizes"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--hidden-sizes takes layer widths >= 1 separated by commas (64,64), got {text!r}"
        ) from None


def _learning_rate(text: str) -> float:
    """The argparse type of ``--learning-rate``: Adam's step size > 0."""
    return _number(text, "--learning-rate", "a step size", zero=False)


def _minutes(text: str) -> float:
    """The argparse type of ``--time-limit``: minutes > 0."""
    return _number(text, "--time-limit", "minutes", zero=False)


def _nats(text: str) -> float:
    """The argparse type of ``--tune-within``: nats >= 0."""
    return _number(text, "--tune-within", "nats", zero=True)


def _deadline(args: argparse.Namespace) -> float | None:
    """The ``time.time()`` at which ``--time-limit`` stops the sweep, if given."""
    return None if args.time_limit is None else time.time() + 60 * args.time_limit


THREADS_HELP = (
    "CPU threads for torch (default: torch's choice, one per core); use 1 when other busy "
    "processes share the cores, where more threads wait on each other"
)

SEEDS_HELP = (
    "runs per method, seeds 0..N-1 (default {}), or the seeds to run: numbers and ranges, "
    "e.g. 3-4 or 0,2 (4-4 for seed 4 alone)"
)


def _demo(args: argparse.Namespace) -> int:
    from optprior.experiments.demo import format_table, run_demo

    overrides = {} if args.epochs is None else {"epochs": args.epochs}
    rows = run_demo(
        args.methods,
        seed=args.seed,
        n_samples=args.samples,
        progress=not args.quiet,
        device=args.device,
        **overrides,
    )
    print("Two-task 8x8 digits (scikit-learn), target task = inverted digits, 100 labelled points")
    print(format_table(rows))
    return 0


def _weight_grid(text: str) -> tuple[str, list[float]]:
    """The argparse type of ``--tune`` (``tuning.weight_grid``)."""
    from optprior.experiments.tuning import weight_grid

    try:
        return weight_grid(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _sweep_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The config overrides of ``--methods`` and ``--seeds`` where given."""
    cli: dict[str, Any] = {}
    if args.methods:
        cli["methods"] = list(args.methods)
    if args.seeds is not None:
        cli["seeds"] = args.seeds
    return cli


def _sweep_out(args: argparse.Namespace, configs: list[Any]) -> Path:
    """``--out``, refused if it is a file; and the device of the configs' runs checked
    where they train in this machine's processes (Ray workers may hold other devices)."""
    from optprior.models.base import check_device

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file: name a folder for the runs")
    if args.executor != "ray":
        for device in sorted({config.training.get("device", "cpu") for config in configs}):
            check_device(device)
    return out


def _reproduce(args: argparse.Namespace) -> int:
    from optprior.experiments.config import chosen_protocol, quick_overrides, read_config_file
    from optprior.experiments.reproduce import configs_for, reproduce

    cli = _sweep_overrides(args)
    if args.device:
        cli["training"] = {"device": args.device}
    file_overrides = read_config_file(args.config) if args.config else None
    configs = configs_for(args.setting, args.quick, file_overrides, cli, args.protocol)
    if args.quick and file_overrides:
        _note_quick_overridden(args, quick_overrides(configs[0].setting), file_overrides)
    out = _sweep_out(args, configs)
    _warn_of_unswept_tables(args, file_overrides, configs)
    _note_default_protocol(args, file_overrides)
    if _tuning(args):
        from optprior.experiments.reproduce import check_data

        check_data(configs, args.data_root)  # own data (compare) are read when configured
        return _tune(args, configs, out, chosen_protocol(args.protocol, file_overrides or {}))
    results = reproduce(
        configs,
        out,
        _executor(args),
        args.data_root,
        not args.quiet,
        args.jobs,
        args.rescore,
        None if args.cvae_runs is None else Path(args.cvae_runs),
        stop_at=_deadline(args),
        keep_checkpoints=args.keep_checkpoints,
    )
    return _report(results, out)


def _compare(args: argparse.Namespace) -> int:
    from optprior.experiments.config import (
        OWN_QUICK,
        chosen_protocol,
        own_data_config,
        read_config_file,
    )
    from optprior.experiments.reproduce import sweep
    from optprior.experiments.runner import plan

    executor = _executor(args)  # a refused combination of options fails before any work
    cli = _sweep_overrides(args)
    tables = {
        "data": {
            "test_fraction": args.test_fraction,
            "val_fraction": args.val_fraction,
            "target_task": args.target_task,
            "standardize": args.standardize,
        },
        "model": {
            "likelihood": args.likelihood,
            "latent_dim": args.latent_dim,
            "hidden_sizes": args.hidden_sizes,
        },
        "training": {
            "epochs": args.epochs,
            "learning_rate": args.learning_rate,
            "device": args.device,
        },
        "evaluation": {"n_samples": args.samples},
    }
    for table, values in tables.items():
        cli[table] = {key: value for key, value in values.items() if value is not None}
    file_overrides = read_config_file(args.config) if args.config else {}
    quick = OWN_QUICK if args.quick else {}
    _note_quick_overridden(args, quick, file_overrides)
    config = own_data_config(
        args.data, args.name, quick, file_overrides, cli, protocol=args.protocol
    )
    out = _sweep_out(args, [config])
    _warn_of_unswept_tables(args, file_overrides, [config])
    if _tuning(args):  # a protocol named is written to the file of chosen weights
        named = args.protocol or "protocol" in file_overrides
        protocol = chosen_protocol(args.protocol, file_overrides) if named else None
        return _tune(args, [config], out, protocol)
    runs = plan(
        config,
        out,
        progress=not args.quiet and args.jobs == 1,
        rescore=args.rescore,
        stop_at=_deadline(args),
        keep_checkpoints=args.keep_checkpoints,
    )
    return _report(sweep(runs, out, executor, not args.quiet), out)


def _note_quick_overridden(
    args: argparse.Namespace, quick: dict[str, Any], file_overrides: dict[str, Any]
) -> None:
    """Say which of --quick's settings a --config file sets itself (the file's are used:
    an ablation file trains the quick budget for longer; a whole protocol written out by
    ``optprior config`` is not a quick run)."""
    from optprior.experiments.config import quick_settings_overridden

    if shared := quick_settings_overridden(quick, file_overrides):
        print(
            f"note: {args.config} sets {', '.join(shared)} itself, over --quick's "
            "(to shrink them, leave them out of the file)",
            file=sys.stderr,
        )


def _warn_of_unswept_tables(
    args: argparse.Namespace, file_overrides: dict[str, Any] | None, configs: list[Any]
) -> None:
    """Warn where the --config file has ``[method.NAME]`` tables for methods the sweep does
    not run although neither the file nor --methods chose the methods (a --tune file
    passed alone): their settings would be silently unused."""
    if args.methods or "methods" in (file_overrides or {}):
        return
    tables = (file_overrides or {}).get("method", {})
    swept = {method for config in configs for method in config.methods}
    unswept = sorted(set(tables if isinstance(tables, dict) else ()) - swept)
    if unswept and not args.tune:
        print(
            f"optprior: warning: {args.config} has [method.NAME] tables for "
            f"{', '.join(unswept)}, which this sweep does not run (it runs "
            f"{', '.join(sorted(swept))}): add them with --methods or the file's "
            "methods = [...]",
            file=sys.stderr,
        )


def _note_default_protocol(args: argparse.Namespace, file_overrides: dict[str, Any] | None) -> None:
    """Say which protocol a --config file that names none runs under (with no
    --protocol): the default changed on ``DEFAULT_PROTOCOL_SINCE``, so an older file's
    unset settings now take the new default's values."""
    from optprior.experiments.config import (
        DEFAULT_PROTOCOL,
        DEFAULT_PROTOCOL_SINCE,
        FORMER_DEFAULT_PROTOCOL,
    )

    if file_overrides is None or args.protocol or "protocol" in file_overrides:
        return
    print(
        f"{args.config} names no protocol: it runs under {DEFAULT_PROTOCOL!r}, the default "
        f"since {DEFAULT_PROTOCOL_SINCE} (before, {FORMER_DEFAULT_PROTOCOL!r}); add "
        f'protocol = "{FORMER_DEFAULT_PROTOCOL}" or "{DEFAULT_PROTOCOL}" to the file to choose',
        file=sys.stderr,
    )


def _tuning(args: argparse.Namespace) -> bool:
    """Whether the command tunes weights (``--tune``) instead of sweeping; ``--tune-within``
    without ``--tune`` is refused."""
    if args.tune_within is not None and not args.tune:
        raise ValueError("--tune-within chooses among the weights of --tune METHOD=W1,W2,...")
    return bool(args.tune)


def _tune(
    args: argparse.Namespace, configs: list[Any], out: Path, protocol: str | None = None
) -> int:
    """``--tune``: train each weight of the grids on the configs' seeds (of a paper setting
    under ``protocol``), print the scores and write the chosen weights; as a sweep
    (``_report``): ``STOPPED_STATUS`` while runs stopped at the time limit are left, else
    1 if a run failed, else ``HELD_STATUS`` while other processes hold runs, else 1 if a
    method has no choice."""
    from optprior.experiments.tuning import tune

    if args.rescore:
        raise ValueError("--tune trains its grid; score finished runs again without it")
    sweeps_only = {"--methods": args.methods, "--cvae-runs": getattr(args, "cvae_runs", None)}
    ignored = [flag for flag, value in sweeps_only.items() if value]
    if ignored:
        raise ValueError(
            f"--tune trains the methods it names, each whole; {' and '.join(ignored)} "
            "are for sweeps"
        )
    for config in configs:  # the scored tasks' validation points: the target's where set
        option = "n_target_val" if "n_target_val" in config.data else "val_fraction"
        if config.data.get(option) == 0:
            raise ValueError(
                f"--tune chooses on the validation scores of {config.setting}'s scored tasks: "
                f"{option} 0 leaves none"
            )
    grid = dict(args.tune)  # a method's later --tune replaces its earlier one
    report, results, complete = tune(
        configs,
        grid,
        out,
        _executor(args),
        within=args.tune_within or 0.0,
        protocol=protocol,
        data_root=getattr(args, "data_root", None),  # compare reads its file's path
        progress=not args.quiet and args.jobs == 1,
        stop_at=_deadline(args),
        keep_checkpoints=args.keep_checkpoints,
    )
    print(report)
    statuses = {result.status for result in results}
    if "stopped" in statuses:
        return STOPPED_STATUS
    if "failed" in statuses:
        return 1
    if "running" in statuses:  # as a sweep: the same command chooses once they finish
        return HELD_STATUS
    return 0 if complete else 1


def _executor(args: argparse.Namespace) -> Executor:
    """The sweep executor ``--executor``, ``--address`` and ``--jobs`` ask for."""
    from optprior.experiments.executors import local_executor, ray_executor

    if args.executor == "ray":
        if args.jobs != 1:
            raise ValueError("--jobs is for local processes; Ray gives each run one CPU")
        return ray_executor(args.address, progress=not args.quiet)
    if args.address is not None:
        raise ValueError("--address is the Ray cluster of --executor ray")
    return local_executor(args.jobs, progress=not args.quiet, threads=args.threads)


def _status(args: argparse.Namespace) -> int:
    from optprior.experiments.status import planned_runs, status_table, sweep_status

    out = Path(args.folder)
    if not out.is_dir():
        raise FileNotFoundError(f"no folder {out}")
    planned, damaged = planned_runs(out)
    found = sweep_status(out, planned)
    # --tune's grid: one sweep folder per method and weight, OUT/tune/METHOD-W
    grids = [(g, sweep_status(g)) for g in sorted((out / "tune").glob("*")) if g.is_dir()]
    grids = [(grid, statuses) for grid, statuses in grids if statuses]
    if not found and not damaged and not grids:
        expected = "<setting>/<method>/seed-<k>/ (or its plan), as --out of a sweep, or a part"
        raise FileNotFoundError(f"no runs in {out}: expected {expected}")
    if found or damaged:
        print(status_table(found), end="")
    for grid, statuses in grids:
        print(f"\n--tune grid point {grid.name} ({grid}):\n")
        print(status_table(statuses), end="")
    for request in sorted(out.glob("rescore-*.json")):  # a --rescore cut short
        metrics = request.stem.split("-", 1)[1]
        print(f"unfinished: --rescore {metrics} ({request}); the same command goes on with it")
    for damage in damaged:
        print(
            f"optprior: warning: a plan cannot be read, its runs not started are missing: {damage}",
            file=sys.stderr,
        )
    return 0


def _report(results: list[RunResult], out: Path) -> int:
    """Print ``out``'s results.md, a count of this sweep's runs and the runs other
    processes still hold (missing from the table until they finish); exit status
    ``STOPPED_STATUS`` while runs stopped (at the time limit, or on SIGTERM) are
    left, since the next sweep goes on with them (and tries the failed ones again); else
    1 if any failed; else ``HELD_STATUS`` while other processes hold runs; else 0."""
    from optprior.experiments.records import failure_line

    counts = Counter(r.status for r in results)
    print((out / "results.md").read_text(encoding="utf-8"))
    running = f", {counts['running']} being trained by other processes" if counts["running"] else ""
    print(f"{counted(counts['ok'], 'run')} ok, {counts['failed']} failed{running}; tables in {out}")
    for result in sorted((r for r in results if r.status == "failed"), key=lambda r: r.run):
        print(f"  failed: {result.run}: {failure_line(result)}")
    held = sorted((r.run, r.error) for r in results if r.status == "running")
    if held:
        print("Not in the tables yet, held by another sweep:")
        for name, owner in held:
            print(f"  {name}: {owner}")
        print(f"When they finish, `optprior tables {out}` completes the tables.")
    if counts["stopped"]:
        why = f"Stopped ({ASKED_CAUSE})" if stop_asked() else "Stopped at the time limit"
        print(
            f"{why}: {counts['stopped']} of this sweep's runs left (trained ones keep their "
            "checkpoint or model); run the same command again to go on."
        )
        return STOPPED_STATUS
    if counts["failed"]:
        return 1
    return HELD_STATUS if held else 0


def _tables(args: argparse.Namespace) -> int:
    from optprior.experiments.reproduce import collect, write_tables

    out = Path(args.folder)
    if not out.is_dir():
        raise FileNotFoundError(f"no folder {out}")
    results = collect(out)
    if not results:
        expected = "<setting>/<method>/seed-<k>/result.json"
        grids = sorted(str(p) for p in (out / "tune").glob("*") if p.is_dir())
        tuned = f"; a --tune grid's runs are under {', '.join(grids)}" if grids else ""
        raise FileNotFoundError(f"no runs in {out}: expected {expected}{tuned}")
    if args.setting and not args.print:
        raise ValueError("--setting selects what --print prints; the folder's tables hold all")
    if args.setting:
        found = sorted({r.setting for r in results})
        unknown = sorted(set(args.setting) - set(found))
        if unknown:
            raise ValueError(
                f"no runs of {', '.join(unknown)} in {out}; its settings: {', '.join(found)}"
            )
        results = [r for r in results if r.setting in args.setting]
    if args.print:
        print(_printed_table(args.print, results, one_setting=len(args.setting) == 1), end="")
        return 0
    write_tables(results, out)
    print(_printed_table("summary", results, one_setting=False))
    print(
        f"{counted(len(results), 'run')}; all tables in {out / 'results.md'} and "
        f"{out / 'results.csv'} (--print paired or runs prints one of them)"
    )
    return 0


def _printed_table(name: str, results: list[RunResult], one_setting: bool) -> str:
    """The Markdown of ``tables --print NAME``; a single setting's paired table without its
    heading."""
    from optprior.experiments.tables import (
        budgets,
        markdown_table,
        paired_table,
        runs_table,
        summarize,
    )

    if name == "summary":
        return markdown_table(summarize(results), budgets(results))
    if name == "paired":
        text = paired_table(results, headings=not one_setting)
        if not text:
            raise ValueError("no method shares a finished seed with the CVAE: nothing to pair")
        return text
    return runs_table(results)


def _figures(args: argparse.Namespace) -> int:
    from optprior.experiments.runner import draw_figures
    from optprior.experiments.status import run_folders

    runs = []
    for folder in map(Path, args.folders):  # as status takes them: a sweep's or a part
        if not folder.is_dir():
            raise FileNotFoundError(f"no folder {folder}")
        runs += [run for run in run_folders(folder) if (run / "result.json").is_file()]
    if not runs:
        raise FileNotFoundError(f"no finished runs in {', '.join(args.folders)}")
    failed = drawn = 0
    for run in runs:
        if not (run / "model.pt").is_file():
            print(f"{run}: skipped, its model.pt was not kept")
            continue
        try:
            print(f"{run}: {', '.join(draw_figures(run, args.data_root, args.device))}")
            drawn += 1
        except Exception as error:  # the other runs are drawn all the same
            failed += 1
            print(f"{run}: not drawn: {type(error).__name__}: {error}", file=sys.stderr)
    if drawn:
        print("`optprior tables OUT` links them in OUT/results.md.")
    elif not failed:
        print("no figures drawn: none of these runs kept its model.pt", file=sys.stderr)
    return 1 if failed else 0


def _config(args: argparse.Namespace) -> int:
    from optprior.experiments.config import (
        DEFAULT_PROTOCOL,
        own_data_config,
        own_data_toml,
        resolve,
        to_toml,
    )

    one_of_two = "name a setting of the paper or --data FILE.npz (one of the two)"
    split = ("test_fraction", "val_fraction", "target_task", "standardize")
    if args.data is None:
        for option in ("name", "likelihood", *split):
            if getattr(args, option) is not None:
                flag = option.replace("_", "-")
                raise ValueError(f"--{flag} goes with --data FILE.npz, not a paper setting")
        if args.setting is None:
            raise ValueError(one_of_two)
        protocol = args.protocol or DEFAULT_PROTOCOL
        print(to_toml(resolve(args.setting, protocol=protocol), protocol), end="")
        return 0
    if args.setting is not None:
        raise ValueError(one_of_two)
    given: dict[str, Any] = {"model": {"likelihood": args.likelihood}} if args.likelihood else {}
    if data := {k: getattr(args, k) for k in split if getattr(args, k) is not None}:
        given["data"] = data
    config = own_data_config(args.data, args.name, given, protocol=args.protocol)
    print(own_data_toml(config), end="")
    return 0


def _train(args: argparse.Namespace) -> int:
    from optprior._validation import check_data, fraction, output_file
    from optprior.data.user import file_tasks, read_npz, split_by_task

    output_file(args.out)
    arrays = read_npz(args.data)
    s = file_tasks(arrays, len(arrays.X), args.data)
    fraction(args.val_fraction, "--val-fraction")
    overrides: dict[str, Any] = _train_config(args.config, args.method) if args.config else {}
    for key in (*NETWORK_OPTIONS, "likelihood", "epochs", "device", "seed"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    overrides["progress"] = not args.quiet
    model = METHODS[args.method](**overrides)
    bernoulli = model.get_params()["likelihood"] == "bernoulli"
    x = check_data(arrays.X, "X", bernoulli)  # before the split, so rows are the file's
    train, val = split_by_task(s, args.val_fraction, model.training.seed)
    checkpoint = Path(f"{args.out}.checkpoint")  # the state of training, while it trains
    if checkpoint.is_file():
        print(f"going on from {checkpoint}", file=sys.stderr)
    elif Path(args.out).is_file():  # its checkpoint went when it finished
        print(
            f"{args.out} exists: training anew, to replace it (an interrupted training goes "
            f"on from {checkpoint}, as does a finished one trained with --keep-checkpoint)",
            file=sys.stderr,
        )
    try:
        if len(val):  # the estimator binarises Bernoulli validation data once, as it scores
            model.fit(x[train], s[train], x[val], s[val], checkpoint=checkpoint)
        else:
            model.fit(x, s, checkpoint=checkpoint)
    except TrainingStopped as stopped:  # SIGTERM
        print(f"stopped {stopped}", file=sys.stderr)
        return STOPPED_STATUS
    model.save(args.out)
    for path in () if args.keep_checkpoint else model.checkpoint_files(checkpoint):
        path.unlink(missing_ok=True)
    history = model.fitted_history()
    best = history.epochs[history.best_epoch]
    which, score = (
        ("validation", best["val_elbo"]) if "val_elbo" in best else ("training", best["train_elbo"])
    )
    print(
        f"saved {type(model).__name__} to {args.out}; kept epoch {best['epoch']} (from 0) of "
        f"the {len(history.epochs)} trained, {which} ELBO {score:.2f}"
    )
    return 0


def _train_config(path: str, method: str) -> dict[str, Any]:
    """The settings of a TOML file's [model] and [training] tables that ``method`` reads
    (with the run option ``device``; ``BaseModel.settings_read``), with its
    [method.METHOD] table's over them, for ``optprior train``; every one is checked, so a
    file written for ``optprior reproduce`` serves every method."""
    from optprior.experiments.config import ExperimentConfig, read_config_file, settings_checked

    raw = read_config_file(path)
    read_by_reproduce = {f.name for f in fields(ExperimentConfig)} - {"model", "training"}
    read_by_reproduce.add("protocol")
    unknown = sorted(set(raw) - read_by_reproduce - {"model", "training"})
    if unknown:
        raise ValueError(
            f"unknown key(s) or table(s) {unknown} in {path}; optprior train reads the "
            "tables [model] and [training]"
        )
    ignored = sorted(set(raw) & read_by_reproduce - {"method"})
    if ignored:
        print(
            f"optprior: warning: {path}: {ignored} are read by optprior reproduce and compare, "
            "not train",
            file=sys.stderr,
        )
    if "protocol" in raw:
        print(
            f"{path}: optprior train takes the file's settings; those it leaves out take "
            f"the estimator's defaults, not protocol {raw['protocol']!r}'s (`optprior config "
            f"SETTING --protocol {raw['protocol']}` writes every one out)",
            file=sys.stderr,
        )
    for table in ("model", "training"):
        if not isinstance(raw.get(table, {}), dict):
            raise ValueError(f"{path}: {table} must be a table [{table}], not a value")
    model, training = raw.get("model", {}), dict(raw.get("training", {}))
    seed = {"seed": training.pop("seed")} if "seed" in training else {}
    settings_checked(model, training)  # each a setting of some method, with a valid value
    own = raw.get("method", {}).get(method, {}) if isinstance(raw.get("method"), dict) else {}
    if not isinstance(own, dict):
        raise ValueError(f"{path}: method.{method} must be a table [method.{method}]")
    names = set(METHODS[method].setting_names())
    unread = sorted(set(own) - names)
    if unread:
        raise ValueError(f"{path}: [method.{method}] sets {unread}, which {method} does not read")
    return METHODS[method].settings_read({**model, **training, **seed}, own)


def _model_and_data(args: argparse.Namespace) -> tuple[Any, np.ndarray, np.ndarray | None]:
    """The model ``args.model`` on ``args.device``, and X and s of ``args.data``; s, where
    the file has none, the one task a conditional model was trained on (``ValueError``
    where it was trained on several)."""
    from optprior.data.user import read_npz
    from optprior.models.base import BaseModel

    model = BaseModel.load(args.model, device=args.device)
    arrays = read_npz(args.data)
    x, s = arrays.X, arrays.s
    if s is None and model.conditional:
        if len(model.tasks_) > 1:
            raise ValueError(
                f"{args.data} has no task indices 's', and this model was trained on tasks "
                f"{model.tasks_}: add an array s saying which task each point belongs to"
            )
        s = np.full(len(x), model.tasks_[0], dtype=np.int64)
    return model, x, s


def _embed(args: argparse.Namespace) -> int:
    from optprior._io import atomic_write
    from optprior._validation import output_file

    kind = output_file(args.out).suffix.lower()
    if kind not in (".npy", ".csv"):
        raise ValueError(f"--out {args.out}: name a .npy (NumPy) or .csv file to write Z to")
    model, x, s = _model_and_data(args)
    z = model.posterior(x, s)[0]
    with atomic_write(args.out) as (stream, _):
        if kind == ".csv":  # a header row z0, z1, ..., as pandas.read_csv reads it
            header = ",".join(f"z{k}" for k in range(z.shape[1]))
            np.savetxt(stream, z, delimiter=",", header=header, comments="", fmt="%.9g")
        else:
            np.save(stream, z)
    print(f"wrote {z.shape[0]} x {z.shape[1]} representations to {args.out}")
    return 0


#: Points scored at a time by ``optprior score``: one step of its progress bar.
SCORE_BATCH = 256


def _score(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from optprior._io import atomic_write
    from optprior._validation import output_file
    from optprior.experiments.markdown import markdown_row, markdown_rule

    if args.out is not None and output_file(args.out).suffix.lower() != ".csv":
        raise ValueError(f"--out {args.out}: name a .csv file to write the per-point scores to")
    model, x, s = _model_and_data(args)
    log_z = model.log_normalizer(x, s, random_state=args.seed)
    batches = range(0, len(x), SCORE_BATCH)  # each point's draws are its own: as one call
    likelihood, bound = [], []
    for i in tqdm(batches, desc="scoring", unit="batch", disable=None if args.progress else True):
        xb, sb = x[i : i + SCORE_BATCH], None if s is None else s[i : i + SCORE_BATCH]
        likelihood.append(model.score_samples(xb, sb, args.samples, random_state=args.seed))
        bound.append(model.elbo(xb, sb, random_state=args.seed))
    scores = {
        "log_likelihood": np.concatenate(likelihood) - log_z,
        "elbo": np.concatenate(bound) - log_z,
    }
    tasks = None if s is None else np.asarray(s, dtype=np.int64)  # None: a VAE's, no s
    groups = [] if tasks is None else [(str(k), tasks == k) for k in np.unique(tasks)]
    if len(groups) != 1:
        groups.append(("all", np.ones(len(x), dtype=bool)))
    paper = log_z != 0.0  # the prior N(z; 0, I) e^T, as the paper scores it: not divided by Z
    heading = ["task", "points", "ln p(x|s)", "ELBO"]
    print(
        f"{args.model} on {args.data}: {args.samples} importance samples a point, seed {args.seed}"
    )
    print(markdown_row(heading + ["ln p(x|s), prior not divided by Z"] * paper))
    print(markdown_rule(len(heading) + paper))
    for name, chosen in groups:
        means = [float(scores[key][chosen].mean()) for key in ("log_likelihood", "elbo")]
        paper_cell = [f"{means[0] + log_z:.2f}"] * paper
        print(markdown_row([name, int(chosen.sum()), *(f"{m:.2f}" for m in means), *paper_cell]))
    if paper:
        print(
            f"nats a point; the prior N(z; 0, I) e^T divided by its normaliser Z, ln Z = "
            f"{log_z:.3f} (annealed importance sampling from the codes of these points)"
        )
    if args.out is not None:
        columns = [scores["log_likelihood"], scores["elbo"]]
        names, formats = ["log_likelihood", "elbo"], ["%.6f", "%.6f"]
        if tasks is not None:
            columns, names, formats = [tasks, *columns], ["s", *names], ["%d", *formats]
        with atomic_write(args.out) as (stream, _):
            np.savetxt(
                stream,
                np.column_stack(columns),
                delimiter=",",
                header=",".join(names),
                comments="",
                fmt=formats,
            )
        print(f"wrote the {len(x)} points' scores to {args.out}")
    return 0


def _add_split_options(parser: argparse.ArgumentParser) -> None:
    """The options of how a user's data file is split and scored (``compare``, ``config``)."""
    parser.add_argument(
        "--test-fraction",
        type=float,
        default=None,
        help="share of each task's points in the test set (default 0.2)",
    )
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=None,
        help="share of each task's other points held out for early stopping (default 0.1)",
    )
    parser.add_argument(
        "--target-task",
        type=int,
        default=None,
        help="score this task only (default: every task)",
    )
    parser.add_argument(
        "--standardize",
        action="store_true",
        default=None,
        help="with --likelihood gaussian: each feature to mean 0 and standard deviation 1 "
        "over the points outside the test split (ln p(x|s) is then of the standardised "
        "data, the same shift for every method and seed; the runs' models take "
        "standardised X)",
    )


def _add_protocol_option(
    parser: argparse.ArgumentParser, takes_config: bool = True, own_data: bool = False
) -> None:
    """``--protocol``: its default is author for the paper's settings (unless a --config
    file names another, where ``takes_config``); for a user's data (``own_data``: with
    --data), the estimators' own defaults."""
    from optprior.experiments.config import PROTOCOLS

    unless = ", unless a --config file names another as its top-level protocol"
    intro, default = "the built-in protocol", "the default" + (unless if takes_config else "")
    author_sets = "and for author, T's network and a Gaussian decoder's variance"
    if own_data and takes_config:  # compare: a user's data alone
        intro = (
            f"a built-in protocol's training ({author_sets}) in place of the estimators' own "
            "defaults (a --config file's top-level protocol names one too)"
        )
        default = ""
    elif own_data:  # config: a paper setting, or --data
        intro = (
            "the built-in protocol of SETTING, or with --data, the one whose training "
            f"({author_sets}) replaces the estimators' own defaults"
        )
        default = "the default for SETTING"
    parser.add_argument(
        "--protocol",
        choices=list(PROTOCOLS),
        default=None,
        help=f"{intro}: author ({default + ': ' if default else ''}the first author's vae_iop "
        "wherever the paper is silent, up to 1000 epochs, the converged reproduction's: "
        "docs/fidelity.md), "
        "paper (at most 300 epochs, as the first published runs) or fast (Adam at 3e-4 "
        "with decay on plateau, stopping early at about the paper protocol's cost, below "
        "author's likelihoods: docs/performance.md)",
    )


def _add_sweep_options(parser: argparse.ArgumentParser) -> None:
    """The options ``reproduce`` and ``compare`` share: how the sweep's runs are executed,
    rescoring, device, threads and progress bars."""
    from optprior.experiments.runner import RESCORE

    parser.add_argument("--jobs", type=_jobs, default=1, help="parallel local worker processes")
    parser.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="local processes (default) or Ray tasks (pip install 'optprior[ray]'); on a "
        "cluster, every worker must see the data at the same path",
    )
    parser.add_argument(
        "--address",
        default=None,
        help="Ray cluster address, e.g. ray://head:10001 (default: local Ray)",
    )
    parser.add_argument(
        "--rescore",
        nargs="?",
        const="all",
        default=None,
        choices=RESCORE,
        help="score finished runs again from their saved model.pt (after a metrics change, "
        "or under other [evaluation] settings, which their results then record): "
        "every metric (all, the default), or only the optimal prior's ln Z and the "
        "likelihoods it normalises (normalizer; 1-2 min a run of a 3 x 500 T on one "
        "thread); one cut short by "
        "--time-limit or a kill goes on with the runs it had not reached",
    )
    parser.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda")
    parser.add_argument(
        "--threads",
        type=_threads,
        default=None,
        help=f"{THREADS_HELP}; with --jobs N each worker's (default cores / N), each Ray task 1",
    )
    parser.add_argument(
        "--time-limit",
        type=_minutes,
        default=None,
        metavar="MINUTES",
        help="start stopping after MINUTES (inside a batch job's wall time, leaving a "
        "margin of an epoch, a scoring and, for posthoc runs, T's fit): runs in training "
        "write their checkpoint after their current epoch and stop, trained runs are left "
        f"unscored, the rest do not start; exit status {STOPPED_STATUS} while runs are "
        "left (failed ones are tried again); the same command goes on from there. "
        "SIGTERM stops the same way, as if the limit passed then (a second SIGTERM stops at "
        "once, as Ctrl+C)",
    )
    parser.add_argument(
        "--keep-checkpoints",
        action="store_true",
        help="keep each run's checkpoint.pt once it has finished (several times its "
        "model.pt: the weights, the best epoch's and the optimiser's state), so "
        "that a later sweep of the same runs under a higher epoch cap (the config's "
        "[training] epochs; compare's --epochs) trains those that reached the cap on from there "
        "(runs that stopped early are kept as they are)",
    )
    parser.add_argument(
        "--tune",
        type=_weight_grid,
        action="append",
        default=None,
        metavar="METHOD=W1,W2,...",
        help="instead of the sweep, choose a penalised method's invariance_weight on "
        "validation: train each weight on the --seeds given (--seeds 1: seed 0) into "
        "OUT/tune/METHOD-W, print the mean validation ln p(x|s) of each and add the "
        "best to the [method.NAME] tables of OUT/tune/SETTING.toml, to copy into --config "
        "files; repeat the option for more methods",
    )
    parser.add_argument(
        "--tune-within",
        type=_nats,
        default=None,
        metavar="NATS",
        help="with --tune: choose the largest weight whose mean validation ln p(x|s) is at "
        "most NATS below the best weight's, trading that much likelihood for a stronger "
        "penalty (default 0: the best)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    from optprior import __version__
    from optprior.data import SETTINGS

    parser = argparse.ArgumentParser(
        prog="optprior",
        description="Task-invariant VAEs with the optimal (aggregated-posterior) prior.",
    )
    parser.add_argument("--version", action="version", version=f"optprior {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo",
        help="train VAE, CVAE and the optimal-prior CVAE on bundled data; print a table",
        description="Train each method on scikit-learn's 8x8 digits split into two tasks "
        "(original / inverted), then print the target task's test log-likelihood, the "
        "accuracy of a logistic regression on z trained on 100 labelled target points, and "
        "task leakage (balanced accuracy of a probe predicting s from z, and the lower bound on "
        "I(S;Z) in nats that its held-out log-loss gives). "
        "No download needed.",
    )
    demo.add_argument(
        "--methods",
        type=_methods,
        default=PAPER_METHODS,
        help=f"comma-separated methods from {','.join(METHODS)}, or all "
        f"(default: the paper's {','.join(PAPER_METHODS)})",
    )
    demo.add_argument("--seed", type=_seed, default=0, help="seed of the split and training")
    demo.add_argument("--epochs", type=_epochs, default=None, help="maximum epochs (default 300)")
    demo.add_argument(
        "--samples",
        type=_samples,
        default=200,
        help="importance samples for the test log-likelihood (default 200)",
    )
    demo.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    demo.add_argument("--threads", type=_threads, default=None, help=THREADS_HELP)
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(run=_demo)

    rep = commands.add_parser(
        "reproduce",
        help="run the paper's experiments and write tables and figures",
        description="Train and score every method x seed of a setting of the paper, each run "
        "written atomically to OUT/<setting>/<method>/seed-<k>/ (result.json, model.pt, "
        "curves.csv, figures for seed 0). Finished runs are skipped when a sweep is started "
        "again. Ends by writing OUT/results.md and OUT/results.csv (mean ± std over seeds, "
        "the paper's numbers beside them) and OUT/results.png (every run's scores, seeds "
        "paired across methods).",
    )
    rep.add_argument("setting", choices=[*SETTINGS, "all"], help="the experiment, or all")
    rep.add_argument(
        "--methods",
        type=_methods,
        default=None,
        help=f"comma-separated methods from {','.join(METHODS)}, or all (default: the config's, "
        f"else the paper's {','.join(PAPER_METHODS)})",
    )
    rep.add_argument("--seeds", type=_seeds, default=None, help=SEEDS_HELP.format(5))
    rep.add_argument("--out", default="runs", help="output folder (default ./runs)")
    rep.add_argument(
        "--config",
        default=None,
        help="TOML file overriding the protocol (see configs/ for the defaults)",
    )
    _add_protocol_option(rep)
    rep.add_argument(
        "--quick",
        action="store_true",
        help="a small budget for smoke runs (usps-mnist in a few minutes); a --config "
        "file's values come after it (those it takes over are named), the command line's "
        "last",
    )
    rep.add_argument(
        "--cvae-runs",
        default=None,
        help="folder of finished runs that post-hoc runs start from: cvae runs for posthoc, "
        "invariant runs for posthoc-invariant (default: OUT); such a run is used when its "
        "config matches except for the discriminator settings",
    )
    rep.add_argument(
        "--data-root",
        default=None,
        help="dataset folder (default $OPTPRIOR_DATA, else the user cache)",
    )
    _add_sweep_options(rep)
    rep.set_defaults(run=_reproduce)

    tables = commands.add_parser(
        "tables",
        help="write the results tables of a folder of finished runs",
        description="Rewrite FOLDER/results.md, FOLDER/results.csv (mean ± std over seeds, "
        "the paper's numbers beside them) and FOLDER/results.png from every "
        "FOLDER/<setting>/<method>/seed-<k>/result.json, e.g. after gathering run folders "
        "trained on several machines, and print the summary table.",
    )
    tables.add_argument("folder", help="the --out folder of optprior reproduce or compare")
    tables.add_argument(
        "--print",
        choices=["summary", "paired", "runs"],
        help="print this one table to standard output and write nothing: the mean ± std "
        "summary, each method minus the CVAE seed by seed, or one row per run",
    )
    tables.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="SETTING",
        help="with --print: only this setting's runs (repeat for several); a single "
        "setting's paired table is printed without its heading",
    )
    tables.set_defaults(run=_tables)

    figures = commands.add_parser(
        "figures",
        help="draw the figures of finished runs again from their saved models",
        description="Draw into each finished run's folder, from its model.pt, the figures "
        "a sweep draws for the first seed (t-SNE of z by task and class, training curves, "
        "reconstructions and samples of images, and for the optimal prior T against the "
        "exact log ratio it estimates), and list them in its result.json. Each FOLDER is "
        "a run (OUT/<setting>/<method>/seed-<k>) or the --out folder of a sweep (every "
        "run in it).",
    )
    figures.add_argument("folders", nargs="+", metavar="FOLDER")
    figures.add_argument(
        "--data-root",
        default=None,
        help="dataset folder (default $OPTPRIOR_DATA, else the user cache)",
    )
    figures.add_argument(
        "--device", default=None, help="torch device (default: the run's, else the CPU)"
    )
    figures.add_argument("--threads", type=_threads, default=None, help=THREADS_HELP)
    figures.set_defaults(run=_figures)

    status = commands.add_parser(
        "status",
        help="where every run of a sweep folder stands: finished, training, interrupted",
        description="List every FOLDER/<setting>/<method>/seed-<k>/ run: finished (with "
        "its test ln p(x|s)), failed (with its error), being trained or scored (by which "
        "process), interrupted (a sweep started again goes on from its checkpoint) or not "
        "started, including the runs a sweep has planned in FOLDER/planned/ but not begun. "
        "A run with a checkpoint also shows its epochs so far and at most how long is left "
        "at its recent epoch times.",
    )
    status.add_argument(
        "folder",
        help="the --out folder of optprior reproduce or compare, or one of its setting, "
        "method or run folders",
    )
    status.set_defaults(run=_status)

    config = commands.add_parser(
        "config",
        help="print a setting's built-in protocol as an editable TOML config",
        description="Print the full protocol of `optprior reproduce SETTING` (data options, "
        "model, training and evaluation settings) as TOML; save it, edit it, and pass it back "
        "with `optprior reproduce SETTING --config FILE`. With --data FILE.npz instead of a "
        "setting: the defaults of `optprior compare --data FILE.npz`, to pass back with "
        "`optprior compare --data FILE.npz --config FILE`.",
    )
    config.add_argument("setting", nargs="?", choices=SETTINGS, help="the experiment")
    config.add_argument("--data", help="your own .npz file (as optprior compare reads it)")
    config.add_argument(
        "--name", help="with --data: the name compare would give it (checked, not printed)"
    )
    config.add_argument(
        "--likelihood",
        choices=("bernoulli", "gaussian"),
        help="with --data: the decoder likelihood (default bernoulli: X in [0, 1])",
    )
    _add_split_options(config)
    _add_protocol_option(config, takes_config=False, own_data=True)
    config.set_defaults(run=_config)

    train = commands.add_parser(
        "train",
        help="fit a model on your own multi-task data",
        description="Fit a model on FILE.npz holding X (N, D) or images (N, H, W[, C]) "
        "and optional s (N,) task indices 0..K-1 (default: one task); other arrays, such as "
        "labels y, are not read. A seeded --val-fraction of each task is held out for early "
        "stopping (never a task's last point). Writes MODEL atomically; while "
        "training, MODEL.checkpoint every 5 minutes, from which the same command (or one "
        "with a higher --epochs) goes on after an interruption.",
    )
    train.add_argument("--data", required=True, help=".npz file with X and optional s")
    train.add_argument("--out", required=True, help="where to write the model (.pt)")
    train.add_argument(
        "--method",
        choices=list(METHODS),
        default="optimal",
        help="the method to fit (default optimal: the optimal-prior CVAE)",
    )
    train.add_argument(
        "--config",
        default=None,
        help="TOML file whose [model] and [training] tables set the settings, and its "
        "[method.METHOD] table those of --method alone",
    )
    train.add_argument(
        "--likelihood",
        choices=["bernoulli", "gaussian"],
        default=None,
        help="decoder likelihood (default bernoulli: X in [0, 1])",
    )
    _add_network_options(train)
    train.add_argument("--epochs", type=_epochs, default=None, help="maximum epochs (default 200)")
    train.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="share of each task's points held out for early stopping, never a task's "
        "last point (default 0.1)",
    )
    train.add_argument(
        "--seed",
        type=_seed,
        default=None,
        help="seed of the split and training (default: the config's, else 0)",
    )
    train.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda")
    train.add_argument("--threads", type=_threads, default=None, help=THREADS_HELP)
    train.add_argument(
        "--keep-checkpoint",
        action="store_true",
        help="keep OUT.checkpoint once training has finished (several times the model's "
        "size), so that the same command with a higher --epochs trains on from there if "
        "the fit reached its cap (one that stopped early stays as it is)",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(run=_train)

    compare = commands.add_parser(
        "compare",
        help="compare the methods on your own multi-task data: tables and figures",
        description="Train and score every method x seed on FILE.npz (X (N, D) or images "
        "(N, H, W[, C]); optional s (N,) task indices 0..K-1; optional y (N,) class labels, "
        "-1 where unknown, for the downstream accuracy), as optprior reproduce does for the "
        "paper's settings. A --test-fraction of each task, the same for every run, is the "
        "test set; a seeded --val-fraction of the rest chooses the epoch. Runs go to "
        "OUT/NAME/<method>/seed-<k>/, OUT/results.md and results.png compare them; "
        "started again, it skips finished runs and goes on from checkpoints.",
    )
    compare.add_argument("--data", required=True, help=".npz file with X, optional s and y")
    compare.add_argument("--out", default="runs", help="output folder (default ./runs)")
    compare.add_argument("--name", default=None, help="the setting's name (default: file stem)")
    compare.add_argument(
        "--methods",
        type=_methods,
        default=None,
        help=f"comma-separated methods from {','.join(METHODS)}, or all (default: the config's, "
        f"else {','.join(PAPER_METHODS)})",
    )
    compare.add_argument("--seeds", type=_seeds, default=None, help=SEEDS_HELP.format(3))
    compare.add_argument(
        "--config",
        default=None,
        help="TOML file: methods, seeds and tables [data], [model], [training], "
        "[evaluation] and [method.NAME] (one method's settings, e.g. its invariance_weight)",
    )
    compare.add_argument(
        "--likelihood",
        choices=["bernoulli", "gaussian"],
        default=None,
        help="decoder likelihood (default bernoulli: X in [0, 1])",
    )
    compare.add_argument(
        "--epochs", type=_epochs, default=None, help="maximum epochs (default 200)"
    )
    _add_network_options(compare)
    _add_split_options(compare)
    compare.add_argument(
        "--samples",
        type=_samples,
        default=None,
        help="importance samples per point for the log-likelihood (default 1000)",
    )
    compare.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: one seed, 30 epochs, 50 importance samples, ln Z over 100 "
        "temperatures, no MLP probe (a --config file's values come after it, those it takes "
        "over named; the command line's other options last)",
    )
    _add_protocol_option(compare, own_data=True)
    _add_sweep_options(compare)
    compare.set_defaults(run=_compare)

    embed = commands.add_parser(
        "embed",
        help="write the representation z of data with a trained model",
        description="Encode FILE.npz (X, optional s) with MODEL and save the posterior means "
        "as an (N, latent_dim) .npy file.",
    )
    _add_model_and_data(embed)
    embed.add_argument(
        "--out",
        required=True,
        help="where to write Z: a .npy file, or a .csv one (a header row z0, z1, ...)",
    )
    embed.set_defaults(run=_embed)

    score = commands.add_parser(
        "score",
        help="the test log-likelihood of data under a trained model, per task",
        description="Score FILE.npz (X, optional s) with MODEL: the mean importance-sampled "
        "ln p(x | s) and ELBO of each task's points (nats), each prior divided by its "
        "normaliser Z (estimated for the optimal prior's N(z; 0, I) e^T, whose score as the "
        "paper gives it is printed beside; the ELBO too is divided by Z, where reproduce's "
        "test_elbo is not). ln Z is estimated from the codes of the points scored. Grey "
        "levels scored by a Bernoulli model that binarised its training data are scored "
        "as one fixed binarisation per point.",
    )
    _add_model_and_data(score)
    score.add_argument(
        "--samples",
        type=_samples,
        default=1000,
        help="importance samples per point for ln p(x | s) (default 1000)",
    )
    score.add_argument(
        "--seed", type=_seed, default=0, help="seed of the importance samples (default 0)"
    )
    score.add_argument(
        "--out",
        default=None,
        help="a .csv file for each point's s (where the data have it), log_likelihood and elbo",
    )
    score.add_argument("--quiet", dest="progress", action="store_false", help="no progress bar")
    score.set_defaults(run=_score)
    return parser


def _add_model_and_data(parser: argparse.ArgumentParser) -> None:
    """A saved model, the data file it reads, and where it computes (``embed``, ``score``)."""
    parser.add_argument("model", help="a model written by optprior train or reproduce")
    parser.add_argument("--data", required=True, help=".npz file with X and optional s")
    parser.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda")
    parser.add_argument("--threads", type=_threads, default=None, help=THREADS_HELP)


#: The options of ``_add_network_options``, by their settings' names.
NETWORK_OPTIONS = ("latent_dim", "hidden_sizes", "learning_rate")


def _add_network_options(parser: argparse.ArgumentParser) -> None:
    """The size of z and of the networks, and Adam's step size: what a quick try on
    one's own data changes first."""
    parser.add_argument(
        "--latent-dim", type=_latent_dim, default=None, help="size of z (default 40)"
    )
    parser.add_argument(
        "--hidden-sizes",
        type=_hidden_sizes,
        default=None,
        help="widths of the encoder's and decoder's hidden layers, e.g. 64,64 (default "
        "500,500,500)",
    )
    parser.add_argument(
        "--learning-rate",
        type=_learning_rate,
        default=None,
        help="Adam's step size (default 1e-4; standardised Gaussian data of a few hundred "
        "points often want 1e-3 or more)",
    )


def _format_warning(message: Warning | str, *where: object, **more: object) -> str:
    return f"optprior: warning: {message}\n"


def with_rescore_value(argv: Sequence[str]) -> list[str]:
    """``argv`` with ``all`` put after a bare ``--rescore`` of ``reproduce`` that a setting
    follows (``--rescore usps-mnist``), which argparse would take for the option's value
    (``--rescore all`` stays the option's value: ``all`` is a setting too)."""
    from optprior.data import SETTINGS

    out = list(argv)
    if out[:1] != ["reproduce"]:
        return out
    for i, word in enumerate(out[:-1]):
        if word == "--rescore" and out[i + 1] in SETTINGS:
            out.insert(i + 1, "all")
            break
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from optprior.models.base import UnknownSettingError

    formatting = warnings.formatwarning  # a warning names its problem, not our source line
    warnings.formatwarning = _format_warning
    try:
        load_plugins()  # installed packages' methods, before the parser lists the methods
        args = build_parser().parse_args(with_rescore_value(sys.argv[1:] if argv is None else argv))
        if getattr(args, "threads", None) is not None:
            import torch

            torch.set_num_threads(args.threads)
        graceful = args.run in (_reproduce, _compare, _train)  # they stop resumably
        ray = getattr(args, "executor", None) == "ray"  # its tasks: at once
        with stop_on_sigterm(resumable=not ray) if graceful else contextlib.nullcontext():
            return args.run(args)
    except (ValueError, FileNotFoundError, UnknownSettingError) as error:  # not bugs
        print(f"optprior: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "\noptprior: stopped. Run the same command again to go on: finished runs are "
            "kept, unfinished ones go on from their last checkpoint (written every 5 "
            "minutes of training; a run stopped before its first starts again).",
            file=sys.stderr,
        )
        return 130
    finally:
        warnings.formatwarning = formatting


if __name__ == "__main__":
    sys.exit(main())
