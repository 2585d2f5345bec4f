"""Penalty weights chosen on validation data (``reproduce``/``compare --tune``): each weight
of a method's grid is trained on the sweep's seeds, and the one with the best mean
validation ln p(x|s) is kept (or, with ``within``, the largest weight whose mean is within
that many nats of the best: a penalty's likelihood cost accepted knowingly), written as a
``[method.NAME]`` table for ``--config``."""

from __future__ import annotations

import json
import math
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from optprior._io import write_text_atomic
from optprior.experiments.config import (
    DEFAULT_PROTOCOL_SINCE,
    FORMER_DEFAULT_PROTOCOL,
    ExperimentConfig,
    read_config_file,
)
from optprior.experiments.markdown import markdown_row, markdown_rule
from optprior.experiments.records import RunResult
from optprior.experiments.runner import (
    Executor,
    Run,
    plan,
    read_result,
    refuse_any,
    run_sweep,
    source_method,
    stored_results,
)
from optprior.models import METHODS
from optprior.models.selection import WEIGHT, best_weight

#: The score that chooses: the prior-normalised validation ln p(x|s) of the sweep's seeds,
#: averaged (``models.selection.best_weight``).
SCORE = "val_log_likelihood"
SCORE_TITLE = "validation ln p(x|s), prior normalised (nats)"


def weight_grid(text: str) -> tuple[str, list[float]]:
    """The argparse type of ``--tune``: ``METHOD=W1,W2,...`` with a penalised method and
    finite weights >= 0."""
    method, _, weights = text.partition("=")
    if method not in METHODS or not METHODS[method].reads_setting(WEIGHT):
        penalised = sorted(m for m in METHODS if METHODS[m].reads_setting(WEIGHT))
        raise ValueError(f"--tune takes METHOD=W1,W2,... of {', '.join(penalised)}; got {text!r}")
    try:
        grid = [float(w) for w in weights.split(",")]
    except ValueError:
        grid = []
    if not grid or not all(math.isfinite(w) and w >= 0 for w in grid):
        raise ValueError(f"--tune {method}= takes weights >= 0 separated by commas; got {text!r}")
    return method, sorted(set(grid))


def grid_runs(
    config: ExperimentConfig, grid: dict[str, list[float]], out: Path, **options: Any
) -> dict[tuple[str, float], list[Run]]:
    """The runs of each (method, weight) of ``grid`` on ``config``'s seeds, each point in a
    sweep folder of its own: ``out/tune/METHOD-WEIGHT`` (the weight as Python writes it,
    so that two weights never share one)."""
    runs = {}
    for method, weights in grid.items():
        for weight in weights:
            own = {**config.method.get(method, {}), WEIGHT: weight}
            point = replace(config, methods=[method], method={**config.method, method: own})
            runs[(method, weight)] = plan(point, out / "tune" / f"{method}-{weight!r}", **options)
    return runs


def tune(
    configs: list[ExperimentConfig],
    grid: dict[str, list[float]],
    out: Path,
    executor: Executor,
    within: float = 0.0,
    protocol: str | None = None,
    **options: Any,
) -> tuple[str, list[RunResult], bool]:
    """Train every point of ``grid`` on each config's seeds (finished runs are kept; a
    failed one is named), add the chosen weights of each setting to the ``[method.NAME]``
    tables of ``out/tune/SETTING.toml`` and return a Markdown report (the mean validation
    score of each weight, and the chosen one: ``best_weight`` with ``within``; none where
    a point has an unfinished run), the grid runs' results and whether every method has a
    choice. ``protocol`` (that of a paper setting's configs; for one's own data, the one
    named, else None: the estimators' defaults) is written as the file's top-level
    ``protocol``, so that passing the file as ``--config`` runs the chosen weights under
    the protocol they were chosen under."""
    report, results, complete = [], [], True

    def failed(result: RunResult) -> None:
        if not result.ok:
            tqdm.write(f"run {result.run} {result.status}: {result.error}", file=sys.stderr)

    paths = {config.setting: out / "tune" / f"{config.setting}.toml" for config in configs}
    earlier = {setting: _read_before(path, protocol) for setting, path in paths.items()}
    planned = {config.setting: grid_runs(config, grid, out, **options) for config in configs}
    # Every earlier file read and every grid run's folder seen first: a refusal (another
    # configuration, other dataset files) costs no training.
    refuse_any(
        stored_results([run for runs in planned.values() for p in runs.values() for run in p])
    )
    for config in configs:
        path, before, runs = paths[config.setting], earlier[config.setting], planned[config.setting]
        swept = run_sweep([run for point in runs.values() for run in point], executor, failed)
        results += swept
        rows, chosen, shared, diverged = [], {}, {}, False
        for method, weights in grid.items():
            scores = {w: _mean_score(runs[(method, w)]) for w in weights}
            best = best_weight(scores, within)
            if best is not None:
                chosen[method] = best
            complete &= best is not None
            cells = [_score_cell(s) for s in scores.values()]
            diverged |= any(s is not None and not math.isfinite(s) for s in scores.values())
            row = ", ".join(f"{c} ({w!r})" for c, w in zip(cells, weights, strict=True))
            rows.append(markdown_row([method, row, "" if best is None else repr(best)]))
            for dependent in _post_hoc_of(method):  # its first stage: the same weight
                if best is not None and dependent not in grid:
                    chosen[dependent] = best
                    shared[dependent] = f"{dependent} takes {method}'s weight (its first stage)"
        rule = f"chosen (the largest within {within:g} nats of the best)" if within else "chosen"
        heading = ["method", f"mean {SCORE_TITLE}, at each weight", rule]
        report += [f"### {config.setting}: seeds {config.seed_numbers()}\n"]
        report += [markdown_row(heading), markdown_rule(3), *rows, ""]
        report += [f"{NOT_FINITE}\n"] if diverged else []
        report += [f"{'; '.join(shared.values())}\n"] if shared else []
        if chosen:
            tables = before | {m: {WEIGHT: w} for m, w in chosen.items()}
            text = [f"[method.{m}]\n{WEIGHT} = {own[WEIGHT]!r}\n" for m, own in tables.items()]
            if protocol is not None:
                text.insert(0, f"protocol = {json.dumps(protocol)}\n")
            write_text_atomic(path, "\n".join(text))
            methods = ",".join(m for m in tables if not _follows_its_source(m, tables))
            report += [
                f"chosen weights in {path}: copy its tables into your --config file (or pass "
                f"it as --config where you have none) and run the sweep with --methods "
                f"{methods} (and any others)\n"
            ]
    return "\n".join(report), results, complete


def _post_hoc_of(method: str) -> list[str]:
    """The post-hoc methods whose first stage is ``method`` (``posthoc-invariant`` for
    ``invariant``) and that read its weight."""
    return [m for m in METHODS if source_method(m) == method and METHODS[m].reads_setting(WEIGHT)]


def _follows_its_source(method: str, tables: dict[str, dict[str, Any]]) -> bool:
    """Whether ``method``'s table only repeats its source method's weight (the post-hoc
    table a tuned source writes), so that the sweep need not name it."""
    source = source_method(method)
    return source in tables and tables[source] == tables[method]


def _read_before(path: Path, protocol: str | None) -> dict[str, dict[str, Any]]:
    """The ``[method.NAME]`` tables an earlier ``--tune`` wrote to ``path`` (none if absent),
    so that tuning one method after another keeps each choice; refused where that tuning
    ran under another protocol than ``protocol`` (the file could name only one)."""
    if not path.is_file():
        return {}
    earlier = read_config_file(path)
    named = earlier.get("protocol")
    if named is None and protocol is not None:
        raise ValueError(
            f"{path} names no protocol (written before --tune recorded it): add a first line "
            f'protocol = "..." naming the one its weights were tuned under (the default was '
            f'"{FORMER_DEFAULT_PROTOCOL}" before {DEFAULT_PROTOCOL_SINCE}), or choose another '
            "--out"
        )
    if named != protocol:
        raise ValueError(
            f"{path} holds weights tuned under protocol {named!r}, and this --tune runs "
            f"under {protocol!r}: choose another --out, or remove the file"
        )
    return dict(earlier.get("method", {}))


#: Under a tuning report where a weight's mean score is NaN or infinite (``_score_cell``).
NOT_FINITE = (
    "\\* not finite: a run's score at that weight is NaN or infinite (its training or its "
    "estimate diverged), so the weight is not chosen"
)


def _score_cell(score: float | None) -> str:
    """A weight's mean score in the tuning report, marked where it is not finite."""
    if score is None:
        return "not finished"
    return f"{score:.2f}" + ("" if math.isfinite(score) else "\\*")


def _mean_score(runs: list[Run]) -> float | None:
    """The mean ``SCORE`` of ``runs`` from their folders' results (a run's name is the
    same at every weight of the grid: only its folder tells them apart), None unless every
    one finished with one."""
    scores = []
    for run in runs:
        result = read_result(run)
        score = None if result is None else result.metric(SCORE)
        if score is None:
            return None
        scores.append(score)
    return float(np.mean(scores)) if scores else None
