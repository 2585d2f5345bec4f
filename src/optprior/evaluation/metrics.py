"""Representation metrics as pure functions of arrays (scib-metrics style)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from optprior.evaluation.information import task_mutual_information

CLASSIFIERS = ("logistic", "knn")


def _classifier(name: str, seed: int = 0):
    if name == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    if name == "knn":
        return make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=5))
    raise ValueError(f"unknown classifier {name!r}; choose one of {CLASSIFIERS}")


def downstream_accuracy(
    z_train: np.ndarray,
    y_train: np.ndarray,
    z_test: np.ndarray,
    y_test: np.ndarray,
    classifier: str = "logistic",
) -> float:
    """Accuracy of a classifier fitted on (z_train (N, D), y_train (N,)) and tested on z_test."""
    model = _classifier(classifier).fit(z_train, y_train)
    return float((model.predict(z_test) == y_test).mean())


def task_probe_balanced_accuracy(
    z: np.ndarray, s: np.ndarray, folds: int = 5, seed: int = 0
) -> float:
    """Cross-validated balanced accuracy of logistic regression predicting s from z.

    Tasks are weighted equally, so 1/K means z carries no linearly readable task
    information (0.5 for two tasks) and 1.0 means the task is fully readable.
    """
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    probe = make_pipeline(
        StandardScaler(),
        LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed),
    )
    predicted = cross_val_predict(probe, z, s, cv=splitter)
    return float(balanced_accuracy_score(s, predicted))


def task_information_nats(
    mu: np.ndarray, logvar: np.ndarray, s: np.ndarray, n_samples: int = 10, seed: int = 0
) -> float:
    """I(S; Z) in nats of the encoder's Gaussian posteriors (N, D) over the given points,
    by Monte Carlo with the exact empirical mixtures q(z | s) and q(z)."""
    # float64: the expanded quadratic forms of narrow posteriors cancel badly in float32.
    return task_mutual_information(
        torch.as_tensor(mu, dtype=torch.float64),
        torch.as_tensor(logvar, dtype=torch.float64),
        torch.as_tensor(s, dtype=torch.long),
        n_samples=n_samples,
        seed=seed,
    )
