"""The paired figure: each method minus the CVAE on the same seed, per setting and metric,
so that differences smaller than the spread between seeds (one data split each) show."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from optprior.experiments.records import RunResult
from optprior.experiments.tables import (
    NothingToDraw,
    method_position,
    seed_differences,
    summarise_differences,
)

#: In a panel of nats, a method whose mean difference is this many times the median over
#: the panel's methods is drawn at the edge with its value, so that a collapse of hundreds
#: of nats does not flatten the others. Accuracies are bounded and drawn whole.
OFF_SCALE = 10.0

#: Columns of the figure: (metric key, axis label, whether far-off means go to the edge).
PAIRED_METRICS = (
    ("test_log_likelihood_normalized", "test ln p(x|s), prior normalised (nats)", True),
    ("val_log_likelihood", "validation ln p(x|s), normalised (nats)", True),
    (
        "prior_gain",
        "test ln p(x|s), normalised, minus its own\nnetworks under N(0, I), not the CVAE",
        True,
    ),
    ("accuracy_logistic", "accuracy (logistic)", False),
    ("task_probe", "task probe, logistic (balanced accuracy)", False),
    ("task_probe_mlp_cv", "task probe, MLP (balanced accuracy)", False),
    ("task_probe_mlp", "task probe, MLP stopped early (under-reads)", False),
)


def paired_figure(results: list[RunResult], baseline: str = "cvae", title: str = "") -> Figure:
    """One row per setting, one panel per metric (``PAIRED_METRICS`` that some run has):
    for each method with seeds in common with ``baseline``, its difference on each seed
    (grey dots) and their
    mean ± standard error (black), a dashed line at no difference; a method far off the
    others' scale (``OFF_SCALE``) is an arrow at the edge with its mean. Raises
    ``NothingToDraw`` when no method shares a finished seed with ``baseline``."""
    # Per setting: the methods with a difference to draw, and by metric their seeds'.
    rows: dict[str, tuple[list[str], dict[str, dict[str, dict[int, float]]]]] = {}
    for setting in sorted({r.setting for r in results}):
        candidates = {r.method for r in results if r.setting == setting} - {baseline}
        found = {
            key: {
                m: d
                for m in candidates
                if (d := seed_differences(results, setting, m, key, baseline))
            }
            for key, *_ in PAIRED_METRICS
        }
        methods = sorted(
            {m for by_method in found.values() for m in by_method}, key=method_position
        )
        if methods:
            rows[setting] = methods, found
    if not rows:
        raise NothingToDraw(f"no method shares a finished seed with {baseline}")
    # The metrics some setting has (a metric of other versions' runs is left out).
    metrics = [m for m in PAIRED_METRICS if any(found[m[0]] for _, found in rows.values())]
    method_rows = sum(len(methods) for methods, _ in rows.values())
    figure = Figure(figsize=(3.4 * len(metrics), 0.35 * method_rows + 1.6 * len(rows)))
    axes = figure.subplots(len(rows), len(metrics), squeeze=False)
    for row, (setting, (methods, found)) in enumerate(rows.items()):
        for column, (key, label, clip) in enumerate(metrics):
            ax = axes[row, column]
            _panel(ax, [found[key].get(m, {}) for m in methods], clip)
            ax.set_yticks(range(len(methods)), methods if column == 0 else [""] * len(methods))
            if row == 0:
                ax.set_title(label, fontsize=8)
            if column == 0:
                ax.set_ylabel(setting)
    legend = [
        Line2D([], [], marker="o", color="0.6", linestyle="", label="one seed"),
        Line2D([], [], marker="s", color="k", label="mean ± standard error"),
        Line2D([], [], marker=">", color="k", linestyle="", label="mean, off scale"),
    ]
    figure.legend(handles=legend, loc="lower center", ncol=3, frameon=False)
    figure.suptitle(f"{title + ': ' if title else ''}each method minus {baseline}, same seed")
    figure.tight_layout(rect=(0, 0.05, 1, 1))
    return figure


def on_scale(means: list[float]) -> list[bool]:
    """Which of a panel's means are drawn in place: within ``OFF_SCALE`` times the median
    of their absolute values (all where that median is 0); NaN means are not."""
    finite = [abs(m) for m in means if not np.isnan(m)]
    typical = float(np.median(finite)) if finite else 0.0
    return [not np.isnan(m) and (typical == 0 or abs(m) <= OFF_SCALE * typical) for m in means]


def _panel(ax: Axes, differences: list[dict[int, float]], clip: bool) -> None:
    """Row y of ``ax``: the seeds' differences of the y-th method (none: left empty), their
    mean ± standard error, or with ``clip`` an arrow at the edge with the mean where it is
    off scale (``OFF_SCALE``)."""
    values = [np.array(list(d.values())) for d in differences]
    means = [float(v.mean()) if len(v) else np.nan for v in values]
    inside = on_scale(means) if clip else [len(v) > 0 for v in values]
    drawn = [v for v, kept in zip(values, inside, strict=True) if kept]
    span = np.concatenate([*drawn, [0.0]])
    low, high = float(span.min()), float(span.max())
    margin = 0.1 * (high - low) or 1.0
    low, high = low - margin, high + margin
    for y, (seeds, mean, kept) in enumerate(zip(values, means, inside, strict=True)):
        if not len(seeds):
            continue
        if not kept:
            edge, marker, align = (low, "<", "left") if mean < 0 else (high, ">", "right")
            ax.plot([edge], [y], marker, color="k", markersize=6)
            ax.annotate(
                f"{mean:.3g}",
                (edge, y),
                xytext=(0, 6),
                textcoords="offset points",
                ha=align,
                fontsize=7,
            )
            continue
        jitter = np.linspace(-0.15, 0.15, len(seeds)) if len(seeds) > 1 else np.zeros(1)
        ax.plot(seeds, y + jitter, "o", color="0.6", markersize=3)
        _, error, *_ = summarise_differences(seeds)
        ax.errorbar(
            mean,
            y,
            xerr=None if np.isnan(error) else error,
            fmt="s",
            color="k",
            markersize=4,
            capsize=3,
        )
    ax.set_xlim(low, high)
    ax.axvline(0.0, color="0.3", linestyle="--", linewidth=0.8)
    ax.set_ylim(len(values) - 0.5, -0.5)
    ax.grid(axis="x", alpha=0.3)
