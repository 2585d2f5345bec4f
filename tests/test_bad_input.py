"""Every bad input raises ValueError (or a subclass) whose message names the problem."""

import numpy as np
import pytest
import torch
from helpers import FAST

from optprior import CVAE, VAE, OptimalPriorCVAE, load_model
from optprior.models import ModelFileError, NotFittedError


@pytest.fixture(scope="module")
def fitted(two_tasks):
    x, s = two_tasks
    return CVAE(**FAST).fit(x, s)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda x, s: (np.where(np.arange(x.size).reshape(x.shape) == 5, np.nan, x), s), "NaN"),
        (
            lambda x, s: (np.where(np.arange(x.size).reshape(x.shape) == 5, np.inf, x), s),
            "infinite",
        ),
        (lambda x, s: (x.reshape(len(x), 3, 4), s), "2-D"),
        (lambda x, s: (x[:, 0], s), "2-D"),
        (lambda x, s: (x, s[:-1]), "240 points but s has 239"),
        (lambda x, s: (x, s.reshape(-1, 1)), "1-D"),
        (lambda x, s: (x, s - 1), "negative task index"),
        (lambda x, s: (x, s + 0.5), "integer task indices"),
        (lambda x, s: (x * 2.0, s), r"\[0, 1\] for the Bernoulli"),
        (lambda x, s: (x[:0], s[:0]), "empty"),
        (lambda x, s: (x, None), "task index of each point"),
        (lambda x, s: (x.astype(str).astype(object) + "a", s), "numeric array"),
    ],
)
def test_fit_rejects(two_tasks, mutate, message):
    x, s = mutate(*two_tasks)
    with pytest.raises(ValueError, match=message):
        CVAE(**FAST).fit(x, s)


def test_unseen_task_at_transform(fitted, two_tasks):
    x, s = two_tasks
    with pytest.raises(ValueError, match=r"task indices \[2\] that were not seen"):
        fitted.transform(x, np.full(len(x), 2))
    with pytest.raises(ValueError, match="not seen"):
        fitted.sample(3, s=5)


def test_task_missing_from_training_is_unseen(two_tasks):
    x, s = two_tasks
    model = CVAE(**FAST).fit(x, np.where(s == 1, 2, 0))  # tasks 0 and 2, none of 1
    with pytest.raises(ValueError, match=r"\[1\] that were not seen"):
        model.score_samples(x[:3], [1, 1, 1], n_samples=2)


def test_wrong_feature_count(fitted, two_tasks):
    x, s = two_tasks
    with pytest.raises(ValueError, match="13 features, the model was fitted on 12"):
        fitted.transform(np.zeros((2, 13)), [0, 1])
    with pytest.raises(ValueError, match="X_val has 5 features"):
        CVAE(**FAST).fit(x, s, np.zeros((2, 5)), [0, 1])


def test_bad_validation_tasks(two_tasks):
    x, s = two_tasks
    with pytest.raises(ValueError, match="s_val"):
        CVAE(**FAST).fit(x, s, x[:4], [0, 1])


def test_unknown_settings_and_values():
    with pytest.raises(TypeError, match="unknown settings \\['latent_size'\\]"):
        CVAE(latent_size=3)
    with pytest.raises(ValueError, match="unknown likelihood"):
        CVAE(likelihood="poisson")
    with pytest.raises(ValueError, match="discriminator_schedule"):
        OptimalPriorCVAE(discriminator_schedule="sometimes")
    for fraction in (0.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"discriminator_fraction must be in \(0, 1\]"):
            OptimalPriorCVAE(discriminator_schedule="epoch", discriminator_fraction=fraction)
    for name in ("learning_rate", "discriminator_learning_rate"):
        for value in (0.0, float("nan")):
            with pytest.raises(ValueError, match=f"^{name} must be positive, got"):
                CVAE(**{name: value})
    with pytest.raises(ValueError, match="discriminator_weight_decay must be >= 0, got nan"):
        OptimalPriorCVAE(discriminator_weight_decay=float("nan"))
    with pytest.raises(ValueError, match="unknown activation"):
        CVAE(**{**FAST, "activation": "swishy"}).fit(np.zeros((4, 2)), [0, 0, 1, 1])


def test_not_fitted():
    with pytest.raises(NotFittedError, match="not fitted"):
        VAE().transform(np.zeros((2, 3)))


def test_foreign_and_broken_model_files(tmp_path, fitted):
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(ModelFileError, match="not a readable optprior model"):
        load_model(text)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(ModelFileError, match="not an optprior model file"):
        load_model(foreign)
    good = tmp_path / "good.pt"
    fitted.save(good)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:1000])
    with pytest.raises(ModelFileError, match="truncated.pt"):
        load_model(truncated)
    with pytest.raises(ModelFileError, match="holds a CVAE, not a OptimalPriorCVAE"):
        OptimalPriorCVAE.load(good)
    with pytest.raises(FileNotFoundError, match="no model file"):
        load_model(tmp_path / "missing.pt")


def test_interrupted_save_leaves_previous_file(tmp_path, fitted, monkeypatch):
    path = tmp_path / "model.pt"
    fitted.save(path)
    before = path.read_bytes()

    def crash(obj, stream):
        stream.write(b"half a model")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        fitted.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]
