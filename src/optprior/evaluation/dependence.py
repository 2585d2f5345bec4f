"""Every measure of how much codes depend on the task, from arrays: what ``optprior
reproduce`` reports for each run, for any encoder's posteriors."""

from __future__ import annotations

import numpy as np
import torch

from optprior._validation import check_data, check_tasks, whole_number
from optprior.evaluation.information import task_mutual_information
from optprior.evaluation.invariance import kernel_dependence
from optprior.evaluation.metrics import task_probe


def task_dependence(
    mu: object,
    logvar: object,
    s: object,
    mlp_probe: bool = True,
    permutations: int = 200,
    seed: int = 0,
) -> dict[str, float]:
    """How much the posteriors q(z | x_n, s_n) = N(mu_n, diag e^{logvar_n}) of N points,
    ``mu`` and ``logvar`` (N, D) arrays (``model.posterior(X, s)``), reveal their tasks
    ``s`` (N,) of at least two tasks. Codes are the posterior means except for I(S;Z);
    ``logvar`` None scores codes alone (``mu``: any representation, e.g. another tool's),
    all but ``task_mutual_information``:

    - ``task_probe``, ``task_information``: a cross-validated logistic probe's balanced
      accuracy (1/K: nothing linearly readable) and its lower bound in nats on I(S;μ),
      the task information of the means (not on I(S;Z), which can be far smaller);
      ``_mlp_cv``: the same of an MLP probe (unless ``mlp_probe`` is false; about 5 s on
      a thousand points);
    - ``task_hsic``, ``task_mmd``: kernel statistics, 0 when every task's codes are the
      same set, with permutation p-values ``_p`` over ``permutations`` relabellings (on
      tasks of equal size HSIC = MMD^2 / K: ``evaluation.invariance`` says why);
    - ``task_mutual_information``: I(S;Z) of the mixture of these posteriors (nats, at
      most the entropy of the task frequencies), from 10 draws per point.

    Use held-out points, about as many per task (``evaluation.metrics.task_probe`` says
    what each probe reads). The kernel statistics hold an (N, N) Gram matrix (400 MB at
    N = 10,000) and pass over it twice per permutation: a few thousand points suffice."""
    means = check_data(mu, "mu")
    log_variances = None if logvar is None else check_data(logvar, "logvar")
    if log_variances is not None and log_variances.shape != means.shape:
        raise ValueError(f"logvar has shape {log_variances.shape}, mu {means.shape}")
    tasks = check_tasks(s, means.shape[0], data_name="mu")
    if len(np.unique(tasks)) < 2:
        raise ValueError("s holds one task: task dependence needs points of two or more")
    permutations = whole_number(permutations, "permutations", 1)
    seed = whole_number(seed, "seed", 0)
    probe = task_probe(means, tasks, seed=seed)
    measures = {"task_probe": probe["balanced_accuracy"], "task_information": probe["information"]}
    if mlp_probe:
        mlp = task_probe(means, tasks, seed=seed, probe="mlp")
        measures["task_probe_mlp_cv"] = mlp["balanced_accuracy"]
        measures["task_information_mlp_cv"] = mlp["information"]
    codes, labels = torch.from_numpy(means), torch.from_numpy(tasks)
    measures.update(kernel_dependence(codes, labels, permutations, seed))
    if log_variances is not None:
        measures["task_mutual_information"] = task_mutual_information(
            codes, torch.from_numpy(log_variances), labels, n_samples=10, seed=seed
        )
    return measures
