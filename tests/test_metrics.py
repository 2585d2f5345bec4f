"""Representation metrics on arrays whose answer is known."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from optprior.evaluation import downstream_accuracy, kernel_dependence, task_dependence, task_probe


def test_task_probe_on_invariant_and_revealing_codes():
    rng = np.random.default_rng(0)
    s = np.repeat([0, 1], 300)
    z = rng.normal(size=(600, 5))
    invariant = task_probe(z, s)
    assert abs(invariant["balanced_accuracy"] - 0.5) < 0.08
    assert invariant["information"] < 0.02
    z[:, 0] += 8.0 * s  # the task shifts one coordinate far
    revealing = task_probe(z, s)
    assert revealing["balanced_accuracy"] > 0.99
    assert abs(revealing["information"] - math.log(2)) < 0.02


def test_task_probe_on_tasks_of_unequal_size_against_the_closed_forms():
    """Tasks of 80% and 20%, the second shifting one coordinate by 1.5 (unit variances).
    The Bayes decision of highest balanced accuracy thresholds it at 0.75, for
    Phi(0.75) = 0.773 (argmax p(s | z) would weigh the large task: 0.692). The logistic
    probe, the true family of the log-odds, reads I(S;Z), found by quadrature, when its
    probabilities follow the task frequencies (0.143 of 0.150; fitted with tasks balanced,
    0.020). In noise it reads 0 (fitted with tasks balanced, -0.19; with ln 2 in place of
    H(S), +0.19)."""
    rng = np.random.default_rng(0)
    s = (np.arange(4000) % 5 == 0).astype(np.int64)
    z = rng.normal(size=(4000, 3))
    noise = task_probe(z, s)
    assert abs(noise["balanced_accuracy"] - 0.5) < 0.03 and abs(noise["information"]) < 0.01
    z[:, 0] += 1.5 * s
    probe = task_probe(z, s)
    assert abs(probe["balanced_accuracy"] - stats.norm.cdf(0.75)) < 0.02

    def joint(x, task):  # p(s, z_0)
        return (0.2 if task else 0.8) * stats.norm.pdf(x - 1.5 * task)

    def conditional_entropy(x):  # p(z_0) H(S | z_0)
        terms = [joint(x, task) for task in (0, 1)]
        marginal = sum(terms)
        return -sum(j * np.log(j / marginal) for j in terms)

    entropy = -(0.8 * math.log(0.8) + 0.2 * math.log(0.2))
    information = entropy - integrate.quad(conditional_entropy, -12, 14)[0]
    assert 0.1 < information < 0.2 and abs(probe["information"] - information) < 0.015


@pytest.mark.slow
def test_the_mlp_probe_reads_a_small_set_as_well_as_the_linear_one_and_nothing_in_noise():
    """80 codes per task, 3 tasks, as the faces probe has: where a line separates the
    tasks the MLP probe reads them too, and in pure noise its bound stays near 0 (its
    penalty, chosen on the fold, lets it predict the task frequencies). An MLP stopped
    early on a tenth of each fold read 0.82 here, the line 0.99."""
    rng = np.random.default_rng(1)
    s = np.repeat([0, 1, 2], 80)
    noise = rng.normal(size=(240, 10))
    z = noise + 4.0 * np.eye(10)[s]  # each task shifts its own coordinate
    linear, mlp = task_probe(z, s), task_probe(z, s, probe="mlp")
    assert linear["balanced_accuracy"] > 0.95
    assert mlp["balanced_accuracy"] > linear["balanced_accuracy"] - 0.03
    assert mlp["information"] > 0.8  # of ln 3 = 1.10
    empty = task_probe(noise, s, probe="mlp")
    assert abs(empty["balanced_accuracy"] - 1 / 3) < 0.1 and abs(empty["information"]) < 0.03


def test_downstream_accuracy():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    z = rng.normal(size=(200, 4)) + 5.0 * np.eye(4)[y]
    assert downstream_accuracy(z[:100], y[:100], z[100:], y[100:]) > 0.95
    assert downstream_accuracy(z[:100], y[:100], z[100:], y[100:], "knn") > 0.95
    with pytest.raises(ValueError, match="unknown classifier"):
        downstream_accuracy(z, y, z, y, "forest")


def test_task_dependence_takes_arrays_and_reads_shifted_codes_but_not_shared_ones():
    """Posteriors from one distribution for both tasks read as independent (probe at
    chance, kernel statistics' p-values not small); shifting one task's means reads as
    dependent on every measure, and I(S;Z) of well-separated narrow posteriors is ln 2."""
    rng = np.random.default_rng(0)
    s = np.repeat([0, 1], 150)
    mu = rng.normal(size=(300, 3)).astype(np.float32)
    logvar = np.full_like(mu, -4.0)
    shared = task_dependence(mu, logvar, s, mlp_probe=False, permutations=49)
    assert abs(shared["task_probe"] - 0.5) < 0.1
    assert shared["task_hsic_p"] > 0.05 and shared["task_mmd_p"] > 0.05
    assert "task_probe_mlp_cv" not in shared
    mu[:, 0] += 6.0 * s
    apart = task_dependence(mu, logvar, s, permutations=49)
    assert apart["task_probe"] > 0.99 and apart["task_probe_mlp_cv"] > 0.99
    assert apart["task_hsic"] > 10 * shared["task_hsic"] and apart["task_mmd_p"] == 1 / 50
    assert abs(apart["task_mutual_information"] - math.log(2)) < 0.01
    torch_codes = kernel_dependence(torch.from_numpy(mu), torch.from_numpy(s), permutations=49)
    assert torch_codes == {key: apart[key] for key in torch_codes}
    # Codes alone (another tool's representation): every measure but the mixture's I(S;Z).
    codes = task_dependence(mu, None, s, permutations=49)
    assert codes == {key: value for key, value in apart.items() if key != "task_mutual_information"}


def test_the_probes_bound_the_information_of_the_means_not_of_drawn_codes():
    """Means a little apart under wide posteriors: a probe of the means reads almost all
    of ln 2, while codes drawn from the posteriors (the mixture's I(S;Z)) carry little."""
    rng = np.random.default_rng(0)
    s = np.repeat([0, 1], 200)
    mu = (0.05 * rng.normal(size=(400, 1)) + 0.5 * s[:, None]).astype(np.float32)
    measures = task_dependence(mu, np.zeros_like(mu), s, permutations=19)
    assert measures["task_information"] > 0.6 and measures["task_information_mlp_cv"] > 0.6
    assert measures["task_mutual_information"] < 0.05


@pytest.mark.parametrize(
    ("logvar_shape", "s", "message"),
    [
        ((300, 2), np.repeat([0, 1], 150), r"logvar has shape \(300, 2\), mu \(300, 3\)"),
        ((300, 3), np.repeat([0, 1], 100), "mu has 300 points but s has 200"),
        ((300, 3), np.zeros(300, int), "one task"),
        ((300, 3), np.eye(2)[np.repeat([0, 1], 150)], "1-D"),
    ],
)
def test_task_dependence_names_bad_input(logvar_shape, s, message):
    mu = np.zeros((300, 3))
    with pytest.raises(ValueError, match=message):
        task_dependence(mu, np.zeros(logvar_shape), s)
