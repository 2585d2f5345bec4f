"""Runs of a sweep: one (setting, method, seed) each, independent, resumable.

Each run writes under ``<out>/<setting>/<method>/seed-<k>/``: ``config.json`` (the
resolved config, at the start), ``model.pt`` (after training), ``curves.csv`` (and
``prior_curves.csv`` for a post-hoc prior) and finally ``result.json`` (config, versions,
seed, wall time of this process, training time of all epochs, epochs, metrics or the
error). Every file is written atomically. A run whose ``result.json`` exists is never
redone; a run killed while training goes on from its ``checkpoint.pt`` (saved every few
minutes, removed once ``model.pt`` is written), one killed after training from its
``model.pt``; ``rescore`` re-evaluates finished runs from their ``model.pt`` (after a
change to the metrics) without training again, and a rescoring cut short goes on where it
stopped (``RescoreRequest``). A ``posthoc`` run starts from the
``cvae`` run of the same seed and configuration when that is finished. While a run
trains, ``lock`` names its process, so sweeps started twice on one folder share the runs.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import logging
import platform
import subprocess
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, cast

import torch
from sklearn.exceptions import ConvergenceWarning

from optprior._io import read_json_object, remove_leftovers, write_text_atomic
from optprior._settings import differences
from optprior.data import MultiTaskData, load_setting, setting_options
from optprior.data.user import UnreadArraysWarning, own_data_options, own_data_setting
from optprior.experiments.config import (
    DEFAULT_PROTOCOL,
    PROTOCOLS,
    EvaluationConfig,
    ExperimentConfig,
)
from optprior.experiments.evaluate import evaluate, renormalized
from optprior.experiments.lock import GONE, holder, lock_lost, run_lock
from optprior.experiments.records import (
    RESULT_FILE,
    RunResult,
    read_result_file,
    write_result_file,
)
from optprior.models.base import BaseModel, IgnoredSettingsWarning, ModelFileError, model_defaults
from optprior.models.methods import METHODS, PostHocOptimalPriorCVAE, load_plugins
from optprior.training.config import record_differences, recorded_defaults
from optprior.training.stopping import (
    TrainingStopped,
    abandon_if,
    interruptible,
    stop_at,
    stop_cause,
    time_is_up,
)
from optprior.training.trainer import CheckpointError, History

logger = logging.getLogger(__name__)
#: Beside a posthoc run's model.pt: the name of the CVAE run whose model it reused, read
#: again if the run is killed before its result is written.
REUSED_FILE = "cvae_reused.txt"
#: How a run's training started (``training_start``), to check and record on resuming.
TRAINING_STARTED_FILE = "training_started.json"
#: The name of the run this process (or thread) is executing, for log records.
CURRENT_RUN: ContextVar[str] = ContextVar("optprior_run", default="(no run)")


class ConfigMismatchError(ValueError):
    """An output folder holds runs made with a different configuration."""


@dataclass(frozen=True)
class Run:
    """One independent job of a sweep."""

    setting: str
    method: str
    seed: int
    data: dict[str, Any]
    model: dict[str, Any]
    training: dict[str, Any]
    evaluation: EvaluationConfig
    out: str
    data_root: str | None = None
    progress: bool = False
    threads: int = 0
    rescore: str | None = None  # "all" metrics, or "normalizer": ln Z (``RESCORE``)
    rescore_request: str | None = None  # the ``RescoreRequest`` (its start) this run is in
    cvae_runs: str | None = None  # where a posthoc run looks for its CVAE (default: out)
    stop_at: float | None = None  # time.time() after which training stops (resumable)
    keep_checkpoints: bool = False  # so that a higher epoch cap can go on from them

    @property
    def folder(self) -> Path:
        return Path(self.out) / self.setting / self.method / f"seed-{self.seed}"

    @property
    def checkpoints(self) -> tuple[Path, ...]:
        """The files of its training state while it trains, one a stage
        (``BaseModel.checkpoint_files``); kept after it ends with ``keep_checkpoints``."""
        return METHODS[self.method].checkpoint_files(self.folder / "checkpoint.pt")

    @property
    def name(self) -> str:
        return f"{self.setting}/{self.method}/seed-{self.seed}"

    def load_data(self) -> MultiTaskData:
        """The setting's splits as this run draws them (its seed and data options); data
        options naming a ``file`` are a user's own data (``optprior compare``)."""
        if "file" in self.data:
            likelihood = self.model["likelihood"]
            with warnings.catch_warnings():  # the config's check said so once already
                warnings.simplefilter("ignore", UnreadArraysWarning)
                return own_data_setting(self.setting, self.seed, likelihood=likelihood, **self.data)
        return load_setting(self.setting, self.seed, self.data_root, **self.data)

    def load_model(self) -> BaseModel:
        """The model this run saved (``model.pt``), on the run's device."""
        return BaseModel.load(self.folder / "model.pt", device=self.training.get("device"))

    def result(self, status: str, **fields: Any) -> RunResult:
        """A ``RunResult`` of this run with ``status`` and ``fields``."""
        return RunResult(self.name, self.setting, self.method, self.seed, status, **fields)

    def resolved(self) -> dict[str, Any]:
        """Everything that determines the result (not where it is written)."""
        config = asdict(self)
        for key in _WHERE_AND_HOW:
            config.pop(key)
        return config


#: ``Run`` fields that say where and how a run is executed, not what it computes.
_WHERE_AND_HOW = (
    "out",
    "data_root",
    "progress",
    "threads",
    "rescore",
    "rescore_request",
    "cvae_runs",
    "stop_at",
    "keep_checkpoints",
)


def run_of(result: RunResult, folder: Path, data_root: str | None = None) -> Run:
    """The run that wrote ``result`` in ``folder`` (``OUT/SETTING/METHOD/seed-K``), whose
    ``load_data`` and ``load_model`` read its splits and model again (evaluation options
    retired since it was written are left out)."""
    known = {f.name for f in fields(EvaluationConfig)}
    evaluation = {k: v for k, v in result.config["evaluation"].items() if k in known}
    config = {**result.config, "evaluation": EvaluationConfig(**evaluation)}
    return Run(**config, out=str(folder.resolve().parents[2]), data_root=data_root)


def draw_figures(
    folder: Path, data_root: str | None = None, device: str | None = None
) -> list[str]:
    """Draw the figures of the finished run in ``folder`` from its ``model.pt``
    (``figures.run_figures``: of any seed, where a sweep draws the first seed's, and those
    added since the run was scored) under the run's lock, and list them in its result;
    returns their names. The model is loaded on ``device`` (default: where it was
    trained, else the CPU). Raises ``FileNotFoundError`` without a result or model, and
    ``RuntimeError`` while another process holds the run."""
    from optprior.experiments.figures import run_figures

    result_path, model_path = folder / RESULT_FILE, folder / "model.pt"
    for path in (result_path, model_path):
        if not path.is_file():
            raise FileNotFoundError(f"no {path.name} in {folder}: not a finished run kept whole")
    with run_lock(folder) as owner:
        if owner is not None:
            raise RuntimeError(f"held by {owner}; draw its figures once it is done")
        result = read_result_file(result_path)
        data = run_of(result, folder, data_root).load_data()
        names = run_figures(BaseModel.load(model_path, device=device), data, folder)
        write_result_file(folder, replace(result, figures=sorted({*result.figures, *names})))
    return names


def plan(config: ExperimentConfig, out: str | Path, **options: Any) -> list[Run]:
    """The runs of ``config``: every method x seed (``seed_numbers``), each with its method's
    settings (``ExperimentConfig.settings_of``); seed by seed, but the post-hoc methods'
    runs after all others, so that their first stages (``source_method``) are finished,
    or training (``wait_for_first_stage``), when they start (``reusable_cvae``)."""
    runs = [
        Run(
            config.setting,
            method,
            seed,
            config.data,
            *config.settings_of(method),
            config.evaluation,
            str(out),
            **options,
        )
        for seed in config.seed_numbers()
        for method in config.methods
    ]
    return sorted(runs, key=lambda run: source_method(run.method) is not None)  # stable


#: The folder of the optprior package, whose source commit a result records.
PACKAGE = Path(__file__).resolve().parents[1]


def source_commit(package: Path = PACKAGE) -> str | None:
    """The git commit of the checkout the ``package`` folder lies in, with ``-dirty``
    appended when tracked files under it differ from that commit; None outside a git
    checkout (an installed wheel) or without git."""

    def git(*args: str) -> str:
        command = ["git", "-C", str(package), *args]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout

    try:
        commit = git("rev-parse", "HEAD").strip()
        changed = git("status", "--porcelain", "--untracked-files=no", "--", ".").strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("-dirty" if changed else "")


@functools.cache
def cpu_model() -> str:
    """The processor's model name with its family, model and stepping numbers (Linux's
    /proc/cpuinfo, else ``platform``: processors of one name differ in them), and the
    instruction set torch's CPU kernels use: runs repeat bit for bit only on alike CPUs,
    whose BLAS and kernels round alike (``scripts/replay_run.py``)."""
    name = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8")
        name = cpuinfo_name(cpuinfo) or name
    return f"{name}, torch kernels {torch.backends.cpu.get_cpu_capability()}"


def cpuinfo_name(cpuinfo: str) -> str | None:
    """The first processor's ``model name (family F, model M, stepping S)`` in the text of
    /proc/cpuinfo (the numbers it gives); None without a model name."""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())  # the first processor's
    if "model name" not in fields:
        return None
    numbers = [
        f"{key.removeprefix('cpu ')} {fields[key]}"
        for key in ("cpu family", "model", "stepping")
        if key in fields
    ]
    return fields["model name"] + (f" ({', '.join(numbers)})" if numbers else "")


def versions() -> dict[str, str]:
    """Versions of the packages a result depends on ("not installed" for a package
    imported from a source tree without being installed, e.g. through PYTHONPATH), the
    ``optprior commit`` of that source tree where it is a git checkout, and the ``cpu``
    (``cpu_model``; results before 2026-12-06's evening lack it)."""
    names = ("optprior", "torch", "numpy", "scipy", "scikit-learn")
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    found["python"] = platform.python_version()
    commit = source_commit()
    if commit is not None:
        found["optprior commit"] = commit
    found["cpu"] = cpu_model()
    return found


def config_differences(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Where a run recorded with ``stored`` config differs from a run of ``current``
    (``_settings.differences`` lines; none when it is a run of ``current``).

    A data option, a model or training setting or an ``EvaluationConfig`` field added
    after the run was made is absent from ``stored``; it
    takes the value the code had then (the default, or for training settings
    ``recorded_defaults``). One removed since is ignored (no current code reads it). The
    training device is not compared: it says where a run was made, not what it is; nor
    are the settings the method does not read (``is_unread_setting``) or T's schedules
    do not read (``training.config.record_differences``).
    """
    method = current.get("method")
    stored, current = without_unread(stored, method), without_unread(current, method)
    defaults = {
        "data": own_data_options()
        if "file" in current["data"]
        else setting_options(current["setting"]),
        "model": model_defaults(),
        "training": recorded_defaults(),
        "evaluation": asdict(EvaluationConfig()),
    }
    # A user's data file is known by its SHA-256; it may move without changing the run.
    stored, current = (without_data_file(c) for c in (stored, current))
    stored, current, defaults = (  # tuples -> lists
        json.loads(json.dumps(d)) for d in (stored, current, defaults)
    )
    return record_differences(stored, current, defaults, training="training")


#: The evaluation fields that decide which test points a run is scored on, and how.
SCORING_FIELDS = ("test_points", "n_samples")
#: Data options that leave the points as they are: how files are fetched and checked, and
#: where a user's file lies (its SHA-256 is compared).
UNSCORED_DATA = ("verify", "download", "file")


def file_records(data: MultiTaskData) -> list[dict[str, str]]:
    """The dataset files ``data`` was read from, as ``RunResult.data_files`` holds them."""
    return [asdict(file) for file in data.files]


def training_start(
    folder: Path, files: list[dict[str, str]], device: str, going_on: bool
) -> dict[str, Any] | None:
    """Where the training of the run in ``folder`` goes on from a checkpoint or
    ``model.pt``: the record ``TRAINING_STARTED_FILE`` of how it started (``at``, ISO
    8601 UTC; the ``versions``, torch ``threads`` and ``device`` of its process; the
    ``data_files`` it read, ``file_records``), which ``files`` (read now) must match
    (``ValueError`` naming the difference). Else None, this process's record written:
    where it starts, or goes on from a run started before records were written."""
    path = folder / TRAINING_STARTED_FILE
    if going_on and (recorded := started_on(folder, files)) is not None:
        return recorded
    now = {
        "at": _now(),
        "versions": versions(),
        "threads": torch.get_num_threads(),
        "device": device,
        "data_files": files,
    }
    write_text_atomic(path, json.dumps(now, indent=2))
    return None


def started_on(folder: Path, files: list[dict[str, str]]) -> dict[str, Any] | None:
    """The record ``TRAINING_STARTED_FILE`` of the run in ``folder``, None where it has
    none; raises ``ValueError`` naming the difference where ``files`` (read now,
    ``file_records``) are not those it started on."""
    path = folder / TRAINING_STARTED_FILE
    if not path.is_file():
        return None
    recorded = read_json_object(path, "record of the start of training")
    if changed := files_changed(recorded["data_files"], files):
        raise ValueError(
            f"its training started on other dataset files than those read now ({changed}): "
            "restore them to go on, or use another --out folder to train anew"
        )
    return recorded


def files_changed(recorded: list[dict[str, str]], now: list[dict[str, str]]) -> str:
    """How the files read ``now`` (``file_records``) differ from those ``recorded`` (one
    line per dataset, joined); empty where they are the same or nothing was recorded."""
    if not recorded:
        return ""
    return "; ".join(differences(files_by_dataset(recorded), files_by_dataset(now)))


def known_files(result: RunResult) -> list[dict[str, str]]:
    """The dataset files ``result``'s metrics were computed on: those it recorded when it
    was trained, else (a result written before they were recorded, then scored again)
    those of its last rescoring of every metric (one of ln Z alone kept the others);
    empty where neither is known."""
    rescored = result.rescored or {}
    return result.data_files or (
        rescored.get("data_files", []) if rescored.get("metrics") == "all" else []
    )


def files_by_dataset(records: list[dict[str, str]]) -> dict[str, str]:
    """``data_files`` records as one line a dataset: its variant, file names and digest
    prefixes (``SourceFile.digest``), which decide the points it holds (for the faces,
    also the test split)."""
    lines: dict[str, list[str]] = {}
    for record in records:
        kind, _, digest = record["digest"].rpartition(" ")
        line = f"{record['variant']}/{record['name']} {kind} {digest[:12]}"
        lines.setdefault(record["dataset"], []).append(line)
    return {dataset: ", ".join(found) for dataset, found in lines.items()}


def scoring_differences(a: RunResult, b: RunResult) -> list[str]:
    """Where two runs of one setting differ in what a comparison seed by seed needs them
    to share (``_settings.differences`` lines): their data options (the splits and
    points; not ``UNSCORED_DATA``), the dataset files read where both runs recorded them
    (``data_files``: a variant or a copy of other bytes), and the test points and
    importance samples they were scored with. A field absent from an older record takes
    its default."""

    def ground(result: RunResult) -> dict[str, Any]:
        own = "file" in result.config.get("data", {})
        config = without_data_file(result.config)
        data = config.get("data", {})
        defaults = own_data_options() if own else setting_options(result.setting)
        evaluation = {**asdict(EvaluationConfig()), **config.get("evaluation", {})}
        return {
            "data": {k: v for k, v in {**defaults, **data}.items() if k not in UNSCORED_DATA},
            "evaluation": {k: evaluation[k] for k in SCORING_FIELDS},
        }

    grounds = [ground(r) for r in (a, b)]
    if known_files(a) and known_files(b):
        for result, grounded in zip((a, b), grounds, strict=True):
            grounded["data files"] = files_by_dataset(known_files(result))
    return differences(*json.loads(json.dumps(grounds)))


def unlike_pairs(results: list[RunResult]) -> list[str]:
    """The finished runs of ``results`` that a seed-by-seed comparison would pair with
    another of their setting and seed unlike it (``scoring_differences``): one line each,
    naming both runs and what differs."""
    first: dict[tuple[str, int], RunResult] = {}
    lines = []
    for result in sorted((r for r in results if r.ok), key=lambda r: r.run):
        key = (result.setting, result.seed)
        if key not in first:
            first[key] = result
        elif differences := scoring_differences(first[key], result):
            lines.append(f"{result.run} against {first[key].run}: {'; '.join(differences)}")
    return lines


#: What the runs of one row of the tables may differ in besides their seed: where each
#: ran, the penalty weight a tuning chose for its seed (listed under the table), and the
#: data options that leave the points as they are (``UNSCORED_DATA``).
SEED_ROW_FREE = (
    ("training", "device"),
    ("model", "invariance_weight"),
    *(("data", option) for option in UNSCORED_DATA),
)


def unlike_seeds(results: list[RunResult]) -> list[str]:
    """The finished runs of ``results`` that the tables would average with the first
    finished run of their setting and method though their configurations differ in
    more than the seed (a data, model, training or evaluation value both record, but
    ``SEED_ROW_FREE`` and the settings the method does not read): e.g. a sweep of other
    settings into the same folder. One line each, naming both runs and what differs. A
    value one run does not record (it predates the setting) is not compared."""

    def sections(result: RunResult) -> dict[str, Any]:
        config = without_unread(without_data_file(result.config), result.method)
        return json.loads(json.dumps(config))  # tuples -> lists

    first: dict[tuple[str, str], tuple[RunResult, dict[str, Any]]] = {}
    lines = []
    for result in sorted((r for r in results if r.ok), key=lambda r: r.run):
        key, config = (result.setting, result.method), sections(result)
        if key not in first:
            first[key] = result, config
            continue
        other, known = first[key]
        found = [
            f"{section}.{name}: {known[section][name]!r} -> {value!r}"
            for section in ("data", "model", "training", "evaluation")
            if isinstance(config.get(section), dict) and isinstance(known.get(section), dict)
            for name, value in sorted(config[section].items())
            if (section, name) not in SEED_ROW_FREE
            and name in known[section]
            and known[section][name] != value
        ]
        if found:
            lines.append(f"{result.run} against {other.run}: {'; '.join(found)}")
    return lines


def same_config(stored: dict[str, Any], current: dict[str, Any]) -> bool:
    """Whether a run recorded with ``stored`` config is a run of ``current``
    (``config_differences``)."""
    return not config_differences(stored, current)


def read_result(run: Run) -> RunResult | None:
    """The successful result of ``run``, or None (not run, or failed: it is run again).

    Raises ``ConfigMismatchError`` if the folder holds a run of another configuration.
    A result made under another epoch cap (``other_cap``) that stopped early within this
    run's cap is this run's: no cap ever bound it. One that failed is run again; one that
    reached a lower cap goes on from its kept checkpoint (None: ``train_and_score``), or
    without one is refused, as is one that trained more epochs than this run's cap.
    """
    path = run.folder / RESULT_FILE
    if not path.is_file():
        return None
    result = read_result_file(path)
    cap, epochs = other_cap(result.config, run), run.training["epochs"]
    if cap is None:
        refuse_other_config(result.config, run, f"{path} was made")
        return result if result.ok else None
    if not result.ok:
        return None
    if stopped_within(result.stopped_early, result.epochs_run, epochs):
        return result
    if cap < epochs and any(p.is_file() for p in run.checkpoints):
        return None
    why = (
        CAP_REACHED
        if cap < epochs
        else f"and trained {result.epochs_run}, more than the cap of {epochs}"
    )
    raise ConfigMismatchError(
        f"{path} was made with a cap of {cap} epochs, {why}; use another --out folder"
    )


def stored_results(runs: list[Run]) -> dict[str, RunResult | ConfigMismatchError | None]:
    """By run name, what each run's folder holds (``read_result``): its finished result,
    None, or the refusal of a run of another configuration, finished or only started
    (``started_cap``), or of a finished run scored on other dataset files than those
    its data options read now (``other_files``; not checked here for a run to score
    again, which ``rescore`` refuses alone)."""
    stored: dict[str, RunResult | ConfigMismatchError | None] = {}
    read_now: dict[str, list[dict[str, str]]] = {}
    for run in runs:
        try:
            stored[run.name] = finished = read_result(run)
            if finished is None:
                started_cap(run)
            elif not run.rescore:  # ``rescore`` refuses such a run alone, its result kept
                other_files(run, finished, read_now)
        except ConfigMismatchError as refusal:
            stored[run.name] = refusal
    return stored


def other_files(run: Run, finished: RunResult, read_now: dict[str, list[dict[str, str]]]) -> None:
    """Raise ``ConfigMismatchError`` where ``finished`` (``run``'s result) was scored on
    other dataset files (another variant, other content: ``known_files``) than those
    ``run``'s setting and data options read now, e.g. from another ``--data-root``: its
    scores are not this run's. ``read_now``: the files read so far, by data options (each
    setting's data are read once by a call of ``stored_results``)."""
    if not (recorded := known_files(finished)):
        return  # a result from before the files were recorded
    key = json.dumps([run.setting, run.data, run.data_root], sort_keys=True)
    if key not in read_now:
        read_now[key] = file_records(run.load_data())
    if changed := files_changed(recorded, read_now[key]):
        raise ConfigMismatchError(
            f"{run.folder / RESULT_FILE} was scored on other dataset files than those read "
            f"now ({changed}): restore them to keep it, or use another --out folder"
        )


def refuse_any(stored: dict[str, RunResult | ConfigMismatchError | None]) -> None:
    """Raise the first refusal among ``stored`` (``stored_results``), if any: a sweep or a
    grid search starts none of its runs then."""
    if refusal := next((r for r in stored.values() if isinstance(r, ConfigMismatchError)), None):
        raise refusal


def stopped_within(stopped_early: bool | None, epochs_run: int | None, cap: int) -> bool:
    """Whether a run that ran ``epochs_run`` epochs stopped early within ``cap``, so that
    it is the run of ``cap`` too, whatever cap it was made under: no cap ever bound it."""
    return bool(stopped_early) and (epochs_run or 0) <= cap


#: Why a run of a lower epoch cap cannot be taken to a higher one.
CAP_REACHED = (
    "which it reached, and kept no checkpoint to go on from (--keep-checkpoints keeps them)"
)


def other_cap(stored: dict[str, Any], run: Run) -> int | None:
    """The epoch cap of ``stored`` (a run's recorded config) where it is ``run``'s
    configuration under another cap, which the trainer can go on from where it is lower;
    else None. Not for posthoc runs, whose T was fitted to the CVAE as it was."""
    cap, current = stored.get("training", {}).get("epochs"), run.resolved()
    if source_method(run.method) or not isinstance(cap, int) or cap == run.training["epochs"]:
        return None
    other = {**current, "training": {**current["training"], "epochs": cap}}
    return None if config_differences(stored, other) else cap


def rescorable(changed: list[str]) -> bool:
    """Whether ``changed`` (``config_differences`` lines) are differences in evaluation
    settings alone, which scoring again applies (not ``figures``, which ``rescore`` does
    not draw)."""
    return bool(changed) and all(
        line.startswith("evaluation.") and not line.startswith("evaluation.figures")
        for line in changed
    )


#: The settings (``section.key``) in which the built-in protocols differ: runs refused for
#: several of these alone were made under another protocol.
PROTOCOL_KEYS = {
    f"{section}.{key}"
    for values in PROTOCOLS.values()
    for section in values
    for key in values[section]
}


def refuse_other_config(stored: dict[str, Any], run: Run, what: str) -> None:
    """Raise ``ConfigMismatchError`` naming the differences if ``stored`` (a run's recorded
    config) is not ``run``'s configuration (``config_differences``), except where only
    evaluation settings differ and ``run`` rescores all metrics from its kept model;
    ``what`` opens the message."""
    changed = config_differences(stored, run.resolved())
    scoring_only = rescorable(changed)
    if scoring_only and run.rescore == "all" and (run.folder / "model.pt").is_file():
        return  # scored again under the new settings, which its result then records
    if changed:
        hint = ""
        if scoring_only:
            hint = (
                "; --rescore (all metrics) scores finished runs again under the new "
                "evaluation settings where their model.pt was kept"
            )
        elif len(changed) >= 3 and {line.split(":")[0] for line in changed} <= PROTOCOL_KEYS:
            hint = (
                "; only settings that tell the built-in protocols apart differ: the runs "
                f"were made under another protocol (reproduce's default is {DEFAULT_PROTOCOL} "
                f"since 2026-12-05): name theirs with --protocol ({', '.join(PROTOCOLS)})"
            )
        raise ConfigMismatchError(
            f"{what} with a different configuration ({'; '.join(changed)}); "
            f"use another --out folder{hint}"
        )


def check_stopped_within(run: Run, cap: int) -> None:
    """Raise ``ConfigMismatchError`` unless the model ``run``'s folder holds, trained
    under the lower epoch ``cap`` and not scored, stopped early within ``run``'s cap (then
    it is this run's, as ``read_result`` takes such a result); one that reached its cap
    kept no checkpoint to go on from, and is left as it is."""
    history = run.load_model().fitted_history()
    if stopped_within(history.stopped_early, len(history.epochs), run.training["epochs"]):
        return
    raise ConfigMismatchError(
        f"{run.folder / 'model.pt'} was trained with a cap of {cap} epochs, {CAP_REACHED}; "
        "delete it to train the run anew, or use another --out folder"
    )


def started_cap(run: Run) -> int | None:
    """The lower epoch cap of the run started in ``run``'s folder (its ``config.json``),
    where it is ``run``'s configuration under that cap (``other_cap``), to go on from;
    None where none was started there, or under ``run``'s cap. Raises
    ``ConfigMismatchError`` where it is another configuration (``refuse_other_config``)."""
    config_path = run.folder / "config.json"
    if not config_path.is_file():
        return None
    stored = read_json_object(config_path, "run configuration")
    cap = other_cap(stored, run)
    if cap is None or cap > run.training["epochs"]:
        refuse_other_config(stored, run, f"{run.folder} was started")
        return None
    return cap


def execute(run: Run) -> RunResult:
    """Train and score ``run`` unless finished; returns its result (status ``ok`` or
    ``failed``, ``running`` when another process holds the run's lock or took it over
    while this one was paused, or ``stopped`` at
    ``run.stop_at``: not started, or its training or scoring left for the next sweep).

    With ``run.rescore``, a finished run is scored again where ``to_rescore`` says so
    (``rescore``); one left unscored at the time limit, or held by another process, is
    returned with its scores and the status ``stopped`` or ``running``. What fails
    outside training and scoring (a run's files unreadable or unwritable, a run started
    in its folder under another configuration) is a ``failed`` result naming the run and
    its traceback, not written, so that the sweep goes on and the next one tries again.
    """
    try:
        return _execute(run)
    except Exception as error:  # outside training (its files, its lock): the sweep goes on
        logger.error("%s failed outside its training", run.name, exc_info=True)  # shown
        result = run.result("failed", error=f"{type(error).__name__}: {error}")
        result.traceback = traceback.format_exc()
        return result  # not written: the folder may hold another configuration's run


def _execute(run: Run) -> RunResult:
    """``execute``, raising what fails outside a run's training and scoring."""
    load_plugins()  # a worker process's first run: the installed packages' methods
    finished = read_result(run)
    if finished is not None and not to_rescore(run, finished):
        return finished
    if run.threads:
        torch.set_num_threads(run.threads)
    token = CURRENT_RUN.set(run.name)

    def left(status: str, why: str) -> RunResult:
        if finished is None:
            return run.result(status, error=why)
        return replace(finished, status=status, error=f"not scored again: {why}")

    try:
        with stop_at(run.stop_at):
            if time_is_up():  # a finished run keeps its scores until a later --rescore
                why = stop_cause()
                return left("stopped", why if finished else f"not started: {why}")
            with run_lock(run.folder) as owner:
                if owner is not None:
                    return left("running", f"being trained by {owner}")
                finished = read_result(run)  # as the process that held the lock left it
                with abandon_if(lock_lost):  # taken over while this process was paused
                    if finished is None:
                        return train_and_score(run)
                    return rescore(run, finished) if to_rescore(run, finished) else finished
    finally:
        CURRENT_RUN.reset(token)


def train_and_score(run: Run) -> RunResult:
    """Train ``run`` (from its checkpoint or ``model.pt`` where they exist), score it and
    write its files; the caller holds the run's lock. At the time limit of the enclosing
    ``stop_at`` (``execute``) training stops with its checkpoint written, and a model
    trained by then is saved but not scored: the result is ``stopped`` and no result file
    is written, so the next sweep goes on. A run goes on from its checkpoint or model only
    on the dataset files its training started on (``training_start``). A run whose lock
    another process took over (``lock_lost``: this one was paused) stops as soon as it
    sees it, writing no model or result, failed or not: ``running``, as the other process
    holds it."""
    folder = run.folder
    config_path = folder / "config.json"
    # A run of another configuration is refused, its checkpoint and model kept. One under
    # a lower epoch cap goes on from its checkpoint where it has one, never from the model
    # of that cap, and only on the dataset files its training started on (else it fails,
    # its files left as they are). Its result, if any (``read_result``), is set aside
    # first, so that no sweep or rescoring takes the run for finished meanwhile.
    checkpoint, checkpoints = folder / "checkpoint.pt", run.checkpoints
    data = None
    if (cap := started_cap(run)) is not None:
        try:  # on the files it started on, else the run of the lower cap is left as it is
            data = run.load_data()
            started_on(folder, file_records(data))
        except Exception as error:
            why = f"not trained on past its cap of {cap} epochs: {type(error).__name__}: {error}"
            return run.result("failed", error=why)
        if any(path.is_file() for path in checkpoints) or not (folder / "model.pt").is_file():
            if (folder / RESULT_FILE).is_file():
                (folder / RESULT_FILE).replace(folder / f"result-epochs-{cap}.json")
            (folder / "model.pt").unlink(missing_ok=True)
        else:  # trained, not scored, nothing to go on from: scored if it is this run's
            check_stopped_within(run, cap)
    # Kept for a higher cap to go on from; a posthoc run never goes on (``other_cap``).
    discarded = () if run.keep_checkpoints and not source_method(run.method) else checkpoints
    write_text_atomic(config_path, json.dumps(run.resolved(), indent=2, sort_keys=True))
    remove_leftovers(folder)  # of writes cut off by a kill (the run's lock is held)
    reused_path = folder / REUSED_FILE  # the name of the CVAE run a posthoc run reused
    start = time.perf_counter()
    result = run.result("failed", config=run.resolved(), versions=versions())
    result.threads = torch.get_num_threads()
    try:
        data = data if data is not None else run.load_data()
        model_path = folder / "model.pt"
        going_on = model_path.is_file() or any(path.is_file() for path in checkpoints)
        device = run.training.get("device", "cpu")
        result.data_files = file_records(data)  # those its training started on, if it goes on
        if started := training_start(folder, result.data_files, device, going_on):
            result.started_by = {k: v for k, v in started.items() if k != "data_files"}
        if model_path.is_file():  # trained, then stopped or killed before its result
            try:
                model = run.load_model()
            except ModelFileError as error:
                kept = " from its checkpoint" if any(p.is_file() for p in checkpoints) else ""
                raise ModelFileError(
                    f"{error}; this run was trained but not scored: delete {model_path} to "
                    f"train it again{kept}"
                ) from None
            result.resumed_from_model = True
            if reused_path.is_file():
                result.cvae_reused = reused_path.read_text(encoding="utf-8")
            for path in discarded:  # if killed between model.pt and their removal
                path.unlink(missing_ok=True)
        else:
            # Without a validation split, epochs are chosen on the training ELBO; the
            # estimator binarises Bernoulli validation data once (``BaseModel.fit``).
            x_val, s_val = (data.val.X, data.val.s) if len(data.val.X) else (None, None)
            wait_for_first_stage(run)
            cvae_run = reusable_cvae(run, data)
            if cvae_run is not None:  # T alone is fitted, checkpointed in checkpoint.pt
                cvae = cvae_run.load_model()
                result.cvae_reused = cvae_run.name
                write_text_atomic(reused_path, cvae_run.name)

                posthoc = cast(type[PostHocOptimalPriorCVAE], METHODS[run.method])

                def train() -> BaseModel:
                    return posthoc.from_cvae(
                        cvae,
                        data.train.X,
                        data.train.s,
                        x_val,
                        s_val,
                        checkpoint,
                        progress=run.progress,
                        **prior_settings(run),
                    )
            else:
                reused_path.unlink(missing_ok=True)  # of an attempt that reused one

                def train() -> BaseModel:
                    return run_model(run).fit(data.train.X, data.train.s, x_val, s_val, checkpoint)

            # A run at its cap is marked so in the tables; a config file's settings go to
            # every method whose class reads them, whatever its estimator or schedule.
            with warnings_named(run.name):  # among a sweep's, each says which run it is of
                warnings.simplefilter("ignore", ConvergenceWarning)
                warnings.simplefilter("ignore", IgnoredSettingsWarning)
                model, refused, resumed = train_discarding(train, checkpoints)
            result.checkpoint_discarded = "; ".join(refused) or None
            result.resumed_from_checkpoint = resumed
            if refused and not resumed:  # trained anew: by this process
                result.started_by = training_start(folder, result.data_files, device, False)
            if lost := lock_lost():  # the model and result are the new owner's to write
                raise TrainingStopped(lost)
            model.save(model_path)
            for path in discarded:
                path.unlink(missing_ok=True)
            if time_is_up():
                raise TrainingStopped(f"trained, not scored: {stop_cause()}")
        history = model.fitted_history()
        write_text_atomic(folder / "curves.csv", curves_csv(history.epochs))
        if history.prior_epochs:  # the post-hoc prior's own fit
            write_text_atomic(folder / "prior_curves.csv", curves_csv(history.prior_epochs))
        logger.info("scoring")
        with interruptible("trained, not scored"):  # the next sweep scores model.pt
            result.metrics = evaluate(model, data, run.evaluation, run.seed)
        result.scored_at = _now()
        result.epochs_run = len(history.epochs)
        # Unlike wall_seconds, this counts the epochs trained before a resume too; a
        # reused CVAE's epochs are that run's.
        epochs = [] if result.cvae_reused else history.epochs
        epochs = [*epochs, *history.prior_epochs]
        result.training_seconds = sum(record.get("seconds", 0.0) for record in epochs)
        result.best_epoch = history.best_epoch
        result.stopped_early = history.stopped_early
        result.hit_epoch_cap = reached_epoch_cap(history, run.training["epochs"])
        if run.evaluation.figures and run.seed == 0:
            from optprior.experiments.figures import run_figures

            result.figures = run_figures(model, data, folder)
        result.status = "ok"
    except TrainingStopped as stopped:  # not a failure: nothing is written, to go on later
        return run.result("running" if lock_lost() else "stopped", error=str(stopped))
    except Exception as error:  # a failed run is recorded and the sweep goes on
        result.error = f"{type(error).__name__}: {error}"
        result.traceback = traceback.format_exc()
    result.wall_seconds = time.perf_counter() - start
    if lost := lock_lost():  # also of a failure it may have caused (files removed)
        return run.result("running", error=lost)
    write_result_file(folder, result)
    return result


def train_discarding(
    train: Callable[[], BaseModel], checkpoints: tuple[Path, ...]
) -> tuple[BaseModel, list[str], bool]:
    """``train()``, tried again after each checkpoint it refuses (``CheckpointError``:
    written by another optprior, damaged) is deleted: only that stage's file where the
    error names one of ``checkpoints`` (a post-hoc run's T: its CVAE's checkpoint, of a
    finished stage, is kept), else every one. Returns the model, the refusals, and
    whether the try that trained it went on from a checkpoint."""
    refused: list[str] = []
    while True:
        resumed = any(path.is_file() for path in checkpoints)
        try:
            return train(), refused, resumed
        except CheckpointError as error:
            bad = [error.path] if error.path in checkpoints else list(checkpoints)
            if not any(path is not None and path.is_file() for path in bad):
                raise  # nothing left to delete: not a checkpoint of this run
            refused.append(str(error))
            for path in bad:
                if path is not None:
                    path.unlink(missing_ok=True)


@contextmanager
def warnings_named(name: str) -> Iterator[None]:
    """Inside, a warning is shown as ``name: message`` when it is raised (its category,
    source line and filters unchanged); the warnings' state as it was afterwards."""
    with warnings.catch_warnings():
        shown = warnings.showwarning

        def show(message: Warning | str, *where: Any, **more: Any) -> None:
            shown(f"{name}: {message}", *where, **more)

        warnings.showwarning = show
        yield


def reached_epoch_cap(history: History, cap: int) -> bool:
    """Whether a fit ran every allowed epoch (``cap``) without early stopping, or a
    post-hoc T's own fit (``History.prior_epochs``, on the same cap) ran them all."""
    return (not history.stopped_early and len(history.epochs) >= cap) or len(
        history.prior_epochs
    ) >= cap


def run_model(run: Run) -> BaseModel:
    """The unfitted estimator of ``run``: its method with the settings it reads, the
    run's seed, device and progress bars."""
    method = METHODS[run.method]
    settings = {k: v for k, v in {**run.model, **run.training}.items() if method.reads_setting(k)}
    settings["seed"] = run.seed
    return method(device=run.training.get("device", "cpu"), progress=run.progress, **settings)


def is_unread_setting(key: str, method: str | None) -> bool:
    """Whether a model or training setting cannot change a run of
    ``method``: the device (where a run is made, not what it is) and the settings the
    method's class does not read (``BaseModel.reads_setting``); for an unknown method,
    only the device. (Settings T's schedule does not read are left out pairwise, by
    ``config_differences``.)"""
    if key == "device":
        return True
    return method in METHODS and not METHODS[method].reads_setting(key)


def without_unread(config: dict[str, Any], method: str | None) -> dict[str, Any]:
    """A resolved run config without the model and training settings ``method`` does
    not read (``is_unread_setting``)."""
    stripped = dict(config)
    for section in ("model", "training"):
        if isinstance(config.get(section), dict):
            stripped[section] = {
                k: v for k, v in config[section].items() if not is_unread_setting(k, method)
            }
    return stripped


def without_data_file(config: dict[str, Any]) -> dict[str, Any]:
    """A resolved run config without the path of a user's data file (``data.file``)."""
    data = config.get("data")
    if not isinstance(data, dict) or "file" not in data:
        return config
    return {**config, "data": {k: v for k, v in data.items() if k != "file"}}


def prior_settings(run: Run) -> dict[str, Any]:
    """The settings of a post-hoc run that its first stage does not read (T's)."""
    settings = {**run.model, **run.training}
    method = cast(type[PostHocOptimalPriorCVAE], METHODS[run.method])
    return {
        k: v
        for k, v in settings.items()
        if method.reads_setting(k) and not method.source.reads_setting(k)
    }


def source_method(method: str) -> str | None:
    """The method whose model is the first stage of a post-hoc ``method`` (``cvae`` for
    ``posthoc``, ``invariant`` for ``posthoc-invariant``); None for other methods."""
    model = METHODS[method]
    if not issubclass(model, PostHocOptimalPriorCVAE):
        return None
    return next(name for name, other in METHODS.items() if other is model.source)


def unshared_first_stages(runs: list[Run]) -> list[tuple[str, str, str, list[str]]]:
    """(setting, post-hoc method, source method, differences) for each post-hoc method
    of ``runs`` run beside its source method whose first stage is not the source's runs
    (``reusable_cvae``'s rule: ``source_stage`` configs that differ, e.g. another
    ``invariance_weight``), from each method's first run; each difference is a
    ``config_differences`` line from the source's value to the post-hoc method's. A
    table of the two side by side hides it."""
    first: dict[tuple[str, str], Run] = {}
    for run in runs:
        first.setdefault((run.setting, run.method), run)
    unshared = []
    for (setting, method), run in first.items():
        name = source_method(method)
        source = None if name is None else first.get((setting, name))
        if source is not None:
            stages = (source_stage(r.resolved(), source.method) for r in (source, run))
            differences = config_differences(*stages)
            if differences:
                unshared.append((setting, method, source.method, differences))
    return unshared


def source_stage(config: dict[str, Any], source: str) -> dict[str, Any]:
    """What of a resolved run config makes its first stage: method ``source``, only the
    settings it reads and no evaluation settings (scoring does not change the model)."""
    stage = {**without_unread(config, source), "method": source}
    stage.pop("evaluation", None)
    return stage


def first_stage_run(run: Run, source: str) -> Run:
    """The run of method ``source`` (``source_method``) and ``run``'s seed whose model a
    post-hoc ``run`` would reuse: under ``run.cvae_runs``, else ``run.out``."""
    return replace(run, method=source, out=run.cvae_runs or run.out)


#: How often (seconds) a post-hoc run looks whether its first stage's run has finished.
FIRST_STAGE_POLL_SECONDS = 10.0


def wait_for_first_stage(run: Run) -> None:
    """For a post-hoc run (``source_method``): wait while another process trains the run
    whose model would be its first stage (``reusable_cvae``: its source method and seed,
    the same first-stage settings), holding that run's lock, so that the model is reused
    rather than trained again beside it (a sweep of several jobs starts the post-hoc runs
    last, maybe before their first stages end); until the time limit (``time_is_up``) or
    the loss of this run's own lock, which raise ``TrainingStopped``."""
    source = source_method(run.method)
    if source is None:
        return
    folder = first_stage_run(run, source).folder
    wanted, said = source_stage(run.resolved(), source), False
    while holder(folder / "lock") not in (None, GONE):
        config_path = folder / "config.json"  # absent while the run's process starts
        if config_path.is_file():
            stored = read_json_object(config_path, "run configuration")
            if not same_config(source_stage(stored, source), wanted):
                return
        if lost := lock_lost():  # the run is the other process's now
            raise TrainingStopped(lost)
        if time_is_up():  # not to train a first stage of its own beside
            raise TrainingStopped(f"not started: {stop_cause()} while {folder} trained")
        if not said:
            logger.info("waiting for %s, its first stage, to finish training", folder)
            said = True
        time.sleep(FIRST_STAGE_POLL_SECONDS)


def reusable_cvae(run: Run, data: MultiTaskData | None = None) -> Run | None:
    """For a post-hoc run (``source_method``): the finished run of its source method
    (``cvae``, ``invariant``) and seed under ``run.cvae_runs`` (default ``run.out``) whose
    configuration equals the run's in everything but the discriminator and evaluation
    settings, and the epoch cap where it stopped early within the run's
    (``read_result``), and which read the files of ``data`` (where both are known); its
    model is the first stage. Else None, with a warning where ``run.cvae_runs`` was given
    (the run then trains its own first stage)."""
    source = source_method(run.method)
    if source is None:
        return None
    cvae_run = first_stage_run(run, source)
    path = cvae_run.folder / RESULT_FILE
    why = None
    if not (path.is_file() and (cvae_run.folder / "model.pt").is_file()):
        why = f"no finished run kept whole (result.json and model.pt) in {cvae_run.folder}"
    elif not (stored := read_result_file(path)).ok:
        why = f"{cvae_run.folder} failed"
    else:
        stage = source_stage(stored.config, source)
        wanted = source_stage(run.resolved(), source)
        if stopped_within(stored.stopped_early, stored.epochs_run, run.training["epochs"]):
            stage["training"] = {**stage.get("training", {}), "epochs": run.training["epochs"]}
        # the files its model was trained on, not those a rescoring scored it on
        changed = "" if data is None else files_changed(stored.data_files, file_records(data))
        if changed:
            why = f"{cvae_run.folder} read other dataset files ({changed})"
        elif same_config(stage, wanted):
            return cvae_run
        else:
            why = f"{cvae_run.folder} was made with other settings"
    if run.cvae_runs:
        warnings.warn(
            f"--cvae-runs {run.cvae_runs}: {why}; {run.name} trains its own first stage",
            stacklevel=2,
        )
    return None


#: What ``--rescore`` scores again: every metric, or only ln Z of the optimal prior and
#: the likelihoods it normalises (``evaluate.renormalized``: seconds, not the minutes of
#: the importance-sampled likelihoods).
RESCORE = ("all", "normalizer")


def to_rescore(run: Run, finished: RunResult) -> bool:
    """Whether ``--rescore`` scores the finished run again: with ``run.rescore`` set, its
    ``model.pt`` kept, something to score (``normalizer``: a run with a T, whose ln Z
    divides its prior) and, within a request (``run.rescore_request``), not yet scored
    by it (or trained and scored after it began, by the code that made it: a sweep of it
    cut short), or scored under other evaluation settings (``rescorable``)."""
    if not run.rescore or not (run.folder / "model.pt").is_file():
        return False
    if run.rescore == "normalizer" and finished.metrics.get("prior_log_normalizer") is None:
        return False  # no T: nothing is divided by Z
    if run.rescore == "all" and rescorable(config_differences(finished.config, run.resolved())):
        return True  # scored under other evaluation settings, whatever the request says
    request = run.rescore_request
    if request is None:
        return True
    if finished.rescored is None:
        scored = finished.scored_at
        return not (scored is not None and scored >= request and finished.versions == versions())
    return finished.rescored.get("request") != request


def _now() -> str:
    """The time now, ISO 8601 in UTC to the microsecond."""
    return datetime.now(timezone.utc).isoformat()


@dataclass(frozen=True)
class RescoreRequest:
    """One ``--rescore`` of an output folder, kept until every run it asked for is scored
    again, so that a rescoring cut short (a time limit, a kill) goes on with the runs it
    had not reached instead of starting over: ``<out>/rescore-<metrics>.json`` holds the
    request's start, which names it, and the ``versions`` of the code that made it; a run
    whose ``rescored["request"]`` is that name is done (``to_rescore``). One request
    serves every sweep of the folder: the first to leave none of its runs to score again
    ends it."""

    out: Path
    metrics: str  # one of ``RESCORE``

    @property
    def path(self) -> Path:
        return self.out / f"rescore-{self.metrics}.json"

    def open(self) -> str:
        """The start of the unfinished request made by the same code (``versions``), or of
        a new one (written now): after a change to the code every run is scored again. Of
        sweeps that open a request at once, the first to write it makes it for all."""
        exists = self.path.is_file()
        if exists:
            try:
                stored = json.loads(self.path.read_text(encoding="utf-8"))
                started, made_by = str(stored["started"]), stored["versions"]
            except (ValueError, KeyError, TypeError) as error:
                raise ValueError(
                    f"{self.path} cannot be read ({error}); delete it to rescore every run"
                ) from None
            if made_by == versions():
                logger.warning(
                    "going on with the --rescore %s of %s: runs it scored again are kept "
                    "(delete %s to score every run again)",
                    self.metrics,
                    started,
                    self.path,
                )
                return started
        started = _now()
        self.out.mkdir(parents=True, exist_ok=True)
        request = {"metrics": self.metrics, "started": started, "versions": versions()}
        try:  # replacing only the request of other code
            write_text_atomic(self.path, json.dumps(request, indent=2), exclusive=not exists)
        except FileExistsError:  # another sweep opened one meanwhile
            return self.open()
        return started

    def close(self, runs: Iterable[Run], trained: Iterable[str] = ()) -> list[str]:
        """The names of ``runs`` still to score again (not counting those ``trained``, and
        so scored, by the request's sweeps); once none is left the request is over and
        its file removed (the next ``--rescore`` scores every run again)."""
        trained = set(trained)
        left = [
            run.name
            for run in runs
            if run.name not in trained
            and (finished := read_result(run)) is not None
            and to_rescore(run, finished)
        ]
        if not left:
            self.path.unlink(missing_ok=True)
        return left


def rescore(run: Run, finished: RunResult) -> RunResult:
    """``finished`` with its metrics (``run.rescore``: all, or those of ln Z) recomputed
    by the current code from ``model.pt``.

    The result file is replaced only on success; a failure is returned, not written.
    """
    start = time.perf_counter()
    logger.info("scoring again from model.pt" + (" (ln Z)" if run.rescore == "normalizer" else ""))
    try:
        model, data = run.load_model(), run.load_data()
        files = file_records(data)
        if changed := files_changed(known_files(finished), files):
            raise ValueError(
                "its dataset files are not those it was trained (or last scored) on: a "
                f"variant, or other content, now comes first: {changed}"
            )
        with interruptible("not scored again"):  # it keeps its scores until the next
            if run.rescore == "normalizer":
                metrics = renormalized(
                    model, data, finished.metrics, run.seed, run.evaluation.normalizer_temperatures
                )
            else:
                metrics = evaluate(model, data, run.evaluation, run.seed)
    except TrainingStopped as stopped:
        return replace(finished, status="stopped", error=str(stopped))
    except Exception as error:
        return run.result("failed", error=f"{type(error).__name__}: {error}")
    rescored = {
        "metrics": run.rescore,
        "at": _now(),
        "request": run.rescore_request,
        "versions": versions(),
        "seconds": time.perf_counter() - start,
        "threads": torch.get_num_threads(),
        "device": run.training.get("device", "cpu"),
        "data_files": files,
    }
    if finished.rescored:  # the record of an earlier rescoring is kept inside this one
        rescored["earlier"] = finished.rescored
    config = run.resolved()  # of the new evaluation settings; trained where it was
    if finished.device:
        config["training"] = {**config["training"], "device": finished.device}
    result = replace(finished, config=config, metrics=metrics, rescored=rescored)
    if lost := lock_lost():
        return replace(finished, status="running", error=f"not scored again: {lost}")
    write_result_file(run.folder, result)
    return result


def curves_csv(epochs: list[dict[str, float]]) -> str:
    """Per-epoch training records as CSV text."""
    columns = sorted({key for record in epochs for key in record})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["epoch", *(c for c in columns if c != "epoch")])
    writer.writeheader()
    writer.writerows(epochs)
    return buffer.getvalue()


Executor = Callable[[list[Run], Callable[[RunResult], None]], None]


def run_sweep(
    runs: Iterable[Run],
    executor: Executor,
    on_result: Callable[[RunResult], None] | None = None,
) -> list[RunResult]:
    """Execute the unfinished runs; return every run's result (finished ones included)."""
    runs = list(runs)
    results = []
    todo = []
    for run in runs:
        finished = read_result(run)
        if finished is None or to_rescore(run, finished):
            todo.append(run)
        else:
            results.append(finished)

    def done(result: RunResult) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)

    if todo:
        executor(todo, done)
    return results
