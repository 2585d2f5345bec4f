"""The results figure: every finished run's scores by setting and method, seeds paired,
the paper's mean beside them."""

from __future__ import annotations

import math
import re
from collections import defaultdict

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from optprior.experiments.paper import PUBLISHED
from optprior.experiments.records import RunResult
from optprior.experiments.tables import method_position

#: Rows of the figure: (metric key, axis label).
FIGURE_METRICS = (
    ("test_log_likelihood", "test ln p(x|s) (nats)"),
    ("accuracy_logistic", "accuracy (logistic)"),
    ("task_probe", "task probe (balanced accuracy)"),
    ("calibration_error_mean", "T - exact ln q/N (nats)"),
)

_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def paper_value(text: str | None) -> tuple[float, bool] | None:
    """The paper's mean in a table string of ``PUBLISHED`` and whether it is exact.

    ``"-163.25 ± 2.15"`` -> (-163.25, True); ``"≈ -211.1 ± x.x"`` -> (-211.1, False);
    None where a digit of the mean is illegible (``"≈ 91x ± x.x"``) or there is none.
    """
    if not text:
        return None
    approximate = text.startswith("≈")
    mean = text.removeprefix("≈").split("±")[0].split("(")[0].strip()
    if not _NUMBER.match(mean):
        return None
    return float(mean), not approximate


def results_figure(results: list[RunResult]) -> Figure:
    """One panel per (metric, setting) of the finished runs in ``results``: a dot per
    seed, the seeds of one setting joined across methods (they share the data split), mean
    ± sample std in black and the paper's mean in red (hollow where the paper's digits
    are only partly legible). Failed runs are left out, and so are non-finite scores,
    which the figure counts in a note. Raises ``ValueError`` when no finished run has a
    score to draw.
    """
    scores: dict[tuple[str, str], dict[str, dict[int, float]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    not_finite = 0
    for result in results:
        if not result.ok:
            continue
        for key, _ in FIGURE_METRICS:
            value = result.metric(key)
            if value is None:
                continue
            if not math.isfinite(value):
                not_finite += 1
                continue
            scores[(key, result.setting)][result.method][result.seed] = value
    metrics = [(k, label) for k, label in FIGURE_METRICS if any(m == k for m, _ in scores)]
    settings = sorted({setting for _, setting in scores})
    if not settings:
        raise ValueError("no finished run has a score to draw")
    figure = Figure(figsize=(3.6 * len(settings), 2.8 * len(metrics)))
    axes = figure.subplots(len(metrics), len(settings), squeeze=False)
    for row, (key, label) in enumerate(metrics):
        for column, setting in enumerate(settings):
            ax = axes[row, column]
            _panel(ax, key, setting, scores.get((key, setting), {}))
            if row == 0:
                ax.set_title(setting)
            if column == 0:
                ax.set_ylabel(label)
    legend = [
        Line2D([], [], color="0.6", marker="o", ms=3.5, lw=0.7, label="one seed"),
        Line2D([], [], color="k", marker="s", ms=4, ls="none", label="mean ± std"),
    ]
    if any(setting in PUBLISHED.get(key, {}) for key, setting in scores):
        legend += [
            Line2D([], [], color="tab:red", marker="D", ms=5, ls="none", label="paper"),
            Line2D(
                [],
                [],
                mec="tab:red",
                mfc="none",
                marker="D",
                ms=5,
                ls="none",
                label="paper (partly legible)",
            ),
        ]
    figure.legend(handles=legend, loc="lower center", ncol=len(legend), frameon=False)
    if not_finite:
        figure.text(0.01, 0.01, f"{not_finite} non-finite score(s) not drawn", fontsize=8)
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    return figure


def _panel(ax: Axes, key: str, setting: str, by_method: dict[str, dict[int, float]]) -> None:
    methods = sorted(by_method, key=method_position)
    seeds = sorted({seed for values in by_method.values() for seed in values})
    for seed in seeds:  # NaN where a method lacks the seed: the line breaks there
        values = [by_method[m].get(seed, math.nan) for m in methods]
        ax.plot(range(len(methods)), values, "o-", color="0.6", lw=0.7, ms=3.5, zorder=1)
    published = PUBLISHED.get(key, {}).get(setting, {})
    for i, method in enumerate(methods):
        scores = np.array(list(by_method[method].values()))
        spread = scores.std(ddof=1) if len(scores) > 1 else 0.0
        ax.errorbar(i + 0.15, scores.mean(), spread, fmt="s", color="k", ms=4, capsize=3)
        paper = paper_value(published.get(method))
        if paper is not None:
            value, exact = paper
            face = "tab:red" if exact else "none"
            ax.plot(i + 0.3, value, "D", mec="tab:red", mfc=face, ms=5)
    ax.set_xticks(range(len(methods)), methods, rotation=30, ha="right", fontsize=8)
    ax.set_xlim(-0.5, len(methods) - 0.3)
    ax.grid(axis="y", alpha=0.3)
