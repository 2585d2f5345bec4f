"""Every metric of one trained model on one setting."""

from __future__ import annotations

from typing import cast

import numpy as np
import torch

from optprior._random import seeded_torch
from optprior.data import MultiTaskData, TaskSplit
from optprior.evaluation.binarization import binarized
from optprior.evaluation.calibration import calibration_points, discriminator_calibration
from optprior.evaluation.dependence import task_dependence
from optprior.evaluation.metrics import downstream_accuracy
from optprior.experiments.config import EvaluationConfig
from optprior.models.base import BaseModel, draws_binary
from optprior.priors import OptimalPrior, StandardNormalPrior
from optprior.priors.optimal import ANNEALING_CHAINS, IMPORTANCE_DRAWS, posterior_codes
from optprior.training.batches import component_log_weights


def scored_tasks(data: MultiTaskData) -> list[int]:
    """The target task in a two-task setting, every task otherwise."""
    return [data.target_task] if data.target_task is not None else list(range(data.n_tasks))


def balanced_subset(split: TaskSplit, per_task: int, seed: int) -> TaskSplit:
    """At most ``per_task`` points of each task, the same number for every task."""
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(split.s == k) for k in np.unique(split.s)]
    n = min(per_task, *(len(g) for g in groups))
    keep = np.sort(np.concatenate([rng.choice(g, n, replace=False) for g in groups]))
    return TaskSplit(split.X[keep], split.s[keep], split.y[keep], split.index[keep])


@torch.no_grad()
def discriminator_accuracy(prior, mu: np.ndarray, logvar: np.ndarray, seed: int) -> float:
    """Balanced accuracy of T(z) > 0 on draws from posteriors (N, D) against N(0, I) draws."""
    generator = torch.Generator().manual_seed(seed)
    mu_t, logvar_t = torch.from_numpy(mu), torch.from_numpy(logvar)
    z_q = mu_t + torch.exp(0.5 * logvar_t) * torch.randn(mu_t.shape, generator=generator)
    z_p = torch.randn(mu_t.shape, generator=generator)
    device = prior.device()
    prior.eval()
    hits_q = (prior.log_ratio(z_q.to(device)) > 0).float().mean()
    hits_p = (prior.log_ratio(z_p.to(device)) <= 0).float().mean()
    return float((hits_q + hits_p) / 2)


def evaluate(
    model: BaseModel, data: MultiTaskData, config: EvaluationConfig, seed: int
) -> dict[str, float | None]:
    """Metrics of ``model``: per scored task ``<metric>/<task name>``, then their mean.

    Metrics: ``test_log_likelihood`` and ``test_elbo`` (nats, binarised test data for the
    Bernoulli likelihood; the optimal prior as N(z; 0, I) e^T, as in the paper; like every
    metric, the mean of the scored tasks' means), ``test_log_likelihood_over_points``
    (the same, averaged over all scored test points instead: the two differ where several
    tasks of unequal size are scored, as in faces),
    ``test_log_likelihood_normalized`` (the same with the prior divided by its
    estimated normaliser Z, so that it is a density: equal to the former for
    N(0, I) priors), for a prior other than N(0, I) ``test_log_likelihood_standard_prior``
    (the same encoder and decoder scored under N(0, I) with the same importance draws:
    for a post-hoc T its own CVAE stage) and ``prior_gain`` (the normalised score minus
    that one: what the fitted prior adds to ln p(x|s) on the same networks),
    ``val_log_likelihood`` (the normalised one on the validation split, the score that
    may choose settings), ``accuracy_logistic`` and ``accuracy_knn`` (classifiers on z
    of the labelled training points, scored on the labelled test points; None without
    labels), and, over all tasks of the test split, ``task_probe`` (balanced accuracy of
    predicting s from the posterior means μ), ``task_information`` (a lower bound on
    I(S;μ) in nats from the
    same probe's held-out log-loss; both None with one task), the same from an MLP probe
    with its penalty cross-validated (``_mlp_cv``, unless ``mlp_probe`` is false; ``_mlp``
    in results before 2026-12-05
    is an early-stopped MLP that under-reads small sets: ``evaluation.task_probe``),
    ``task_hsic`` and ``task_mmd`` with permutation p-values (``_p``;
    ``evaluation.invariance``; absent with one task) and, for the optimal
    prior, ``prior_log_normalizer`` (ln Z by annealed importance sampling) with
    ``_chains``, and the importance-sampled ``_importance`` with ``_draws``
    (``_normalizer``),
    ``discriminator_accuracy`` (T telling test z ~ q(z|x,s) from N(0, I) draws; 0.5
    when q(z) matches N(0, I)) and
    ``calibration_error_mean`` / ``_std`` (T(z) minus the exact log ratio of the training
    posteriors' mixture to N(0, I), on fresh z from that mixture, in nats; ``_loo_``: the
    same against the mixture without the posterior that drew each z). The random draws
    come from torch seeded with ``seed``: scoring a model again repeats its scores on the
    same device and torch version.
    """
    with seeded_torch(seed, model.device):
        return _metrics(model, data, config, seed)


def _metrics(
    model: BaseModel, data: MultiTaskData, config: EvaluationConfig, seed: int
) -> dict[str, float | None]:
    bernoulli = data.likelihood == "bernoulli"
    prior = model.fitted_module().prior
    metrics: dict[str, float | None] = {}
    log_z = 0.0
    if prior.has_discriminator:
        # N(z; 0, I) e^T integrates to Z = 1 only if T is the exact log ratio.
        optimal, posteriors = cast(OptimalPrior, prior), training_posteriors(model, data)
        metrics.update(_normalizer(optimal, *posteriors, seed, config.normalizer_temperatures))
        points = calibration_points(optimal, *posteriors, seed=seed)
        metrics.update(discriminator_calibration(points))
        log_z = cast(float, metrics["prior_log_normalizer"])
    standard = StandardNormalPrior(prior.latent_dim).to(prior.device())
    per_task: dict[str, list[float]] = {}
    test_sums = np.zeros(2)  # the scored points' ln p(x|s), and their number
    for k in scored_tasks(data):
        name = data.tasks[k]
        test, train = data.test.task(k), data.train.task(k)
        if config.test_points:
            test = balanced_subset(test, config.test_points, seed)
        x_score = binarized(test.X) if bernoulli else test.X
        # the same draws under N(0, I) too, where the prior is another: what it adds
        priors = None if isinstance(prior, StandardNormalPrior) else (prior, standard)
        scored = model.score_samples(x_score, test.s, config.n_samples, None, priors)
        per_point = scored if priors is None else scored[0]
        test_sums += (float(per_point.sum(dtype=np.float64)), len(per_point))
        log_likelihood = float(per_point.mean())
        scores: dict[str, float | None] = {
            "test_log_likelihood": log_likelihood,
            "test_elbo": float(model.elbo(x_score, test.s, random_state=None).mean()),
            "test_log_likelihood_normalized": log_likelihood - log_z,
        }
        if priors is not None:
            standard_score = float(scored[1].mean())
            scores["test_log_likelihood_standard_prior"] = standard_score
            scores["prior_gain"] = log_likelihood - log_z - standard_score
        val = data.val.task(k)
        if len(val.s):
            x_val = binarized(val.X) if bernoulli else val.X
            scores["val_log_likelihood"] = (
                float(model.score_samples(x_val, val.s, config.n_samples, random_state=None).mean())
                - log_z
            )
        labelled, test_labelled = train.y >= 0, test.y >= 0
        for classifier in ("logistic", "knn"):
            scores[f"accuracy_{classifier}"] = (
                downstream_accuracy(
                    model.posterior(train.X[labelled], train.s[labelled])[0],
                    train.y[labelled],
                    model.posterior(test.X[test_labelled], test.s[test_labelled])[0],
                    test.y[test_labelled],
                    classifier,
                )
                if labelled.any() and test_labelled.any()
                else None
            )
        for metric, value in scores.items():
            metrics[f"{metric}/{name}"] = value
            if value is not None:
                per_task.setdefault(metric, []).append(value)
    for metric, values in per_task.items():
        metrics[metric] = float(np.mean(values))
    metrics["test_log_likelihood_over_points"] = float(test_sums[0] / test_sums[1])
    metrics.setdefault("accuracy_logistic", None)
    metrics.setdefault("accuracy_knn", None)

    probe = balanced_subset(data.test, config.probe_points, seed)
    mu, logvar = model.posterior(probe.X, probe.s)
    if prior.has_discriminator:
        metrics["discriminator_accuracy"] = discriminator_accuracy(prior, mu, logvar, seed)
    if len(np.unique(probe.s)) > 1:  # with one task there is nothing to leak
        metrics.update(task_dependence(mu, logvar, probe.s, config.mlp_probe, seed=seed))
    else:
        metrics["task_probe"] = metrics["task_information"] = None
    return metrics


#: The metrics that divide the optimal prior by Z: ln p(x|s) estimates minus ln Z (the
#: gain: one such estimate minus a score that has no Z).
NORMALIZED = ("test_log_likelihood_normalized", "val_log_likelihood", "prior_gain")


def renormalized(
    model: BaseModel,
    data: MultiTaskData,
    metrics: dict[str, float | None],
    seed: int,
    temperatures: int,
) -> dict[str, float | None]:
    """``metrics`` of ``model`` with ln Z estimated again (``_normalizer``) and the
    ``NORMALIZED`` metrics (and their per-task values) moved by the change in ln Z: each
    holds an importance-sampled ln p(x|s) under N(z; 0, I) e^T, unchanged, minus ln Z
    (``prior_gain`` then minus a score that has no Z). Without a T, ``metrics`` as they
    are."""
    prior = model.fitted_module().prior
    if not prior.has_discriminator:
        return metrics
    new = _normalizer(
        cast(OptimalPrior, prior), *training_posteriors(model, data), seed, temperatures
    )
    shift = cast(float, metrics["prior_log_normalizer"]) - new["prior_log_normalizer"]
    moved = {
        key: value + shift
        for key, value in metrics.items()
        if key.split("/")[0] in NORMALIZED and value is not None
    }
    return {**metrics, **moved, **new}


def training_posteriors(
    model: BaseModel, data: MultiTaskData
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The posteriors of the training points (mu, logvar: (N, D)) and their weights ln w
    (N,) in the aggregated posterior T was trained for (``component_log_weights``): of
    the data as training saw them, one fixed binarisation of Bernoulli data where
    training drew them afresh (``dynamic_binarization``), else the data as given."""
    train = data.train
    # as the fit was made, whatever set_params did since
    x = binarized(train.X) if draws_binary(model.fitted_settings_) else train.X
    mu, logvar = (torch.from_numpy(a) for a in model.posterior(x, train.s))
    s = torch.from_numpy(train.s)
    log_weights = component_log_weights(s, model.fitted_settings_["discriminator_task_weights"])
    return mu, logvar, log_weights


def _normalizer(
    prior: OptimalPrior,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    log_weights: torch.Tensor,
    seed: int,
    temperatures: int,
) -> dict[str, float]:
    """ln Z of N(z; 0, I) e^T from codes drawn one per training posterior
    (``posterior_codes``, as ``OptimalPrior.normalizer_from_posteriors`` does), by both
    estimators: annealed importance
    sampling over ``temperatures`` (``prior_log_normalizer``, the one the normalised
    scores use, and ``_chains``, the effective number of its 500 chains) and importance
    sampling
    (``_importance``, and ``_draws``, the effective number of its 1e5 draws), which
    agree where T is near calibrated and part where it is not."""
    codes = posterior_codes(mu, logvar, log_weights, seed)  # drawn once for both
    annealed = prior.normalizer_annealed(ANNEALING_CHAINS, temperatures, seed, codes)
    importance = prior.normalizer_estimate(IMPORTANCE_DRAWS, seed, codes)
    return {
        "prior_log_normalizer": annealed.log_z,
        "prior_log_normalizer_chains": annealed.effective_samples,
        "prior_log_normalizer_importance": importance.log_z,
        "prior_log_normalizer_draws": importance.effective_samples,
    }
