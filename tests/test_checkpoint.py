"""Interrupted training goes on from its checkpoint and ends where it would have ended."""

import time

import numpy as np
import pytest
import torch
from helpers import FAST, FAST_T, count_epochs, fast, needs_cuda, without_times

from optprior import (
    CVAE,
    AdversarialCVAE,
    CheckpointError,
    InvariantCVAE,
    OptimalPriorCVAE,
    PostHocOptimalPriorCVAE,
    load_model,
)
from optprior.models import IgnoredSettingsWarning, ModelFileError
from optprior.training import TrainingStopped, stop_at
from optprior.training import trainer as trainer_module


def fit_interrupted(model, data, path, monkeypatch, at: int = 2) -> None:
    """Fit ``model`` on ``data`` with a checkpoint at ``path``, stopped by a
    KeyboardInterrupt as epoch ``at`` (1-based) starts."""
    with monkeypatch.context() as patch:
        count_epochs(patch, interrupt_at=at)
        with pytest.raises(KeyboardInterrupt):
            model.fit(*data, checkpoint=path)


@pytest.mark.parametrize(
    "method, extra",
    [
        (CVAE, {}),
        (CVAE, {"patience": 2, "learning_rate": 0.03}),  # stale epochs before the stop
        (OptimalPriorCVAE, {}),  # the half pass
        (OptimalPriorCVAE, {"discriminator_schedule": "interleaved"}),
        (OptimalPriorCVAE, {"discriminator_schedule": "deferred"}),
        (
            OptimalPriorCVAE,
            {
                "discriminator_schedule": "epoch",
                "discriminator_task_weights": "balanced",
                "discriminator_fraction": 1.0,
            },
        ),
        (OptimalPriorCVAE, {"estimator": "mixture", "mixture_components": 150}),  # recent
        (AdversarialCVAE, {"invariance_weight": 3.0}),  # the adversary is checkpointed too
        (
            OptimalPriorCVAE,
            {
                "estimator": "mixture",
                "mixture_components": 60,
                "mixture_subset": "drawn",
                "mixture_refresh": 3,
            },
        ),
        pytest.param(CVAE, {"device": "cuda"}, marks=needs_cuda),
        pytest.param(OptimalPriorCVAE, {"device": "cuda"}, marks=needs_cuda),
    ],
)
def test_resumed_fit_equals_uninterrupted_fit(method, extra, two_tasks, tmp_path, monkeypatch):
    x, s = two_tasks
    data = (x[:200], s[:200], x[200:], s[200:])
    settings = {**FAST, "epochs": 6, "patience": 0, **extra}
    whole = method(**settings).fit(*data)
    assert len(whole.history_.epochs) > 3

    monkeypatch.setattr(trainer_module, "CHECKPOINT_SECONDS", 0.0)  # save after every epoch
    path = tmp_path / "checkpoint.pt"
    fit_interrupted(method(**settings), data, path, monkeypatch, at=3)
    with monkeypatch.context() as patch:
        started = count_epochs(patch)
        resumed = method(**settings).fit(*data, checkpoint=path)
    assert len(started) == len(whole.history_.epochs) - 2  # epochs 0 and 1 were not redone

    expected, got = whole.module_.state_dict(), resumed.module_.state_dict()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=0)
    assert without_times(resumed) == without_times(whole)
    assert resumed.history_.best_epoch == whole.history_.best_epoch
    assert resumed.history_.stopped_early == whole.history_.stopped_early

    # The finished checkpoint stays; a fit given it returns the same model without training.
    with monkeypatch.context() as patch:
        started = count_epochs(patch)
        again = method(**settings).fit(*data, checkpoint=path)
    assert started == [] and without_times(again) == without_times(whole)
    torch.testing.assert_close(again.module_.state_dict(), expected, rtol=0, atol=0)


@pytest.mark.parametrize("method, extra", [(CVAE, {}), (OptimalPriorCVAE, FAST_T)])
def test_a_higher_epoch_cap_goes_on_from_the_checkpoint(
    method, extra, two_tasks, tmp_path, monkeypatch
):
    """The cap only ends the loop: a fit interrupted, or finished at a lower cap (not by
    early stopping), goes on under a higher one and ends as a fit with that cap would; a
    cap below the epochs already run is refused by name."""
    x, s = two_tasks
    data = (x[:200], s[:200], x[200:], s[200:])
    settings = {**FAST, "patience": 0, **extra}
    settings.pop("epochs")
    whole = method(**settings, epochs=7).fit(*data)
    monkeypatch.setattr(trainer_module, "CHECKPOINT_SECONDS", 0.0)
    for first in ("interrupted", "finished"):
        path = tmp_path / f"{first}.pt"
        if first == "interrupted":
            fit_interrupted(method(**settings, epochs=4), data, path, monkeypatch, at=3)
        else:
            method(**settings, epochs=4).fit(*data, checkpoint=path)
        with pytest.raises(CheckpointError, match="more than the cap of 1: raise epochs"):
            method(**settings, epochs=1).fit(*data, checkpoint=path)
        with monkeypatch.context() as patch:
            started = count_epochs(patch)
            longer = method(**settings, epochs=7).fit(*data, checkpoint=path)
        assert len(started) == (5 if first == "interrupted" else 3)  # none redone
        assert without_times(longer) == without_times(whole)
        torch.testing.assert_close(
            longer.module_.state_dict(), whole.module_.state_dict(), rtol=0, atol=0
        )


def test_numpy_settings_give_a_checkpoint_that_loads(two_tasks, tmp_path, monkeypatch):
    x, s = two_tasks
    monkeypatch.setattr(trainer_module, "CHECKPOINT_SECONDS", 0.0)
    path = tmp_path / "checkpoint.pt"
    settings = {**FAST, "seed": np.int64(3), "learning_rate": np.float32(1e-3)}
    fit_interrupted(CVAE(**settings), (x, s), path, monkeypatch)
    with monkeypatch.context() as patch:
        started = count_epochs(patch)
        CVAE(**settings).fit(x, s, checkpoint=path)
    assert len(started) == FAST["epochs"] - 1


def test_a_checkpoint_read_as_a_model_file_says_what_it_is(two_tasks, tmp_path, monkeypatch):
    x, s = two_tasks
    monkeypatch.setattr(trainer_module, "CHECKPOINT_SECONDS", 0.0)
    path = tmp_path / "checkpoint.pt"
    fit_interrupted(CVAE(**FAST), (x, s), path, monkeypatch)
    with pytest.raises(ModelFileError, match="is a training checkpoint .* fit again with"):
        load_model(path)


def test_checkpoint_of_another_fit_is_refused(two_tasks, tmp_path, monkeypatch):
    x, s = two_tasks
    monkeypatch.setattr(trainer_module, "CHECKPOINT_SECONDS", 0.0)
    path = tmp_path / "checkpoint.pt"
    fit_interrupted(fast(CVAE), (x, s), path, monkeypatch)
    others = [  # (a fit that differs, the difference the error must name)
        (
            lambda: fast(CVAE, learning_rate=1e-2).fit(x, s, checkpoint=path),
            "settings.learning_rate: ",
        ),
        (
            lambda: fast(CVAE, activation="relu").fit(x, s, checkpoint=path),
            "model.activation: 'tanh' -> 'relu'",
        ),
        (
            lambda: fast(OptimalPriorCVAE).fit(x, s, checkpoint=path),
            "class: 'CVAE' -> 'OptimalPriorCVAE'",
        ),
        (lambda: fast(CVAE).fit(1.0 - x, s, checkpoint=path), "data: "),  # same shape
        (lambda: fast(CVAE).fit(x, s, x[:20], s[:20], checkpoint=path), "data: "),  # validation
    ]
    for fit, named in others:
        with pytest.raises(CheckpointError, match="other settings, model or data") as error:
            fit()
        assert named in str(error.value) and "delete it" in str(error.value)
        if named.startswith("class"):  # not the settings one model has and the other lacks
            assert "(class: 'CVAE' -> 'OptimalPriorCVAE'); delete" in str(error.value)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable training checkpoint"):
        fast(CVAE).fit(x, s, checkpoint=path)


def test_settings_a_method_does_not_read_leave_its_checkpoint_valid(
    two_tasks, tmp_path, monkeypatch
):
    """A CVAE reads neither T's settings nor the invariance weight: a checkpoint that
    records them (as every one did before one config per method) resumes, and so does
    one written before a setting existed."""
    x, s = two_tasks
    monkeypatch.setattr(trainer_module, "CHECKPOINT_SECONDS", 0.0)
    path = tmp_path / "checkpoint.pt"
    fit_interrupted(fast(CVAE), (x, s), path, monkeypatch)
    payload = torch.load(path, weights_only=True)
    payload.pop("digest")  # files from before checksums have none
    identity = payload["identity"]
    del identity["model"]["gaussian_variance"]  # as written before it existed
    identity["model"]["invariance_weight"] = 7.0
    identity["settings"]["discriminator_learning_rate"] = 0.1
    torch.save(payload, path)
    started = count_epochs(monkeypatch)
    fast(CVAE).fit(x, s, checkpoint=path)
    assert len(started) == FAST["epochs"] - 1


def test_a_checkpoint_from_before_the_fraction_existed_resumes_only_as_a_full_pass(
    two_tasks, tmp_path, monkeypatch
):
    """``discriminator_fraction`` is absent from checkpoints written before it existed, when
    the epoch schedule was always a full pass: they resume with fraction 1, not another."""
    x, s = two_tasks
    monkeypatch.setattr(trainer_module, "CHECKPOINT_SECONDS", 0.0)
    path = tmp_path / "checkpoint.pt"
    full = {**FAST, **FAST_T, "discriminator_schedule": "epoch", "discriminator_fraction": 1.0}
    fit_interrupted(OptimalPriorCVAE(**full), (x, s), path, monkeypatch)
    payload = torch.load(path, weights_only=True)
    payload.pop("digest")  # files from before checksums have none
    del payload["identity"]["settings"]["discriminator_fraction"]
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=r"settings.discriminator_fraction: 1.0 -> 0.5"):
        OptimalPriorCVAE(**{**full, "discriminator_fraction": 0.5}).fit(x, s, checkpoint=path)
    started = count_epochs(monkeypatch)
    OptimalPriorCVAE(**full).fit(x, s, checkpoint=path)
    assert len(started) == FAST["epochs"] - 1


def test_settings_the_schedule_does_not_read_leave_its_checkpoint_valid(
    two_tasks, tmp_path, monkeypatch
):
    """The interleaved schedule reads neither the passes nor the fraction of the epoch
    schedule; a change of the schedule itself is named."""
    x, s = two_tasks
    monkeypatch.setattr(trainer_module, "CHECKPOINT_SECONDS", 0.0)
    path = tmp_path / "checkpoint.pt"
    interleaved = {**FAST, **FAST_T, "discriminator_schedule": "interleaved"}
    fit_interrupted(OptimalPriorCVAE(**interleaved), (x, s), path, monkeypatch)
    with pytest.raises(CheckpointError, match="discriminator_schedule: 'interleaved' -> 'epoch'"):
        fast(OptimalPriorCVAE, discriminator_schedule="epoch").fit(x, s, checkpoint=path)
    started = count_epochs(monkeypatch)
    with pytest.warns(IgnoredSettingsWarning, match="does not read discriminator_epochs"):
        OptimalPriorCVAE(**interleaved, discriminator_epochs=4).fit(x, s, checkpoint=path)
    assert len(started) == FAST["epochs"] - 1


@pytest.mark.parametrize(
    ("method", "setting"),
    [
        (InvariantCVAE, {"invariance_weight": 7.0}),
        (OptimalPriorCVAE, {"discriminator_learning_rate": 0.1}),
    ],
)
def test_settings_a_method_reads_tell_its_checkpoints_apart(
    method, setting, two_tasks, tmp_path, monkeypatch
):
    x, s = two_tasks
    monkeypatch.setattr(trainer_module, "CHECKPOINT_SECONDS", 0.0)
    path = tmp_path / "checkpoint.pt"
    fit_interrupted(fast(method), (x, s), path, monkeypatch)
    with pytest.raises(CheckpointError, match="other settings"):
        fast(method, **setting).fit(x, s, checkpoint=path)


def test_learning_rate_falls_after_each_stretch_without_a_better_epoch_and_resumes(
    two_tasks, tmp_path, monkeypatch
):
    """With ``learning_rate_patience`` 2 and the first epoch the best, the learning rate
    is multiplied by the factor after epochs 2 and 4 (counted from 0); a fit resumed from
    a checkpoint goes on at the lowered rate, as the uninterrupted fit does."""
    from optprior.training.plans import ELBOPlan

    x, s = two_tasks
    monkeypatch.setattr(ELBOPlan, "score", lambda self, record, epoch: -float(epoch))
    settings = {"epochs": 6, "patience": 0, "learning_rate": 1e-3}
    decaying = {**settings, "learning_rate_patience": 2, "learning_rate_factor": 0.5}
    whole = fast(CVAE, **decaying).fit(x, s)
    rates = [record["learning_rate"] for record in whole.history_.epochs]
    assert rates == pytest.approx([1e-3, 1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4], rel=1e-12)
    constant = fast(CVAE, **settings).fit(x, s)
    assert "learning_rate" not in constant.history_.epochs[0]  # curves as before

    monkeypatch.setattr(trainer_module, "CHECKPOINT_SECONDS", 0.0)
    path = tmp_path / "checkpoint.pt"
    fit_interrupted(fast(CVAE, **decaying), (x, s), path, monkeypatch, at=5)
    resumed = fast(CVAE, **decaying).fit(x, s, checkpoint=path)
    assert [r["learning_rate"] for r in resumed.history_.epochs] == rates
    for key, value in whole.module_.state_dict().items():
        torch.testing.assert_close(resumed.module_.state_dict()[key], value, rtol=0, atol=0)


@pytest.mark.filterwarnings("ignore:the kept epoch")  # a fit made to go stale, by design
@pytest.mark.parametrize(
    "method, extra",
    [
        (OptimalPriorCVAE, {**FAST_T, "patience": 0}),
        # The rate falls after every epoch without a better one, and a stale stretch ends
        # the fit early: the stop must come after both, as the periodic save does.
        (CVAE, {"epochs": 12, "patience": 3, "learning_rate_patience": 1, "learning_rate": 0.03}),
    ],
)
def test_a_fit_stopped_at_its_time_limit_goes_on_to_the_same_model(
    method, extra, two_tasks, tmp_path
):
    x, s = two_tasks
    data = (x[:200], s[:200], x[200:], s[200:])
    settings = {**FAST, "epochs": 4, **extra}
    whole = method(**settings).fit(*data)
    epochs = len(whole.history_.epochs)
    assert epochs > 2
    path = tmp_path / "checkpoint.pt"
    model, cap = method(**settings), settings["epochs"]
    with stop_at(time.time()):  # passed: every fit with a checkpoint stops after an epoch
        for epoch in range(1, epochs):
            with pytest.raises(TrainingStopped, match=f"after epoch {epoch} of at most {cap}"):
                model.fit(*data, checkpoint=path)
            assert model.module_ is None  # no half-trained model to use by mistake
        # The last epoch ends the fit anyway; one without a checkpoint is not stopped.
        resumed = method(**settings).fit(*data, checkpoint=path)
        unlimited = method(**settings).fit(*data)
    assert len(unlimited.history_.epochs) == epochs
    assert without_times(resumed) == without_times(whole)
    assert resumed.history_.stopped_early == whole.history_.stopped_early
    assert whole.history_.stopped_early == (method is CVAE)  # the CVAE's case stops early
    expected, got = whole.module_.state_dict(), resumed.module_.state_dict()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=0)


def test_the_post_hoc_prior_stops_between_its_cvae_and_t(two_tasks, tmp_path):
    x, s = two_tasks
    data = (x[:200], s[:200], x[200:], s[200:])
    settings = {**FAST, **FAST_T, "epochs": 2, "patience": 0}
    path = tmp_path / "checkpoint.pt"
    with stop_at(time.time()):
        with pytest.raises(TrainingStopped, match="after epoch 1 of at most 2"):
            PostHocOptimalPriorCVAE(**settings).fit(*data, checkpoint=path)
        with pytest.raises(
            TrainingStopped,
            match=r"after the first stage \(the time limit had passed\); .* goes on to T",
        ):
            PostHocOptimalPriorCVAE(**settings).fit(*data, checkpoint=path)
    model = PostHocOptimalPriorCVAE(**settings).fit(*data, checkpoint=path)
    whole = PostHocOptimalPriorCVAE(**settings).fit(*data)
    assert without_times(model) == without_times(whole) and model.history_.prior_epochs


def test_a_fit_whose_checkpoint_cannot_be_written_trains_on_past_its_limit(
    two_tasks, tmp_path, monkeypatch
):
    x, s = two_tasks
    settings = {**FAST, "epochs": 3, "patience": 0}

    def full_disk(payload, path):
        raise OSError("No space left on device")

    monkeypatch.setattr(trainer_module, "atomic_torch_save", full_disk)
    with stop_at(time.time()), pytest.warns(UserWarning, match="could not write the checkpoint"):
        model = CVAE(**settings).fit(x, s, checkpoint=tmp_path / "checkpoint.pt")
    assert len(model.history_.epochs) == 3  # stopping would have lost every epoch


def test_the_post_hoc_prior_goes_on_from_a_checkpoint_of_t_of_the_same_cvae(
    two_tasks, tmp_path, monkeypatch
):
    """T's fit has a checkpoint of its own (``CHECKPOINT.prior``): interrupted inside
    it, the fit trains neither the CVAE nor T's finished epochs again and ends as an
    uninterrupted one; ``from_cvae`` refuses T's checkpoint of another CVAE."""
    x, s = two_tasks
    data = (x[:200], s[:200], x[200:], s[200:])
    settings = {**FAST, **FAST_T, "epochs": 4, "patience": 0}
    whole = PostHocOptimalPriorCVAE(**settings).fit(*data)
    monkeypatch.setattr(trainer_module, "CHECKPOINT_SECONDS", 0.0)
    path = tmp_path / "checkpoint.pt"
    cvae_epochs = len(whole.history_.epochs)
    fit_interrupted(PostHocOptimalPriorCVAE(**settings), data, path, monkeypatch, cvae_epochs + 3)
    assert PostHocOptimalPriorCVAE.checkpoint_files(path)[1].is_file()
    with monkeypatch.context() as patch:
        started = count_epochs(patch)
        resumed = PostHocOptimalPriorCVAE(**settings).fit(*data, checkpoint=path)
    assert len(started) == len(whole.history_.prior_epochs) - 2  # T's epochs 0 and 1 kept
    assert without_times(resumed) == without_times(whole)
    assert without_times(resumed, "prior_epochs") == without_times(whole, "prior_epochs")
    torch.testing.assert_close(
        resumed.module_.state_dict(), whole.module_.state_dict(), rtol=0, atol=0
    )

    prior = tmp_path / "prior.pt"
    cvae = CVAE(**{**FAST, "epochs": 4}).fit(*data)
    with monkeypatch.context() as patch:
        count_epochs(patch, interrupt_at=2)
        with pytest.raises(KeyboardInterrupt):
            PostHocOptimalPriorCVAE.from_cvae(cvae, *data, checkpoint=prior, **FAST_T)
    other = CVAE(**{**FAST, "epochs": 4, "seed": 1}).fit(*data)
    with pytest.raises(CheckpointError, match="cvae: "):
        PostHocOptimalPriorCVAE.from_cvae(other, *data, checkpoint=prior, **FAST_T)
    with monkeypatch.context() as patch:
        started = count_epochs(patch)
        PostHocOptimalPriorCVAE.from_cvae(cvae, *data, checkpoint=prior, **FAST_T)
    assert len(started) == 3  # T's epoch 0 kept
