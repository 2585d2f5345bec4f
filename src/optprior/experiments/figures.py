"""Figures of one trained model: t-SNE of z, reconstructions, samples, training curves."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from sklearn.manifold import TSNE

from optprior._io import atomic_write
from optprior.data import MultiTaskData
from optprior.experiments.evaluate import balanced_subset
from optprior.models.base import BaseModel


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


def embedding_figure(model: BaseModel, data: MultiTaskData, seed: int = 0) -> Figure:
    """t-SNE of posterior means of test points, coloured by task and by class."""
    subset = balanced_subset(data.test, 500, seed)
    z = model.transform(subset.X, subset.s)
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
    points = axes[1].scatter(*xy[labelled].T, s=6, c=subset.y[labelled], cmap="tab10", alpha=0.8)
    axes[1].scatter(*xy[~labelled].T, s=6, c="lightgray", alpha=0.5)
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
        z = torch.from_numpy(model.transform(x, test.s[:n])).to(model.device)
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


def run_figures(model: BaseModel, data: MultiTaskData, folder: Path) -> list[str]:
    """Draw every figure of a run into ``folder``; returns the file names. Reconstructions
    and samples are drawn for image data only (``data.image_shape`` of 2 or 3 axes)."""
    figures = {
        "embedding.png": embedding_figure(model, data),
        "curves.png": curves_figure(
            model.fitted_history().epochs, f"{type(model).__name__} on {data.name}"
        ),
    }
    if len(data.image_shape) > 1:
        figures["reconstructions.png"] = reconstruction_figure(model, data)
    for name, figure in figures.items():
        save_figure(figure, folder / name)
    return sorted(figures)
