"""The validation curves of paired runs, one panel per seed: each epoch's validation ELBO
(faint) and its trailing mean (bold), with each run's kept epoch marked, so a reader sees
whether a run stopped on a plateau or on a spike of noise while still climbing."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from optprior.experiments.convergence import trailing_mean


def curves_figure(
    labels: Sequence[str],
    curves: Sequence[Sequence[np.ndarray]],
    best_epochs: Sequence[Sequence[int]],
    seeds: Sequence[int],
    window: int,
    from_epoch: int = 0,
) -> Figure:
    """One panel per seed with every label's validation ELBO (nats per point).

    ``curves[f][k]``: label f's validation ELBO per epoch, shape (epochs,), for seed
    ``seeds[k]``; ``best_epochs[f][k]``: the epoch that run kept (a dot on its curve).
    Each curve is drawn from ``from_epoch`` on, faint, with its ``window``-epoch
    trailing mean bold on top (at the window's last epoch). The y axis spans the
    trailing means, so the noise shows without hiding the trend.
    """
    if not seeds:
        raise ValueError("no seed to draw")
    columns = min(len(seeds), 3)
    rows = math.ceil(len(seeds) / columns)
    figure = Figure(figsize=(4.2 * columns, 3.0 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    colours = [f"C{i}" for i in range(len(labels))]
    for k, (ax, seed) in enumerate(zip(axes, seeds, strict=False)):
        low, high = math.inf, -math.inf
        for label, colour, per_seed, best in zip(labels, colours, curves, best_epochs, strict=True):
            curve = per_seed[k]
            epochs = np.arange(len(curve))
            shown = epochs >= from_epoch
            ax.plot(epochs[shown], curve[shown], color=colour, alpha=0.25, linewidth=0.6)
            if len(curve) >= window:
                mean = trailing_mean(curve, window)
                ends = np.arange(window - 1, len(curve))
                kept = ends >= from_epoch
                ax.plot(ends[kept], mean[kept], color=colour, linewidth=1.8, label=label)
                if kept.any():
                    low, high = min(low, mean[kept].min()), max(high, mean[kept].max())
            ax.plot(best[k], curve[best[k]], "o", color=colour, markersize=5)
        if math.isfinite(low):
            margin = max(high - low, 1.0) * 0.3
            ax.set_ylim(low - margin, high + margin)
        ax.set_title(f"seed {seed}", fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("validation ELBO (nats)")
    axes[0].legend(fontsize=8, title=f"{window}-epoch mean; dot: kept epoch", title_fontsize=7)
    for ax in axes[len(seeds) :]:
        ax.set_visible(False)
    return figure
