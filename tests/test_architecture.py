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
