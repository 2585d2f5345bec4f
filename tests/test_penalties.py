"""Penalties on the task information of z: zero when the tasks' codes are the same set,
growing as they move apart; and the penalised estimators fit, save, load and score."""

import numpy as np
import pytest
import torch
from helpers import FAST, fast, no_warnings

from optprior import CVAE, HSICCVAE, MMDCVAE, AdversarialCVAE, BaseModel, InvariantCVAE
from optprior.module import ObjectiveTerms
from optprior.training.penalties import TaskAdversary, hsic_penalty, mmd_penalty

PENALTIES = [hsic_penalty, mmd_penalty]


def terms_of(z: torch.Tensor) -> ObjectiveTerms:
    zeros = torch.zeros(z.shape[0])
    return ObjectiveTerms(zeros, zeros, z, z, torch.zeros_like(z))


@pytest.mark.parametrize("penalty", PENALTIES)
def test_zero_for_equal_task_codes_and_growing_with_their_distance(penalty):
    codes = torch.randn(30, 4, generator=torch.Generator().manual_seed(0))
    s = torch.repeat_interleave(torch.tensor([0, 1]), 30)
    assert abs(float(penalty(terms_of(torch.cat([codes, codes])), s))) < 1e-6
    values = [
        float(penalty(terms_of(torch.cat([codes, codes + shift])), s)) for shift in (0.3, 1.0, 3.0)
    ]
    assert 0 < values[0] < values[1] < values[2]
    one_task = torch.zeros(60, dtype=torch.long)
    assert abs(float(penalty(terms_of(torch.cat([codes, codes + 3.0])), one_task))) < 1e-6


def test_kernel_statistics_are_their_formulas_on_tasks_of_unequal_size():
    """Seven codes in tasks of 4, 2 and 1 (with equal tasks, centring one side of the Gram
    matrix or the other gives the same HSIC): the median-heuristic Gaussian Gram matrix,
    HSIC = tr(K H L H) / N^2 and each task's MMD^2 against all codes, written out."""
    from optprior.evaluation.invariance import gaussian_gram, hsic, mmd

    rng = np.random.default_rng(0)
    z, s = rng.normal(size=(7, 3)) * [1.0, 2.0, 0.5], np.array([0, 0, 0, 0, 1, 1, 2])
    squared = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
    gram = np.exp(-squared / np.median(squared[~np.eye(7, dtype=bool)]))
    ours = gaussian_gram(torch.from_numpy(z))
    np.testing.assert_allclose(ours.numpy(), gram, rtol=1e-10)
    centring, same = np.eye(7) - 1 / 7, (s[:, None] == s[None, :]).astype(float)
    expected = np.trace(gram @ centring @ same @ centring) / 49
    np.testing.assert_allclose(float(hsic(ours, torch.from_numpy(s))), expected, rtol=1e-10)
    gaps = []
    for task in range(3):
        a = np.flatnonzero(s == task)
        within, across = gram[np.ix_(a, a)].sum() / len(a) ** 2, gram[a].sum() / (7 * len(a))
        gaps.append(within + gram.sum() / 49 - 2 * across)
    np.testing.assert_allclose(float(mmd(ours, torch.from_numpy(s))), np.mean(gaps), rtol=1e-10)


def test_hsic_with_the_task_kernel_is_the_task_weighted_mmd():
    """With L = [s_i = s_j], tr(K H L H) / N^2 = sum_k pi_k^2 MMD^2_k (task k's codes
    against all; pi_k its share of the points): on tasks of equal size HSIC is MMD^2 / K,
    for the observed tasks and every relabelling (which keeps the sizes), so there the
    two statistics, and their permutation tests, are one measure."""
    from optprior.evaluation.invariance import gaussian_gram, hsic, mmd

    generator = torch.Generator().manual_seed(1)
    uneven = torch.repeat_interleave(torch.tensor([0, 1, 2]), torch.tensor([30, 20, 10]))
    z = torch.randn(60, 3, generator=generator, dtype=torch.float64) + 0.7 * uneven[:, None]
    gram = gaussian_gram(z)

    def gap(member: torch.Tensor) -> float:
        return float(gram[member][:, member].mean() + gram.mean() - 2 * gram[member].mean())

    weighted = sum((float((uneven == k).sum()) / 60) ** 2 * gap(uneven == k) for k in range(3))
    assert weighted > 1e-3
    assert float(hsic(gram, uneven)) == pytest.approx(weighted, rel=1e-9)
    even = torch.arange(60) % 3
    for labels in (even, even[torch.randperm(60, generator=generator)]):
        assert float(hsic(gram, labels)) == pytest.approx(float(mmd(gram, labels)) / 3, rel=1e-9)


def test_the_kernel_is_the_same_for_codes_shifted_and_scaled_in_float32():
    """The median-heuristic kernel reads only the codes' relative positions: float32
    codes of a small spread far from the origin (a nearly collapsed encoder) give the Gram
    matrix of the same codes at unit scale, not one rounded to pieces."""
    from optprior.evaluation.invariance import gaussian_gram

    z = torch.randn(50, 3, generator=torch.Generator().manual_seed(2))
    for scale, offset in [(1e-3, 10.0), (1e-4, 1.0)]:
        moved = gaussian_gram(z * scale + offset)
        torch.testing.assert_close(moved, gaussian_gram(z), atol=1e-3, rtol=0)


@pytest.mark.parametrize("penalty", PENALTIES)
def test_the_penalty_sends_a_gradient_to_the_codes(penalty):
    z = torch.randn(40, 3, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
    s = torch.arange(40) % 2
    penalty(terms_of(z), s).backward()
    assert float(z.grad.abs().max()) > 0


@pytest.mark.parametrize("penalty", PENALTIES)
def test_a_batch_of_one_point_has_no_penalty(penalty):
    z = torch.randn(1, 3, generator=torch.Generator().manual_seed(2)).requires_grad_(True)
    value = penalty(terms_of(z), torch.tensor([1]))
    assert float(value.detach()) == 0.0
    value.backward()
    assert torch.isfinite(z.grad).all()


@pytest.mark.parametrize("method", [HSICCVAE, MMDCVAE])
def test_a_last_batch_of_one_point_trains(method, two_tasks):
    """101 training points in batches of 50 leave the last batch a single point."""
    x, s = two_tasks
    train, val = np.r_[0:51, 120:170], np.r_[100:120, 220:240]
    with no_warnings():
        model = fast(method, invariance_weight=5.0).fit(x[train], s[train], x[val], s[val])
    assert len(model.history_.epochs) == FAST["epochs"]


@pytest.mark.parametrize("method", [HSICCVAE, MMDCVAE, AdversarialCVAE])
def test_penalised_models_fit_save_load_and_score(method, two_tasks, tmp_path):
    x, s = two_tasks
    model = fast(method, invariance_weight=5.0).fit(x, s)
    assert all(r["train_penalty"] >= -1e-6 for r in model.history_.epochs)
    model.save(tmp_path / "m.pt")
    loaded = BaseModel.load(tmp_path / "m.pt")
    assert type(loaded) is method
    np.testing.assert_array_equal(loaded.score_samples(x, s, 5), model.score_samples(x, s, 5))
    assert method.reads_setting("invariance_weight")


@pytest.mark.parametrize("method", [InvariantCVAE, HSICCVAE, MMDCVAE, AdversarialCVAE])
def test_a_penalty_of_weight_zero_is_the_cvae(method, two_tasks):
    x, s = two_tasks
    data = (x[:200], s[:200], x[200:], s[200:])
    cvae = fast(CVAE).fit(*data)
    penalised = fast(method, invariance_weight=0.0).fit(*data)
    assert penalised.history_.epochs and all(
        {k: v for k, v in got.items() if k != "seconds"}
        == {k: v for k, v in expected.items() if k != "seconds"}
        for got, expected in zip(penalised.history_.epochs, cvae.history_.epochs, strict=True)
    )
    expected = cvae.module_.state_dict()
    for key, value in penalised.module_.state_dict().items():
        torch.testing.assert_close(value, expected[key], rtol=0, atol=0)


def test_the_adversary_learns_the_task_while_the_codes_are_pushed_to_hide_it():
    """One loss, two directions: the classifier's weights get the cross-entropy's own
    gradient (it learns to tell the tasks apart), the codes get it negated (the encoder
    is pushed to make them harder to tell apart)."""
    torch.manual_seed(0)
    adversary = TaskAdversary(3, 2, (8,))
    z = torch.randn(40, 3).requires_grad_(True)
    s = torch.arange(40) % 2
    adversary(terms_of(z), s).backward()
    reversed_codes = z.grad.clone()
    weights = [p.grad.clone() for p in adversary.parameters()]
    z.grad = None
    adversary.zero_grad()
    logits = adversary.classifier(z)  # the same classifier without the reversal
    torch.nn.functional.cross_entropy(logits, s).backward()
    torch.testing.assert_close(reversed_codes, -z.grad)
    for reversed_weight, weight in zip(weights, adversary.parameters(), strict=True):
        torch.testing.assert_close(reversed_weight, weight.grad)


def test_the_adversary_is_trained_and_checkpointed_with_the_model(two_tasks):
    x, s = two_tasks
    model = fast(AdversarialCVAE)
    plan = model.make_plan(model._build(12, 2))
    trained = {id(p) for group in plan.optimizer.param_groups for p in group["params"]}
    adversary = plan.networks()["penalty"]
    assert all(id(p) in trained for p in adversary.parameters())
    fitted = fast(AdversarialCVAE, invariance_weight=5.0).fit(x, s)
    assert all(r["train_penalty"] > 0 for r in fitted.history_.epochs)  # a cross-entropy


def test_permutation_tests_tell_dependent_codes_from_independent_ones():
    from optprior.evaluation.invariance import kernel_dependence

    g = torch.Generator().manual_seed(2)
    s = torch.arange(200) % 2
    independent = kernel_dependence(torch.randn(200, 3, generator=g), s, permutations=99)
    shifted = torch.randn(200, 3, generator=g) + 0.8 * s[:, None]
    dependent = kernel_dependence(shifted, s, permutations=99)
    for name in ("task_hsic", "task_mmd"):
        assert independent[f"{name}_p"] > 0.05 and dependent[f"{name}_p"] == 0.01
        assert dependent[name] > independent[name]


def test_the_mlp_probe_reads_what_the_linear_probe_cannot():
    """Task 0 inside the unit circle, task 1 on a ring around it: no line separates them."""
    from optprior.evaluation.metrics import task_probe

    rng = np.random.default_rng(0)
    s = np.arange(400) % 2
    angle = rng.uniform(0, 2 * np.pi, 400)
    radius = np.where(s == 0, rng.uniform(0, 1, 400), rng.uniform(2, 3, 400))
    z = np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1)
    assert task_probe(z, s)["balanced_accuracy"] < 0.7
    assert task_probe(z, s, probe="mlp")["balanced_accuracy"] > 0.9
    with pytest.raises(ValueError, match="unknown probe"):
        task_probe(z, s, probe="svm")


@pytest.mark.parametrize("method", [InvariantCVAE, AdversarialCVAE])
def test_a_penalty_on_one_task_is_named_as_having_nothing_to_remove(method, two_tasks):
    x, _ = two_tasks
    one_task = np.zeros(len(x), dtype=np.int64)
    with pytest.warns(UserWarning, match="s holds one task") as caught:
        fast(method).fit(x, one_task)
    assert caught[0].filename == __file__  # the user's line
    with no_warnings():
        fast(method, invariance_weight=0.0).fit(x, one_task)
