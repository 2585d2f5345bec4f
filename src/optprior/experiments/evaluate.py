"""Every metric of one trained model on one setting."""

from __future__ import annotations

import numpy as np

from optprior.data import MultiTaskData, TaskSplit
from optprior.evaluation.metrics import (
    downstream_accuracy,
    task_information_nats,
    task_probe_balanced_accuracy,
)
from optprior.experiments.config import EvaluationConfig
from optprior.models.base import BaseModel

#: Seed of the fixed binarisation of Bernoulli test data (the same for every run).
BINARIZATION_SEED = 12345


def scored_tasks(data: MultiTaskData) -> list[int]:
    """The target task in a two-task setting, every task otherwise."""
    return [data.target_task] if data.target_task is not None else list(range(data.n_tasks))


def binarized(x: np.ndarray, seed: int = BINARIZATION_SEED) -> np.ndarray:
    """One fixed Bernoulli draw per pixel of [0, 1] data: (N, D) -> (N, D) in {0, 1}."""
    return (np.random.default_rng(seed).random(x.shape) < x).astype(np.float32)


def balanced_subset(split: TaskSplit, per_task: int, seed: int) -> TaskSplit:
    """At most ``per_task`` points of each task, the same number for every task."""
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(split.s == k) for k in np.unique(split.s)]
    n = min(per_task, *(len(g) for g in groups))
    keep = np.sort(np.concatenate([rng.choice(g, n, replace=False) for g in groups]))
    return TaskSplit(split.X[keep], split.s[keep], split.y[keep], split.index[keep])


def evaluate(
    model: BaseModel, data: MultiTaskData, config: EvaluationConfig, seed: int
) -> dict[str, float | None]:
    """Metrics of ``model``: per scored task ``<metric>/<task name>``, then their mean.

    Metrics: ``test_log_likelihood`` and ``test_elbo`` (nats, binarised test data for the
    Bernoulli likelihood), ``accuracy_logistic`` and ``accuracy_knn`` (classifiers on z
    of the labelled training points, None without labels), and, over all tasks of the
    test split, ``task_probe`` (balanced accuracy of predicting s from z) and
    ``task_information`` (I(S;Z), nats, exact-mixture Monte Carlo).
    """
    bernoulli = data.likelihood == "bernoulli"
    metrics: dict[str, float | None] = {}
    per_task: dict[str, list[float]] = {}
    for k in scored_tasks(data):
        name = data.tasks[k]
        test, train = data.test.task(k), data.train.task(k)
        if config.test_points:
            test = balanced_subset(test, config.test_points, seed)
        x_score = binarized(test.X) if bernoulli else test.X
        scores = {
            "test_log_likelihood": float(
                model.score_samples(x_score, test.s, config.n_samples).mean()
            ),
            "test_elbo": float(model.elbo(x_score, test.s).mean()),
        }
        labelled = train.y >= 0
        for classifier in ("logistic", "knn"):
            scores[f"accuracy_{classifier}"] = (
                downstream_accuracy(
                    model.transform(train.X[labelled], train.s[labelled]),
                    train.y[labelled],
                    model.transform(test.X, test.s),
                    test.y,
                    classifier,
                )
                if labelled.any() and (test.y >= 0).all()
                else None
            )
        for metric, value in scores.items():
            metrics[f"{metric}/{name}"] = value
            if value is not None:
                per_task.setdefault(metric, []).append(value)
    for metric, values in per_task.items():
        metrics[metric] = float(np.mean(values))
    metrics.setdefault("accuracy_logistic", None)
    metrics.setdefault("accuracy_knn", None)

    probe = balanced_subset(data.test, config.probe_points, seed)
    mu, logvar = model.posterior(probe.X, probe.s)
    metrics["task_probe"] = task_probe_balanced_accuracy(mu, probe.s, seed=seed)
    metrics["task_information"] = task_information_nats(
        mu, logvar, probe.s, n_samples=config.mi_samples, seed=seed
    )
    return metrics
