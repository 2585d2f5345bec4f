"""``optprior reproduce`` and ``compare``: sweeps over settings, methods and seeds, then
tables."""

from __future__ import annotations

import json
import sys
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from optprior._io import write_text_atomic
from optprior._text import counted
from optprior.data import SETTINGS, load_setting
from optprior.experiments.config import ExperimentConfig, quick_overrides, resolve
from optprior.experiments.figures import save_figure
from optprior.experiments.paired_figure import paired_figure
from optprior.experiments.records import RESULT_FILE, RunResult, read_result_file
from optprior.experiments.results_figure import results_figure
from optprior.experiments.runner import (
    ConfigMismatchError,
    Executor,
    RescoreRequest,
    Run,
    plan,
    refuse_any,
    run_sweep,
    stored_results,
    unlike_pairs,
    unlike_seeds,
    unshared_first_stages,
)
from optprior.experiments.status import record_plan
from optprior.experiments.tables import (
    NothingToDraw,
    budgets,
    csv_table,
    markdown_table,
    paired_table,
    runs_table,
    summarize,
)
from optprior.experiments.tradeoff_figure import tradeoff_figure

RESULTS_FIGURE = "results.png"
PAIRED_FIGURE = "paired.png"
TRADEOFF_FIGURE = "tradeoff.png"


def configs_for(
    setting: str,
    quick: bool = False,
    file_overrides: dict[str, Any] | None = None,
    cli_overrides: dict[str, Any] | None = None,
    protocol: str | None = None,
) -> list[ExperimentConfig]:
    """Resolved configs: the protocol's defaults (``resolve``: ``protocol``, else the one
    the config file names, else ``DEFAULT_PROTOCOL``), then ``--quick``, then the config
    file (where both set a value, the file's: ``quick_settings_overridden``), then the
    CLI."""
    names = SETTINGS if setting == "all" else (setting,)
    file_overrides = dict(file_overrides or {})
    wanted = file_overrides.pop("setting", None)
    if wanted is not None and wanted != setting:
        raise ValueError(f"the config file is for setting {wanted!r}, not {setting!r}")
    return [
        resolve(
            name,
            quick_overrides(name) if quick else {},
            file_overrides,
            cli_overrides or {},
            protocol=protocol,
        )
        for name in names
    ]


def reproduce(
    configs: list[ExperimentConfig],
    out: Path,
    executor: Executor,
    data_root: str | None = None,
    progress: bool = True,
    jobs: int = 1,
    rescore: str | None = None,
    cvae_runs: Path | None = None,
    stop_at: float | None = None,
    keep_checkpoints: bool = False,
) -> list[RunResult]:
    """Run every unfinished run of ``configs`` and write ``results.md`` / ``results.csv``.

    ``rescore``: also score the finished runs again from their saved models (all
    metrics, or ``"normalizer"``: ln Z alone; ``runner.RESCORE``).
    ``cvae_runs``: where ``posthoc`` runs look for finished CVAE runs (default ``out``).
    ``stop_at``: the ``time.time()`` at which runs stop, resumable (``runner.execute``).
    ``keep_checkpoints``: keep finished runs' checkpoints, from which the same configs
    under a higher epoch cap go on (``runner.read_result``).
    """
    check_data(configs, data_root)
    options = {
        "data_root": data_root,
        "progress": progress and jobs == 1,
        "rescore": rescore,
        "cvae_runs": None if cvae_runs is None else str(cvae_runs),
        "stop_at": stop_at,
        "keep_checkpoints": keep_checkpoints,
    }
    runs = [run for config in configs for run in plan(config, out, **options)]
    return sweep(runs, out, executor, progress)


def check_data(configs: list[ExperimentConfig], data_root: str | None) -> None:
    """Load each setting's data once (the first seed's splits) before any run starts, so
    that a missing or corrupt file stops the sweep with one error naming the file and the
    data root, before any run folder or table is written (``DatasetNotFoundError``,
    ``CorruptDatasetError``). Says which files each setting reads: a dataset's variants
    (USPS's h5 or libsvm, UMist's original or 32 x 32 copy) hold other pixels."""
    checked = set()
    for config in configs:
        key = json.dumps([config.setting, config.data], sort_keys=True)
        if key not in checked:
            data = load_setting(config.setting, 0, data_root, **config.data)
            files = ", ".join(f"{f.dataset}/{f.name} ({f.variant})" for f in data.files)
            tqdm.write(f"{config.setting} reads {files}", file=sys.stderr)
            checked.add(key)


def sweep(runs: list[Run], out: Path, executor: Executor, progress: bool = True) -> list[RunResult]:
    """Run every unfinished run of ``runs`` (all written under ``out``), then write the
    tables of every run in ``out``; returns this sweep's results.

    Runs with ``rescore`` are scored again within one ``RescoreRequest`` of ``out``: the
    unfinished one, if a rescoring was cut short, so that finished rescorings are kept.
    """
    stored = stored_results(runs)
    tqdm.write(describe_plan(runs, stored), file=sys.stderr)  # even quiet: what --seeds N meant
    refuse_any(stored)  # before anything is written
    unfinished = {name for name, result in stored.items() if result is None}  # scored when trained
    kind = next((run.rescore for run in runs if run.rescore), None)
    request = None if kind is None else RescoreRequest(out, kind)
    if request is not None:
        started = request.open()
        runs = [replace(run, rescore_request=started) for run in runs]
        unkept = [  # a run without T has no ln Z for "normalizer" to score again
            run.name
            for run in runs
            if isinstance(finished := stored[run.name], RunResult)
            and not (run.folder / "model.pt").is_file()
            and (kind == "all" or finished.metrics.get("prior_log_normalizer") is not None)
        ]
        if unkept:
            shown = ", ".join(unkept[:5]) + (", ..." if len(unkept) > 5 else "")
            tqdm.write(
                f"warning: --rescore: not scored again, having kept no model.pt (their "
                f"scores stay as they were): {shown} ({counted(len(unkept), 'run')})",
                file=sys.stderr,
            )
    for setting, method, source, differences in unshared_first_stages(runs):
        tqdm.write(
            f"warning: {setting}: {method} trains a first stage of its own rather than reuse "
            f"the {source} runs, as their settings differ ({source}'s -> {method}'s: "
            f"{'; '.join(differences)}): give [method.{method}] the same values as "
            f"[method.{source}] to pair them",
            file=sys.stderr,
        )
    try:
        record_plan([run.name for run in runs], out)
    except OSError as error:  # the plan only serves ``optprior status``
        tqdm.write(
            f"the runs' plan was not saved, so optprior status lists them once started: {error}",
            file=sys.stderr,
        )
    bar = tqdm(total=len(runs), desc="runs", unit="run", disable=not progress)

    def on_result(result: RunResult) -> None:
        bar.update()
        bar.set_postfix_str(f"{result.run}: {result.status}")
        if result.status in ("running", "stopped"):
            tqdm.write(f"run {result.run} {result.status}: {result.error}")
        elif not result.ok:
            tqdm.write(f"run {result.run} failed: {result.error}")

    results = run_sweep(runs, executor, on_result)
    bar.update(len(runs) - bar.n)
    bar.close()
    if request is not None and (left := request.close(runs, unfinished)):
        tqdm.write(
            f"{counted(len(left), 'run')} not scored again yet (--rescore {request.metrics} of "
            f"{started}, {request.path}); the same command goes on with them"
        )
    write_tables(collect(out), out)  # every setting ever run into ``out``
    return results


def describe_plan(
    runs: list[Run], stored: dict[str, RunResult | ConfigMismatchError | None]
) -> str:
    """One line naming a sweep's runs, e.g. ``6 runs planned (2 finished): usps-mnist:
    cvae, optimal; seeds 0-2``, from what their folders hold (``stored_results``), the
    runs refused (of another configuration, or scored on other dataset files) counted
    apart (the sweep itself then says why)."""
    finished = sum(isinstance(result, RunResult) for result in stored.values())
    other = sum(isinstance(result, ConfigMismatchError) for result in stored.values())
    groups: dict[str, tuple[list[str], list[int]]] = {}
    for run in runs:
        methods, seeds = groups.setdefault(run.setting, ([], []))
        methods.extend([run.method] if run.method not in methods else [])
        seeds.extend([run.seed] if run.seed not in seeds else [])
    parts = [
        f"{setting}: {', '.join(methods)}; {_seed_ranges(seeds)}"
        for setting, (methods, seeds) in groups.items()
    ]
    done = f"{finished} finished" + (f", {other} refused" if other else "")
    return f"{counted(len(runs), 'run')} planned ({done}): {' | '.join(parts)}"


def _seed_ranges(seeds: list[int]) -> str:
    """``seed 4``, ``seeds 0-4`` or ``seeds 0, 2-3``."""
    spans: list[list[int]] = []
    for seed in sorted(seeds):
        if spans and seed == spans[-1][1] + 1:
            spans[-1][1] = seed
        else:
            spans.append([seed, seed])
    text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)
    return f"seed{'s' if len(seeds) > 1 else ''} {text}"


def collect(out: Path) -> list[RunResult]:
    """Every run's result under ``out`` (``<setting>/<method>/seed-<k>/result.json``)."""
    return [read_result_file(p) for p in sorted(out.glob(f"*/*/seed-*/{RESULT_FILE}"))]


def write_tables(results: list[RunResult], out: Path) -> None:
    """``results.md`` (summary table, one row per run, figure links), ``results.csv`` and,
    once a run has finished, ``results.png`` (``results_figure``) under ``out``; once a
    method shares a finished seed with the CVAE, ``paired.png`` (``paired_figure``) and,
    where those seeds have the task probe, ``tradeoff.png`` (``tradeoff_figure``)."""
    for line in unlike_pairs(results):  # e.g. a quick run published beside full ones
        warnings.warn(f"{out}: paired by seed though they differ: {line}", stacklevel=2)
    unlike = unlike_seeds(results)  # e.g. a sweep of other settings into the same folder
    for line in unlike:
        warnings.warn(f"{out}: averaged as seeds though they differ: {line}", stacklevel=2)
    rows = summarize(results)
    figures = []
    for result in sorted(results, key=lambda r: r.run):
        for name in result.figures:
            figures.append(f"- {result.run}: [{name}]({result.run}/{name})")
    write_text_atomic(out / "results.csv", csv_table(rows))
    text = "# Results\n\n" + markdown_table(rows, budgets(results))
    if unlike:
        text += (
            "\nAveraged as seeds of one row though their configurations differ in more "
            "than the seed:\n\n" + "".join(f"- {line}\n" for line in unlike)
        )
    try:
        save_figure(results_figure(results, title=out.resolve().name), out / RESULTS_FIGURE)
        text += f"\n![every run by setting and method]({RESULTS_FIGURE})\n"
    except NothingToDraw:  # no finished run has a score to draw yet
        (out / RESULTS_FIGURE).unlink(missing_ok=True)  # of runs since failed, say
    paired = paired_table(results)
    if paired:
        text += (
            "\n## Against the CVAE, seed by seed\n\nMethod minus CVAE on the same seed "
            "(the same data split): mean ± standard error (seeds above / below, of those "
            "both finished).\n\n"
        )
        try:
            save_figure(paired_figure(results, title=out.resolve().name), out / PAIRED_FIGURE)
            text += f"![each method minus the CVAE]({PAIRED_FIGURE})\n\n"
        except NothingToDraw:  # none of the figure's metrics is shared with the CVAE
            (out / PAIRED_FIGURE).unlink(missing_ok=True)
        try:
            save_figure(tradeoff_figure(results, title=out.resolve().name), out / TRADEOFF_FIGURE)
            text += f"![likelihood against task dependence]({TRADEOFF_FIGURE})\n\n"
        except NothingToDraw:  # no run scored both the task probe and the likelihood
            (out / TRADEOFF_FIGURE).unlink(missing_ok=True)
        text += paired
    else:  # no figure of a pairing that is gone stays beside the tables
        for name in (PAIRED_FIGURE, TRADEOFF_FIGURE):
            (out / name).unlink(missing_ok=True)
    text += "\n## Runs\n\n" + runs_table(results)
    if figures:
        text += "\n## Figures\n\n" + "\n".join(figures) + "\n"
    write_text_atomic(out / "results.md", text)
