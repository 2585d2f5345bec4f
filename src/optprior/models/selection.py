"""Choosing a penalty weight with scikit-learn's searches (``GridSearchCV``): scorers of
the held-out likelihood and of the task information the codes keep, and the refit rule
of ``optprior compare --tune-within``, which accepts a stated likelihood cost for a
stronger penalty. The likelihood alone tends to prefer the weakest penalty."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from optprior._validation import is_real, one_of, whole_number
from optprior.evaluation.metrics import PROBES, task_probe

#: The setting a penalty grid varies.
WEIGHT = "invariance_weight"

Scorer = Callable[[Any, Any, Any], float]


def best_weight(scores: Mapping[float, float | None], within: float = 0.0) -> float | None:
    """The weight of the highest finite mean score (the smallest of exact ties) or, with
    ``within`` (nats > 0), the largest weight whose score is at most ``within`` below it;
    None while a weight is unfinished (None) or where no score is finite."""
    if any(score is None for score in scores.values()):
        return None
    finite = {w: s for w, s in scores.items() if s is not None and math.isfinite(s)}
    if not finite:
        return None
    top = max(finite.values())
    close = [w for w, s in finite.items() if s >= top - within]
    return max(close) if within else min(close)  # exact ties at 0: the weaker penalty


def log_likelihood_scorer(
    n_samples: int = 100, normalized: bool = True, n_temperatures: int = 200
) -> Scorer:
    """A scorer (``scoring=``) of the mean held-out ln p(x|s) in nats from ``n_samples``
    importance samples a point (the search passes the tasks as its labels), each model
    scored with its prior divided by its Z (``model.log_normalizer`` of the held-out
    points, annealed over ``n_temperatures``): 0 and free for a prior that is a density,
    an estimate for the optimal prior's N(0, I) e^T, whose unnormalised score is no
    likelihood and can rank its candidates by how far T's Z is from 1. ``normalized=False``
    scores every prior as it is (the paper's measure)."""
    n_samples = whole_number(n_samples, "n_samples", 1)
    n_temperatures = whole_number(n_temperatures, "n_temperatures", 1)

    def scorer(model: Any, X: Any, s: Any) -> float:
        model, X = last_step(model, X)  # Pipeline.score would drop n_samples
        score = float(model.score(X, s, n_samples=n_samples))
        if normalized:
            score -= log_normalizer(model, X, s, n_temperatures)
        return score

    return scorer


def log_normalizer(model: Any, X: Any, s: Any, n_temperatures: int) -> float:
    """``model.log_normalizer`` of ``X``, ``s``; of a ``Pipeline``, its last step's on X
    transformed by the steps before it."""
    model, X = last_step(model, X)
    if hasattr(model, "log_normalizer"):
        return float(model.log_normalizer(X, s, n_temperatures=n_temperatures))
    raise TypeError(
        f"{type(model).__name__} has no log_normalizer: score an optprior model (or a "
        "Pipeline ending in one), or pass normalized=False"
    )


def task_information_scorer(probe: str = "logistic") -> Scorer:
    """A scorer of minus the lower bound on I(S;μ) (nats) that a cross-validated
    ``probe`` (``evaluation.metrics.task_probe``) reads from the held-out codes (the
    posterior means μ, as ``transform`` returns them): larger is
    more invariant (0: nothing readable). Each held-out fold needs points of every task:
    stratify the folds by task (``StratifiedKFold``)."""
    one_of(probe, "probe", PROBES)

    def scorer(model: Any, X: Any, s: Any) -> float:
        codes = np.asarray(_codes(model, X, s))  # whatever transform_output is set
        return -task_probe(codes, np.asarray(s), probe=probe)["information"]

    return scorer


def _codes(model: Any, X: Any, s: Any) -> Any:
    """``model.transform(X, s)``, of a ``Pipeline`` its last step's (``last_step``: a
    Pipeline's ``transform`` takes no tasks)."""
    model, X = last_step(model, X)
    return model.transform(X, s)


def last_step(model: Any, X: Any) -> tuple[Any, Any]:
    """``model`` and ``X``; for a ``Pipeline``, its last step and X transformed by the
    steps before it (none in a one-step Pipeline), as the last step would see it."""
    if not isinstance(model, Pipeline):
        return model, X
    before = model[:-1]
    return last_step(model[-1], before.transform(X) if len(before) else X)


def largest_weight_within(
    nats: float, scoring_key: str = "log_likelihood"
) -> Callable[[Mapping[str, Any]], int]:
    """A ``refit=`` rule for a search over ``invariance_weight`` alone, scored by
    ``scoring={scoring_key: log_likelihood_scorer(), ...}``: the candidate of the largest
    weight whose mean held-out score is at most ``nats`` below the best (``nats = 0``: the
    best score, the weaker penalty on ties). Returns the candidate's index in
    ``cv_results_``."""
    if not (is_real(nats) and math.isfinite(nats) and nats >= 0):
        raise ValueError(f"nats must be a finite number >= 0, got {nats!r}")

    def refit(cv_results: Mapping[str, Any]) -> int:
        # the weight's name in the grid: invariance_weight, or STEP__invariance_weight of
        # a Pipeline's step
        params = [k.removeprefix("param_") for k in cv_results if k.startswith("param_")]
        named = [p for p in params if p.rsplit("__", 1)[-1] == WEIGHT]
        name = named[0] if len(named) == 1 else WEIGHT
        key, score_key = f"param_{name}", f"mean_test_{scoring_key}"
        if key not in cv_results or score_key not in cv_results:
            raise ValueError(
                f"largest_weight_within needs a grid over {WEIGHT} and a scorer named "
                f"{scoring_key!r} (scoring={{{scoring_key!r}: log_likelihood_scorer(), ...}})"
            )
        column = cv_results[key]
        varied = [set(params) for params in cv_results.get("params", [])]
        weights = [float(w) for w in np.ma.getdata(column)]
        alone = not np.ma.getmaskarray(column).any() and all(v == {name} for v in varied)
        if not alone or len(set(weights)) != len(weights):
            raise ValueError(
                f"largest_weight_within chooses among weights alone: vary only {name} in "
                "the grid and set the other settings on the estimator"
            )
        scores = dict(zip(weights, map(float, cv_results[score_key]), strict=True))
        chosen = best_weight(scores, nats)
        if chosen is None:
            raise ValueError(f"no weight has a finite mean {scoring_key}: every fit failed")
        return weights.index(chosen)

    return refit
