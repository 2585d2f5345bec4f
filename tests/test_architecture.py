"""docs/architecture.md's example runs: a prior learned by the ELBO trains, saves and
loads; a new penalty reaches the loss; and the packages import in layers, without loops."""

import ast
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import fast

from optprior import BaseModel

REPO = Path(__file__).resolve().parents[1]
#: Each package with the packages it may import (the layers of docs/architecture.md).
LAYERS = ["nn", "priors", "module", "evaluation", "training", "models", "data", "experiments"]


@pytest.fixture(scope="module")
def example():
    text = (REPO / "docs" / "architecture.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(code.splitlines()) < 50
    namespace: dict = {"__name__": "architecture_example"}
    exec(compile(code, "docs/architecture.md", "exec"), namespace)
    return namespace


def test_a_prior_learned_by_the_elbo_trains_saves_and_loads(example, two_tasks, tmp_path):
    x, s = two_tasks
    model = fast(example["LearnedPriorCVAE"], **{"epochs": 5, "learning_rate": 1e-2}).fit(x, s)
    prior = model.module_.prior
    assert float(prior.mean.detach().abs().max()) > 1e-3  # trained, not left at its start
    model.save(tmp_path / "m.pt")
    loaded = BaseModel.load(tmp_path / "m.pt")
    assert type(loaded).__name__ == "LearnedPriorCVAE"
    torch.testing.assert_close(loaded.module_.prior.mean, prior.mean)
    assert np.isfinite(loaded.score_samples(x, s, n_samples=5)).all()


def test_the_post_hoc_prior_refuses_a_first_stage_of_another_prior(example, two_tasks):
    from optprior import PostHocOptimalPriorCVAE

    learned = fast(example["LearnedPriorCVAE"]).fit(*two_tasks)  # a CVAE, its prior learned
    with pytest.raises(TypeError, match="paper's CVAE\\); LearnedPriorCVAE holds a Learned"):
        PostHocOptimalPriorCVAE.from_cvae(learned, *two_tasks)


def test_a_new_penalty_reaches_the_loss(example, two_tasks):
    x, s = two_tasks
    penalised = fast(example["MeanMatchedCVAE"], invariance_weight=10.0).fit(x, s)
    assert "train_penalty" in penalised.history_.epochs[0]
    plain = fast(example["MeanMatchedCVAE"], invariance_weight=0.0).fit(x, s)
    gaps = [
        np.linalg.norm(
            m.transform(x[s == 0], s[s == 0]).mean(0) - m.transform(x[s == 1], s[s == 1]).mean(0)
        )
        for m in (penalised, plain)
    ]
    assert gaps[0] < gaps[1]


@pytest.mark.parametrize(
    "mistake, method",
    [
        (lambda prior, z: prior.right_log_prob(z).mean(), "log_prob"),  # a mean, not per point
        (lambda prior, z: prior.right_log_prob(z)[..., None], "log_prob"),  # (B, 1): broadcasts
        (lambda prior, z: z, "log_prob"),  # (B, D)
    ],
)
def test_a_prior_of_the_wrong_shape_is_named_not_broadcast(example, two_tasks, mistake, method):
    x, s = two_tasks
    learned = example["LearnedGaussianPrior"]

    class Mistaken(learned):
        right_log_prob = learned.log_prob

        def log_prob(self, z):
            return mistake(self, z)

    class MistakenCVAE(example["LearnedPriorCVAE"]):
        def make_prior(self):
            return Mistaken(self.config.latent_dim)

    with pytest.raises(ValueError, match=f"Mistaken.{method} returned .* one value a point"):
        fast(MistakenCVAE).fit(x, s)
    fitted = fast(example["LearnedPriorCVAE"]).fit(x, s)  # a closed-form KL, then scored:
    fitted.module_.prior.__class__ = Mistaken  # log_prob alone is read, by the bound
    with pytest.raises(ValueError, match=f"Mistaken.{method} returned"):
        fitted.score_samples(x, s, n_samples=2)


def test_a_kl_of_the_wrong_shape_is_named(example, two_tasks):
    class PerDimension(example["LearnedGaussianPrior"]):
        def kl(self, z, mu, logvar):  # per dimension, not summed
            return z - mu

    class PerDimensionCVAE(example["LearnedPriorCVAE"]):
        def make_prior(self):
            return PerDimension(self.config.latent_dim)

    with pytest.raises(ValueError, match=r"PerDimension.kl returned \(50, 3\)"):
        fast(PerDimensionCVAE).fit(*two_tasks)


def test_a_prior_replacing_its_parameters_at_start_is_refused(example, two_tasks):
    class DataStarted(example["LearnedGaussianPrior"]):
        def start(self, x, s):  # a new Parameter: the optimiser holds the old one
            self.mean = torch.nn.Parameter(torch.full((self.latent_dim,), 0.5))

    class DataStartedCVAE(example["LearnedPriorCVAE"]):
        def make_prior(self):
            return DataStarted(self.config.latent_dim)

    with pytest.raises(TypeError, match=r"DataStarted.start made new parameters \['mean'\]"):
        fast(DataStartedCVAE).fit(*two_tasks)


def test_a_penalty_that_is_no_scalar_is_named_and_a_plain_function_is_a_penalty(example, two_tasks):
    from optprior.models.methods import PenalisedCVAE

    def per_point_gap(terms, s):  # per point, not the batch's mean
        return terms.mu.pow(2).sum(1)

    class PerPoint(PenalisedCVAE):
        penalty = per_point_gap  # no staticmethod: taken as the function it is

    with pytest.raises(ValueError, match=r"penalty per_point_gap returned \(50,\): it must"):
        fast(PerPoint, invariance_weight=1.0).fit(*two_tasks)

    class MeanGap(PenalisedCVAE):
        penalty = example["task_mean_gap"]

    assert (
        "train_penalty" in fast(MeanGap, invariance_weight=1.0).fit(*two_tasks).history_.epochs[0]
    )

    class OwnWeight(PenalisedCVAE):  # a penalty defined as a method reads the model
        def penalty(self, terms, s):
            return self.config.invariance_weight * terms.mu.pow(2).sum(1).mean()

    assert (
        fast(OwnWeight, invariance_weight=1.0).fit(*two_tasks).history_.epochs[0]["train_penalty"]
    )


def imported_packages(package: str) -> set[str]:
    """The optprior packages that the modules of ``package`` import."""
    found = set()
    for path in (REPO / "src" / "optprior" / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("optprior."):
                found.add(node.module.split(".")[1])
    return found - {package}


@pytest.mark.parametrize("package", LAYERS)
def test_packages_import_only_layers_below(package):
    below = set(LAYERS[: LAYERS.index(package)]) | {
        "_io",
        "_random",
        "_settings",
        "_text",
        "_validation",
    }
    assert imported_packages(package) <= below
