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

from optprior._text import counted
from optprior.data.settings import setting_tasks
from optprior.experiments.paper import PUBLISHED
from optprior.experiments.records import RunResult
from optprior.experiments.tables import NothingToDraw, method_position

#: Rows of the figure: (metric key, axis label).
FIGURE_METRICS = (
    ("test_log_likelihood", "test ln p(x|s) (nats)"),
    ("accuracy_logistic", "accuracy (logistic)"),
    ("task_probe", "task probe (balanced accuracy)"),
    ("calibration_error_mean", "T - exact ln q/N (nats)"),
)

_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def paper_range(text: str | None) -> tuple[float, float] | None:
    """The interval a partly legible mean of ``PUBLISHED`` lies in, from its legible
    digits (each illegible digit 0 to 9) and a stated bound: ``"≈ 91x ± x.x"`` ->
    (910, 919); ``"≈ -149.x ± x.x"`` -> (-149.9, -149.0); ``"≈ 8xx (> 814) ± 11.41"`` ->
    (814, 899). None where the mean is legible (``paper_value``) or there is none."""
    if not text or not text.startswith("≈"):
        return None
    mean = text.removeprefix("≈").split("±")[0].split("(")[0].strip()
    if "x" not in mean or not _NUMBER.match(mean.replace("x", "0")):
        return None
    ends = sorted((float(mean.replace("x", "0")), float(mean.replace("x", "9"))))
    bound = re.search(r"\(> (-?[\d.]+)\)", text)
    low = max(ends[0], float(bound.group(1))) if bound else ends[0]
    return low, ends[1]


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


def results_figure(results: list[RunResult], title: str = "") -> Figure:
    """One panel per (metric, setting) of the finished runs in ``results``, titled
    ``title`` above and by setting and epochs per column: a dot per seed, the seeds of one
    setting joined across methods (they share the data split), mean ± sample std in
    black, on a scale of our values. The paper's mean is a red diamond (hollow where some
    of its digits are illegible; a red bar over the range its legible digits allow), and
    an arrow with its value at the panel's edge where it lies off our scale. The task
    probe has its chance level (1/K for K tasks) as a dashed line. Failed runs are left
    out, and so are non-finite scores, which the figure counts in a note. Raises
    ``NothingToDraw`` when no finished run has a score to draw.
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
        raise NothingToDraw("no finished run has a score to draw")
    figure = Figure(figsize=(3.6 * len(settings), 2.8 * len(metrics)))
    axes = figure.subplots(len(metrics), len(settings), squeeze=False)
    for row, (key, label) in enumerate(metrics):
        for column, setting in enumerate(settings):
            ax = axes[row, column]
            _panel(ax, key, setting, scores.get((key, setting), {}))
            if row == 0:
                ax.set_title(_column_title(setting, results), fontsize=9)
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
            Line2D(
                [], [], color="tab:red", lw=3, alpha=0.6, label="paper: its legible digits' range"
            ),
        ]
    if any(key == "task_probe" and setting_tasks(setting) for key, setting in scores):
        legend.append(Line2D([], [], color="0.3", ls="--", lw=0.8, label="chance (1/K tasks)"))
    figure.legend(handles=legend, loc="lower center", ncol=len(legend), frameon=False)
    if not_finite:
        figure.text(0.01, 0.01, f"{not_finite} non-finite score(s) not drawn", fontsize=8)
    if title:
        figure.suptitle(title)
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    return figure


def _column_title(setting: str, results: list[RunResult]) -> str:
    """The setting, its epoch cap and how many of its finished runs reached it."""
    finished = [r for r in results if r.ok and r.setting == setting]
    caps = sorted({c for r in finished if (c := r.config.get("training", {}).get("epochs"))})
    if not caps:
        return setting
    cap = "/".join(str(c) for c in caps)
    capped = sum(r.capped for r in finished)
    runs = counted(len(finished), "run")
    return f"{setting}\nat most {cap} epochs; {capped} of {runs} at the cap"


def _panel(ax: Axes, key: str, setting: str, by_method: dict[str, dict[int, float]]) -> None:
    methods = sorted(by_method, key=method_position)
    seeds = sorted({seed for values in by_method.values() for seed in values})
    for seed in seeds:  # NaN where a method lacks the seed: the line breaks there
        values = [by_method[m].get(seed, math.nan) for m in methods]
        ax.plot(range(len(methods)), values, "o-", color="0.6", lw=0.7, ms=3.5, zorder=1)
    ours = []
    for i, method in enumerate(methods):
        scores = np.array(list(by_method[method].values()))
        spread = scores.std(ddof=1) if len(scores) > 1 else 0.0
        ax.errorbar(i + 0.15, scores.mean(), spread, fmt="s", color="k", ms=4, capsize=3)
        ours += [*scores, scores.mean() - spread, scores.mean() + spread]
    ax.set_xticks(range(len(methods)), methods, rotation=30, ha="right", fontsize=8)
    ax.set_xlim(-0.5, len(methods) - 0.3)
    ax.grid(axis="y", alpha=0.3)
    if not ours:
        return
    low, high = min(ours), max(ours)
    margin = 0.08 * (high - low) or 0.05 * max(abs(high), 1e-3)
    ax.set_ylim(low - margin, high + margin)
    tasks = setting_tasks(setting) if key == "task_probe" else None
    if tasks is not None:
        _chance_mark(ax, 1 / tasks)
    published = PUBLISHED.get(key, {}).get(setting, {})
    for i, method in enumerate(methods):
        _paper_mark(ax, i + 0.3, published.get(method))


def _paper_mark(ax: Axes, x: float, text: str | None) -> None:
    """The paper's number ``text`` at ``x``: a diamond (hollow if partly legible) or a
    bar over its possible range, or an arrow labelled with it at the edge of the
    panel's scale it lies beyond."""
    value, span = paper_value(text), paper_range(text)
    if value is not None:
        centre, label = value[0], f"{'' if value[1] else '≈ '}{value[0]:.4g}"
    elif span is not None:
        centre, label = (span[0] + span[1]) / 2, f"{span[0]:.4g} to {span[1]:.4g}"
    else:
        return
    low, high = ax.get_ylim()
    if not low <= centre <= high:
        above = centre > high
        edge = high - 0.04 * (high - low) if above else low + 0.04 * (high - low)
        ax.plot(x, edge, "^" if above else "v", color="tab:red", ms=6, clip_on=False)
        ax.annotate(
            f"paper\n{label}",
            (x, edge),
            xytext=(4, 0),
            textcoords="offset points",
            va="top" if above else "bottom",
            fontsize=6.5,
            color="tab:red",
        )
    elif value is not None:
        ax.plot(x, centre, "D", mec="tab:red", mfc="tab:red" if value[1] else "none", ms=5)
    elif span is not None:
        ax.vlines(x, *span, color="tab:red", lw=3, alpha=0.6)


def _chance_mark(ax: Axes, chance: float) -> None:
    """A dashed line at the chance level, or where it lies below the panel's scale, a
    label saying so at the bottom edge."""
    low, _ = ax.get_ylim()
    if chance >= low:
        ax.axhline(chance, color="0.3", ls="--", lw=0.8)
    else:
        ax.annotate(
            f"chance {chance:.2g} (below)",
            (0.02, 0.03),
            xycoords="axes fraction",
            fontsize=6.5,
            color="0.3",
        )
