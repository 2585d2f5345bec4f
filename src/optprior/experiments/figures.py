"""Figures of one trained model: t-SNE of z, reconstructions, samples, training curves and,
for the optimal prior, T against the log ratio it estimates."""

from __future__ import annotations

import io
from pathlib import Path
from typing import cast

import numpy as np
import torch
from matplotlib.figure import Figure
from sklearn.manifold import TSNE

from optprior._io import atomic_write
from optprior.data import MultiTaskData
from optprior.evaluation.binarization import binarized
from optprior.evaluation.calibration import calibration_points
from optprior.experiments.evaluate import balanced_subset, training_posteriors
from optprior.models.base import BaseModel
from optprior.priors import OptimalPrior


def save_figure(figure: Figure, path: Path) -> None:
    """Write ``figure`` as PNG atomically. Figures are made with matplotlib's object API
    (``Figure``), so no pyplot state or global backend is touched."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    with atomic_write(path) as (stream, _):
        stream.write(buffer.getvalue())


def _images(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return np.clip(x.reshape(-1, *shape), 0.0, 1.0)


def _show_grid(axes_row: np.ndarray, images: np.ndarray, label: str) -> None:
    for ax, image in zip(axes_row, images, strict=False):
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    axes_row[0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)


#: At most this many classes get a colour and a legend entry each in ``embedding_figure``;
#: more share a colour scale.
LEGEND_CLASSES = 10


def embedding_figure(model: BaseModel, data: MultiTaskData, seed: int = 0) -> Figure:
    """t-SNE of posterior means of test points, coloured by task and by class."""
    subset = balanced_subset(data.test, 500, seed)
    z = model.posterior(subset.X, subset.s)[0]
    perplexity = min(30.0, (len(z) - 1) / 3)  # t-SNE needs fewer neighbours than points
    xy = TSNE(2, init="pca", random_state=seed, perplexity=perplexity).fit_transform(z)
    figure = Figure(figsize=(11, 5))
    axes = figure.subplots(1, 2)
    for k, name in enumerate(data.tasks):
        mask = subset.s == k
        axes[0].scatter(*xy[mask].T, s=6, alpha=0.7, label=name)
    axes[0].legend(markerscale=3, title="task")
    axes[0].set_title("z coloured by task (mixed = task-invariant)")
    labelled = subset.y >= 0
    axes[1].scatter(*xy[~labelled].T, s=6, c="lightgray", alpha=0.5)
    classes = np.unique(subset.y[labelled])
    if len(classes) <= LEGEND_CLASSES:  # a colour per class, named
        for label in classes:
            axes[1].scatter(*xy[subset.y == label].T, s=6, alpha=0.8, label=str(label))
        if len(classes):
            axes[1].legend(markerscale=3, title="class", fontsize="small")
    else:
        points = axes[1].scatter(
            *xy[labelled].T, s=6, c=subset.y[labelled], cmap="viridis", alpha=0.8
        )
        figure.colorbar(points, ax=axes[1], label="class")
    axes[1].set_title("z coloured by class (grey: unlabelled)")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    figure.suptitle(f"{type(model).__name__} on {data.name}: t-SNE of test z")
    return figure


@torch.no_grad()
def reconstruction_figure(model: BaseModel, data: MultiTaskData, n: int = 8) -> Figure:
    """Per task: test images, their reconstructions (decoder mean at E[z|x,s]) and samples."""
    figure = Figure(figsize=(n * 0.9, 3 * data.n_tasks * 0.95))
    axes = figure.subplots(3 * data.n_tasks, n)
    axes = axes.reshape(3 * data.n_tasks, n)
    module = model.fitted_module()
    for k, name in enumerate(data.tasks):
        test = data.test.task(k)
        x = test.X[:n]
        z = torch.from_numpy(model.posterior(x, test.s[:n])[0]).to(model.device)
        s = torch.full((len(x),), k, device=model.device)
        reconstruction = module.generate(z, s).cpu().numpy()
        samples = model.sample(n, s=k)
        _show_grid(axes[3 * k], _images(x, data.image_shape), f"{name}\ndata")
        _show_grid(axes[3 * k + 1], _images(reconstruction, data.image_shape), "recon.")
        _show_grid(axes[3 * k + 2], _images(samples, data.image_shape), "samples")
    figure.suptitle(f"{type(model).__name__} on {data.name}", fontsize=10)
    return figure


def curves_figure(epochs: list[dict[str, float]], title: str) -> Figure:
    """Training and validation ELBO per epoch, and the discriminator loss if any."""
    figure = Figure(figsize=(10, 3.5))
    axes = figure.subplots(1, 2)
    epoch = [r["epoch"] for r in epochs]
    for key in ("train_elbo", "val_elbo"):
        if key in epochs[0]:
            axes[0].plot(epoch, [r[key] for r in epochs], label=key.replace("_", " "))
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("ELBO (nats per point)")
    axes[0].legend()
    if "discriminator_loss" in epochs[0]:
        axes[1].plot(epoch, [r["discriminator_loss"] for r in epochs])
        axes[1].axhline(np.log(2), ls="--", c="gray", label="ln 2 (T cannot tell)")
        axes[1].set_ylabel("discriminator logistic loss")
        axes[1].legend()
    else:
        axes[1].plot(epoch, [r["train_kl"] for r in epochs])
        axes[1].set_ylabel("KL term (nats per point)")
    axes[1].set_xlabel("epoch")
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def calibration_figure(
    model: BaseModel, data: MultiTaskData, n_draws: int = 2000, seed: int = 0
) -> Figure:
    """T(z) against the exact log ratio ln q(z)/N(z; 0, I) it estimates, q the mixture of
    the training posteriors (weighted as in T's loss; ``calibration_points``), in nats:
    at ``n_draws`` codes drawn from q, against q and against q without the code's own
    posterior (q_-n), and at one code of each of up to ``n_draws`` test points (tasks
    balanced), against q. An exact T lies on the diagonal."""
    prior = cast(OptimalPrior, model.fitted_module().prior)
    test = balanced_subset(data.test, n_draws, seed)
    x_test = binarized(test.X) if data.likelihood == "bernoulli" else test.X
    mu_test, logvar_test = model.posterior(x_test, test.s)
    held_out = torch.from_numpy(mu_test), torch.from_numpy(logvar_test)
    posteriors = training_posteriors(model, data)
    points = calibration_points(prior, *posteriors, n_draws, seed, held_out)
    clouds = {
        "codes of q, against q (training points)": (points["exact"], points["t"]),
        "codes of q, against q without their own posterior": (
            points["exact_loo"],
            points["t"],
        ),
        "codes of test points, against q": (points["exact_held_out"], points["t_held_out"]),
    }
    figure = Figure(figsize=(6.5, 5.5))
    ax = figure.subplots()
    t_range = []
    for label, pair in clouds.items():
        exact, t = (values.cpu().numpy() for values in pair)
        error = float(np.mean(t - exact))
        ax.scatter(exact, t, s=4, alpha=0.4, label=f"{label}: T - exact {error:+.1f} on average")
        t_range += [float(t.min()), float(t.max())]
    low, high = ax.get_xlim()
    ax.plot([low, high], [low, high], c="gray", ls="--", lw=1, label="exact T")
    margin = 0.1 * (max(t_range) - min(t_range)) + 1.0
    ax.set_ylim(min(t_range) - margin, max(t_range) + margin)  # T's spread, not the ratio's
    ax.set_xlabel("exact ln q(z) / N(z; 0, I) (nats)")
    ax.set_ylabel("T(z) (nats)")
    ax.legend(fontsize=7, markerscale=3, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    ax.set_title(f"T against the exact log ratio: {type(model).__name__} on {data.name}")
    return figure


def run_figures(model: BaseModel, data: MultiTaskData, folder: Path) -> list[str]:
    """Draw every figure of a run into ``folder``; returns the file names. Reconstructions
    and samples are drawn for image data only (``data.image_shape`` of 2 or 3 axes), T's
    calibration for a prior with a T."""
    figures = {
        "embedding.png": embedding_figure(model, data),
        "curves.png": curves_figure(
            model.fitted_history().epochs, f"{type(model).__name__} on {data.name}"
        ),
    }
    if len(data.image_shape) > 1:
        figures["reconstructions.png"] = reconstruction_figure(model, data)
    if model.fitted_module().prior.has_discriminator:
        figures["calibration.png"] = calibration_figure(model, data)
    for name, figure in figures.items():
        save_figure(figure, folder / name)
    return sorted(figures)
