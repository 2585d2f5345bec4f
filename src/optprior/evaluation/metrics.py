"""Representation metrics as pure functions of arrays (scib-metrics style)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, log_loss
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_predict
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from optprior._validation import one_of

CLASSIFIERS = ("logistic", "knn")


def _classifier(name: str):
    one_of(name, "classifier", CLASSIFIERS)
    if name == "knn":
        return make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=5))
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=0))


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


PROBES = ("logistic", "mlp")

#: The MLP probe's L2 penalties: each outer training fold chooses one by an inner 3-fold
#: cross-validation of the log-loss. The strongest lets it predict little more than the
#: task frequencies where z holds nothing readable, so its bound stays near 0 there.
MLP_PENALTIES = (0.1, 1.0, 10.0, 100.0)


def task_probe(
    z: np.ndarray, s: np.ndarray, folds: int = 5, seed: int = 0, probe: str = "logistic"
) -> dict[str, float]:
    """How well z reveals the task s: a cross-validated probe, ``"logistic"`` regression
    (linearly readable information) or an ``"mlp"`` (one hidden layer of 64 ReLU units
    fitted by 100 L-BFGS steps, its L2 penalty chosen per fold from
    ``MLP_PENALTIES`` on the fold's own training points, which also reads task
    information a linear probe misses). An MLP stopped early on a tenth of each fold, the
    probe of results before 2026-12-05, stopped within a few dozen iterations on sets of
    a few hundred points and read far less than the logistic probe
    (``benchmarks/task_probes.py``).

    Returns ``balanced_accuracy`` (tasks weighted equally: 1/K means no readable task
    information, 0.5 for two tasks) and ``information``, the lower bound
    I(S;z) >= H(S) - E[-ln p_probe(s | z)] in nats on the task information of the codes
    ``z`` as given (posterior means μ bound I(S;μ), not I(S;Z) of codes drawn from the
    posteriors, which their noise can make far smaller), with H(S) the entropy of the task
    frequencies in ``s`` and the probe's probabilities predicted on held-out folds
    (0 for no information, ln K at most; slightly negative when the probe is miscalibrated).
    Both probes are fitted unweighted, so that their probabilities follow the task
    frequencies the bound is taken under; tasks of unequal size are weighed equally in the
    decision instead (``cross_validated_probe``).
    """
    one_of(probe, "probe", PROBES)
    if probe == "logistic":
        reader = LogisticRegression(max_iter=2000, random_state=seed)
    else:
        network = MLPClassifier((64,), solver="lbfgs", max_iter=100, random_state=seed)
        inner = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
        penalties = {"alpha": list(MLP_PENALTIES)}
        reader = GridSearchCV(network, penalties, cv=inner, scoring="neg_log_loss")
    with warnings.catch_warnings():
        if probe == "mlp":
            # L-BFGS stopped at its step cap under the weakest penalties: those overfit,
            # and the inner cross-validation weighs them by their held-out log-loss anyway.
            warnings.simplefilter("ignore", ConvergenceWarning)
        return cross_validated_probe(z, s, reader, folds, seed)


def cross_validated_probe(
    z: np.ndarray, s: np.ndarray, reader: Any, folds: int = 5, seed: int = 0
) -> dict[str, float]:
    """``task_probe``'s scores of any scikit-learn classifier ``reader`` (fitted on
    standardised z): its held-out predictions over ``folds`` stratified folds. Each point's
    predicted task maximises p(s | z) / p(s), the decision of highest balanced accuracy
    for probabilities calibrated to the task frequencies p(s) (argmax p(s | z) where the
    tasks are equally frequent)."""
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    model = make_pipeline(StandardScaler(), reader)
    probabilities = cross_val_predict(model, z, s, cv=splitter, method="predict_proba")
    classes = np.unique(s)
    frequencies = np.bincount(np.searchsorted(classes, s)) / len(s)
    predicted = classes[(probabilities / frequencies).argmax(1)]
    entropy = float(-(frequencies * np.log(frequencies)).sum())
    cross_entropy = float(log_loss(s, probabilities, labels=classes))
    return {
        "balanced_accuracy": float(balanced_accuracy_score(s, predicted)),
        "information": entropy - cross_entropy,
    }
