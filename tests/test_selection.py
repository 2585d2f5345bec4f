"""Choosing a penalty weight with scikit-learn's searches (``optprior.models.selection``)."""

import math

import numpy as np
import pytest
import torch
from helpers import fast
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from optprior import CVAE, InvariantCVAE, OptimalPriorCVAE
from optprior.evaluation import task_probe
from optprior.models.selection import (
    WEIGHT,
    largest_weight_within,
    log_likelihood_scorer,
    task_information_scorer,
)


def results(weights, scores):
    """``cv_results_`` as a search over ``invariance_weight`` scored ``log_likelihood``."""
    return {
        "param_invariance_weight": np.ma.masked_array(weights, dtype=object),
        "mean_test_log_likelihood": np.array(scores),
    }


def test_the_refit_rule_reads_the_weight_of_a_pipelines_step():
    """In a search over a Pipeline the grid names the step: ``mmdcvae__invariance_weight``."""
    name = f"mmdcvae__{WEIGHT}"
    cv = {
        f"param_{name}": np.ma.masked_array([0.0, 1.0, 10.0], dtype=object),
        "params": [{name: w} for w in (0.0, 1.0, 10.0)],
        "mean_test_log_likelihood": np.array([-100.0, -100.5, -104.0]),
    }
    assert largest_weight_within(1.0)(cv) == 1


def test_the_refit_rule_takes_the_largest_weight_within_the_stated_cost():
    cv = results([0.0, 1.0, 10.0, 100.0], [-100.0, -100.5, -102.0, -110.0])
    assert largest_weight_within(0)(cv) == 0  # the best likelihood
    assert largest_weight_within(2.0)(cv) == 2  # 10: 2 nats below the best
    assert largest_weight_within(1.99)(cv) == 1
    assert largest_weight_within(50)(cv) == 3
    assert largest_weight_within(np.float32(2.0))(cv) == 2  # NumPy numbers are numbers
    tied = results([10.0, 1.0], [-100.0, -100.0])
    assert largest_weight_within(0)(tied) == 1  # exact ties: the weaker penalty
    failed = results([0.0, 1.0, 10.0], [math.nan, -105.0, -104.0])  # a failed fit is nan
    assert largest_weight_within(0)(failed) == 2
    assert largest_weight_within(1)(failed) == 2


@pytest.mark.parametrize(
    ("cv", "nats", "message"),
    [
        (results([0.0, 1.0], [-1.0, -2.0]), -1, "nats must be a finite number >= 0"),
        (results([0.0, 1.0], [-1.0, -2.0]), math.inf, "nats must be a finite number >= 0"),
        (results([1.0, 1.0], [-1.0, -2.0]), 1, "vary only invariance_weight"),
        (results([0.0, 1.0], [math.nan, math.nan]), 1, "every fit failed"),
        ({"param_latent_dim": [1, 2], "mean_test_score": [0, 0]}, 1, "a grid over invariance"),
        (results([0.0, 1.0], [-1.0, -2.0]), True, "nats must be a finite number >= 0"),
        (  # a list of grids, one without the weight: its candidate's cell is masked
            {
                "param_invariance_weight": np.ma.masked_array([0, 10, 0], mask=[0, 0, 1]),
                "params": [{WEIGHT: 0}, {WEIGHT: 10}, {"latent_dim": 2}],
                "mean_test_log_likelihood": np.array([-2.0, -3.0, -1.0]),
            },
            1,
            "vary only invariance_weight",
        ),
        (
            {
                "param_invariance_weight": np.ma.masked_array([0, 10]),
                "params": [{WEIGHT: 0, "latent_dim": 2}, {WEIGHT: 10, "latent_dim": 2}],
                "mean_test_log_likelihood": np.array([-2.0, -3.0]),
            },
            1,
            "vary only invariance_weight",
        ),
    ],
)
def test_the_refit_rule_names_what_it_cannot_use(cv, nats, message):
    with pytest.raises(ValueError, match=message):
        largest_weight_within(nats)(cv)


def test_a_search_scores_likelihood_and_task_information_and_refits_the_chosen_weight(
    two_tasks,
):
    """Moyer's weight moves the held-out likelihood (its loss weights the reconstruction
    by 1 + lambda), so the best likelihood and the strongest penalty are different
    candidates here, and the rule tells them apart."""
    x, s = two_tasks
    folds = StratifiedKFold(2, shuffle=True, random_state=0)
    scoring = {
        "log_likelihood": log_likelihood_scorer(n_samples=20),
        "task_information": task_information_scorer(),
    }
    weights = [0.0, 1.0, 100.0]
    search = GridSearchCV(
        fast(InvariantCVAE, epochs=20, learning_rate=1e-2),
        {"invariance_weight": weights},
        scoring=scoring,
        refit=largest_weight_within(1e6),  # any cost accepted: the strongest penalty
        cv=folds,
    ).fit(x, s)
    assert search.best_index_ == 2
    assert search.best_estimator_.get_params()["invariance_weight"] == 100.0
    for name in scoring:
        assert np.isfinite(search.cv_results_[f"mean_test_{name}"]).all()
    likelihoods = search.cv_results_["mean_test_log_likelihood"]
    best = int(np.argmax(likelihoods))
    assert best != 2  # else the two rules below could not be told apart
    assert largest_weight_within(0)(search.cv_results_) == best
    gap = float(likelihoods[best] - likelihoods[2])
    assert largest_weight_within(gap / 2)(search.cv_results_) != 2

    model = search.best_estimator_
    information = task_probe(model.transform(x, s), s)["information"]
    assert task_information_scorer()(model, x, s) == -information
    assert log_likelihood_scorer(20)(model, x, s) == model.score(x, s, n_samples=20)


def test_the_likelihood_scorer_divides_each_prior_by_its_z(two_tasks):
    """T a constant 0.7: N(0, I) e^T integrates to e^0.7, so the normalised score is
    0.7 below the prior's unnormalised one; a density's score is its own."""
    x, s = two_tasks
    model = fast(OptimalPriorCVAE).fit(x, s)
    final = model.module_.prior.discriminator.body[-1]
    with torch.no_grad():
        final.weight.zero_()
        final.bias.fill_(0.7)
    unnormalised = log_likelihood_scorer(20, normalized=False)(model, x, s)
    assert unnormalised == model.score(x, s, n_samples=20)
    normalised = log_likelihood_scorer(20, n_temperatures=20)(model, x, s)
    assert normalised == pytest.approx(unnormalised - 0.7, abs=0.02)
    cvae = fast(CVAE).fit(x, s)
    assert log_likelihood_scorer(20)(cvae, x, s) == cvae.score(x, s, n_samples=20)
    # In a Pipeline, ln Z of its last step on the data the steps before give it.
    pipeline = make_pipeline(MinMaxScaler(clip=True), fast(OptimalPriorCVAE)).fit(x, s)
    inner = pipeline[-1].module_.prior.discriminator.body[-1]
    with torch.no_grad():
        inner.weight.zero_()
        inner.bias.fill_(0.7)
    unnormalised = log_likelihood_scorer(20, normalized=False)(pipeline, x, s)
    normalised = log_likelihood_scorer(20, n_temperatures=20)(pipeline, x, s)
    assert normalised == pytest.approx(unnormalised - 0.7, abs=0.02)
    # ... and the task information of its last step's codes of the data so transformed
    codes = pipeline[-1].transform(pipeline[:-1].transform(x), s)
    expected = -task_probe(codes, s)["information"]
    assert task_information_scorer()(pipeline, x, s) == expected
    alone = make_pipeline(model)  # one step: nothing before it transforms X
    assert task_information_scorer()(alone, x, s) == task_information_scorer()(model, x, s)
    assert log_likelihood_scorer(20, n_temperatures=20)(alone, x, s) == pytest.approx(
        log_likelihood_scorer(20, n_temperatures=20)(model, x, s)
    )

    class Scored:  # a model of another library, with a likelihood score and no Z
        def score(self, X, s, n_samples):
            return -1.0

    with pytest.raises(TypeError, match="Scored has no log_normalizer.*normalized=False"):
        log_likelihood_scorer(20)(Scored(), x, s)
    assert log_likelihood_scorer(20, normalized=False)(Scored(), x, s) == -1.0


def test_scorers_name_bad_settings():
    with pytest.raises(ValueError, match="probe"):
        task_information_scorer("forest")
    with pytest.raises(ValueError, match="n_samples"):
        log_likelihood_scorer(0)
