"""Penalty weights chosen on validation data (``reproduce``/``compare --tune``): each weight
of a method's grid is trained on the sweep's seeds, and the one with the best mean
validation ln p(x|s) is kept, written as a ``[method.NAME]`` table to pass as ``--config``."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from optprior._io import write_text_atomic
from optprior.experiments.config import ExperimentConfig
from optprior.experiments.markdown import markdown_row, markdown_rule
from optprior.experiments.runner import Executor, Run, plan, read_result, run_sweep
from optprior.models import METHODS

#: The setting a grid varies, and the score that chooses (the prior-normalised validation
#: ln p(x|s) of the sweep's seeds, averaged).
WEIGHT, SCORE = "invariance_weight", "val_log_likelihood"


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
    sweep folder of its own: ``out/tune/METHOD-WEIGHT``."""
    runs = {}
    for method, weights in grid.items():
        for weight in weights:
            own = {**config.method.get(method, {}), WEIGHT: weight}
            point = replace(config, methods=[method], method={**config.method, method: own})
            runs[(method, weight)] = plan(point, out / "tune" / f"{method}-{weight:g}", **options)
    return runs


def tune(
    configs: list[ExperimentConfig],
    grid: dict[str, list[float]],
    out: Path,
    executor: Executor,
    **options: Any,
) -> tuple[str, bool]:
    """Train every point of ``grid`` on each config's seeds (finished runs are kept), write
    the chosen weights of each setting to ``out/tune/SETTING.toml`` and return a Markdown
    report (the mean validation score of each weight, and the chosen one: the best mean;
    none where a point has an unfinished run) and whether every method has one."""
    report, complete = [], True
    for config in configs:
        runs = grid_runs(config, grid, out, **options)
        run_sweep([run for point in runs.values() for run in point], executor)
        rows, chosen = [], {}
        for method, weights in grid.items():
            scores = {w: _mean_score(runs[(method, w)]) for w in weights}
            finished = {w: s for w, s in scores.items() if s is not None}
            best = max(finished, key=finished.__getitem__) if len(finished) == len(scores) else None
            if best is not None:
                chosen[method] = best
            complete &= best is not None
            cells = [f"{s:.2f}" if s is not None else "not finished" for s in scores.values()]
            row = ", ".join(f"{c} ({w:g})" for c, w in zip(cells, weights, strict=True))
            rows.append(markdown_row([method, row, "" if best is None else f"{best:g}"]))
        heading = ["method", f"mean {SCORE} at each weight", "chosen"]
        report += [f"### {config.setting}: seeds {config.seed_numbers()}\n"]
        report += [markdown_row(heading), markdown_rule(3), *rows, ""]
        if chosen:
            path = out / "tune" / f"{config.setting}.toml"
            tables = [f"[method.{m}]\n{WEIGHT} = {w!r}\n" for m, w in chosen.items()]
            write_text_atomic(path, "\n".join(tables))
            report += [f"chosen weights in {path} (pass it as --config, or copy its tables)\n"]
    return "\n".join(report), complete


def _mean_score(runs: list[Run]) -> float | None:
    """The mean ``SCORE`` of ``runs``, None unless every one finished with one."""
    scores = []
    for run in runs:
        result = read_result(run)
        score = None if result is None else result.metric(SCORE)
        if score is None:
            return None
        scores.append(score)
    return float(np.mean(scores)) if scores else None
