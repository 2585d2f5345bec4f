"""The trade-off figure: what each method gives up in likelihood against how much of the
task it removes from z (the logistic probe, which every run has), both as differences to
the CVAE on the same seed, one panel per setting, so that a penalty that buys invariance
with likelihood (or over-corrects) shows at a glance."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from optprior.experiments.paired_figure import on_scale
from optprior.experiments.records import RunResult
from optprior.experiments.tables import (
    NothingToDraw,
    method_position,
    seed_differences,
    summarise_differences,
)

#: The axes: (metric key, label), x the task dependence, y the likelihood.
TRADEOFF_AXES = (
    ("task_probe", "task probe, logistic (balanced accuracy): method - CVAE"),
    ("test_log_likelihood_normalized", "test ln p(x|s), prior normalised (nats): method - CVAE"),
)

#: (mean, standard error) of x and y: one method's point.
Point = tuple[float, float, float, float]


def tradeoff_points(
    results: list[RunResult], setting: str, baseline: str = "cvae"
) -> dict[str, Point]:
    """Per method of ``setting``, over the seeds where it and ``baseline`` both have both
    metrics of ``TRADEOFF_AXES``: the mean difference and its standard error (nan with one
    seed) on each axis; methods in table order."""
    (x_key, _), (y_key, _) = TRADEOFF_AXES
    methods = {r.method for r in results if r.setting == setting} - {baseline}
    points = {}
    for method in sorted(methods, key=method_position):
        dx = seed_differences(results, setting, method, x_key, baseline)
        dy = seed_differences(results, setting, method, y_key, baseline)
        seeds = sorted(set(dx) & set(dy))
        if seeds:
            x_mean, x_error, *_ = summarise_differences(np.array([dx[s] for s in seeds]))
            y_mean, y_error, *_ = summarise_differences(np.array([dy[s] for s in seeds]))
            points[method] = x_mean, x_error, y_mean, y_error
    return points


def tradeoff_figure(results: list[RunResult], baseline: str = "cvae", title: str = "") -> Figure:
    """One panel per setting: each method at its mean difference to ``baseline`` in task
    dependence (x) and likelihood (y), with standard-error bars; the baseline at the
    origin. A method whose likelihood difference is off the panel's scale (``on_scale``)
    is an arrow at the bottom or top edge with its value. Raises ``NothingToDraw``
    when no method shares a seed with both metrics with ``baseline``."""
    panels = {
        s: tradeoff_points(results, s, baseline) for s in sorted({r.setting for r in results})
    }
    panels = {setting: points for setting, points in panels.items() if points}
    if not panels:
        raise NothingToDraw(f"no method shares a seed with both trade-off metrics with {baseline}")
    methods = sorted({m for points in panels.values() for m in points}, key=method_position)
    colours = {method: f"C{i % 10}" for i, method in enumerate(methods)}  # alike in every panel
    figure = Figure(figsize=(5.2 * len(panels), 4.6))
    FigureCanvasAgg(figure)  # measures the labels as they will be drawn
    labelled = []
    for ax, (setting, points) in zip(
        figure.subplots(1, len(panels), squeeze=False)[0], panels.items(), strict=True
    ):
        labelled.append((ax, _panel(ax, points, baseline, colours)))
        ax.set_title(setting)
        ax.set_xlabel(TRADEOFF_AXES[0][1], fontsize=8)
        ax.set_ylabel(TRADEOFF_AXES[1][1], fontsize=8)
    figure.suptitle(
        f"{title + ': ' if title else ''}likelihood against task dependence, minus {baseline} "
        "(left: less of the task in z; up: better density)",
        fontsize=9,
    )
    figure.tight_layout()
    for ax, labels in labelled:  # where the axes finally lie
        place_labels(ax, labels)
    return figure


#: Where a label may sit beside its point: (dx, dy) in points, horizontal alignment;
#: tried in turn until one lies inside the axes and overlaps no label placed before.
LABEL_SPOTS = (
    ((5, 4), "left"),
    ((5, -12), "left"),
    ((-5, 4), "right"),
    ((-5, -12), "right"),
    ((0, 9), "center"),
    ((0, -18), "center"),
)


def place_labels(ax: Axes, labels: list[tuple[str, tuple[float, float]]]) -> None:
    """Annotate ``ax`` with each (text, (x, y)) of ``labels`` at the first of
    ``LABEL_SPOTS`` whose box lies inside the axes and overlaps none placed before (or at
    the spot of least overlap), so that methods close together stay readable."""
    renderer = ax.figure.canvas.get_renderer()  # type: ignore[attr-defined]
    placed: list[Bbox] = []
    for text, xy in labels:
        tried = []
        for offset, align in LABEL_SPOTS:
            label = ax.annotate(
                text, xy, xytext=offset, textcoords="offset points", fontsize=8, ha=align
            )
            box = label.get_window_extent(renderer)
            outside = box.width * box.height - _overlap(box, ax.bbox)
            overlap = outside + sum(_overlap(box, other) for other in placed)
            tried.append((overlap, label, box))
            if overlap == 0.0:
                break
        _, kept, box = min(tried, key=lambda t: t[0])
        for _, label, _ in tried:
            if label is not kept:
                label.remove()
        placed.append(box)


def _overlap(a: Bbox, b: Bbox) -> float:
    """The area (display units squared) two boxes share."""
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(width, 0.0) * max(height, 0.0)


def _panel(
    ax: Axes, points: dict[str, Point], baseline: str, colours: dict[str, str]
) -> list[tuple[str, tuple[float, float]]]:
    """The methods' points on ``ax``, the baseline at the origin, far-off ones at the
    edge; returns their labels, (text, (x, y)), for ``place_labels``."""
    inside = dict(zip(points, on_scale([y for _, _, y, _ in points.values()]), strict=True))
    bars = [
        (y - np.nan_to_num(e), y + np.nan_to_num(e))
        for m, (_, _, y, e) in points.items()
        if inside[m]
    ]
    low, high = min(0.0, *(b for b, _ in bars)), max(0.0, *(t for _, t in bars))
    margin = 0.12 * (high - low) or 1.0
    low, high = low - margin, high + margin
    ax.plot([0.0], [0.0], "D", color="0.3")
    labels = [(baseline, (0.0, 0.0))]
    for method, (x, x_error, y, y_error) in points.items():
        if inside[method]:
            ax.errorbar(
                x,
                y,
                xerr=None if np.isnan(x_error) else x_error,
                yerr=None if np.isnan(y_error) else y_error,
                fmt="o",
                color=colours[method],
                capsize=3,
            )
            labels.append((method, (x, y)))
        else:
            edge, marker = (low, "v") if y < 0 else (high, "^")
            ax.plot([x], [edge], marker, color="k")
            labels.append((f"{method} ({y:.3g})", (x, edge)))
    ax.set_ylim(low, high)
    ax.axhline(0.0, color="0.3", linestyle="--", linewidth=0.8)
    ax.axvline(0.0, color="0.3", linestyle="--", linewidth=0.8)
    ax.grid(alpha=0.3)
    return labels
