"""Every bad input raises ValueError (or a subclass) whose message names the problem."""

import os
import pickle
import re
import stat

import numpy as np
import pytest
import torch
from helpers import fast, no_warnings

from optprior import (  # the errors a user catches, from the package itself
    CVAE,
    VAE,
    ModelFileError,
    NotFittedError,
    OptimalPriorConfig,
    OptimalPriorCVAE,
    PostHocOptimalPriorCVAE,
    load_model,
)
from optprior._io import write_text_atomic
from optprior._validation import check_data, check_tasks
from optprior.evaluation import elbo, log_marginal_likelihood


@pytest.fixture(scope="module")
def fitted(two_tasks):
    x, s = two_tasks
    return fast(CVAE).fit(x, s)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda x, s: (np.where(np.arange(x.size).reshape(x.shape) == 5, np.nan, x), s), "NaN"),
        (
            lambda x, s: (np.where(np.arange(x.size).reshape(x.shape) == 5, np.inf, x), s),
            "infinite",
        ),
        (lambda x, s: (x.reshape(len(x), 3, 4), s), r"2-D .*flatten images with X.reshape"),
        (
            lambda x, s: (x[:, 0], s),
            r"2-D \(n_points, n_features\), got shape \(240,\). Reshape your data: "
            r"X.reshape\(1, -1\) for one point, X.reshape\(-1, 1\) for one feature$",
        ),
        (lambda x, s: (x + 0j, s), r"Complex data not supported: X holds complex numbers"),
        (lambda x, s: (x, s[:-1]), "240 points but s has 239"),
        (lambda x, s: (x, s.reshape(-1, 1)), r"1-D .*: pass s.ravel\(\)"),
        (lambda x, s: (x, np.eye(2)[s]), r"1-D .*for one-hot rows pass s.argmax\(1\)"),
        (lambda x, s: (x, s - 1), "negative task index"),
        (lambda x, s: (x, s * 1e19), r"task index 1e\+19 in row \d+: number the tasks"),
        (
            lambda x, s: (x, s.astype(np.uint64) + 2**63),
            r"task index 9223372036854775809 in row \d+: number the tasks",
        ),
        (lambda x, s: (x, s + 0.5), r"integer task indices, got 0.5 in row 0"),
        (lambda x, s: (x * 2.0, s), r"\[0, 1\] for the Bernoulli"),
        (
            lambda x, s: (x[:0], s[:0]),
            r"X has 0 sample\(s\) \(shape=\(0, 12\)\) while a minimum of 1 is required",
        ),
        (
            lambda x, s: (x[:, :0], s),
            r"X has 0 feature\(s\) \(shape=\(240, 0\)\) while a minimum of 1 is required",
        ),
        (lambda x, s: (x, None), "task index of each point"),
        (lambda x, s: (x.astype(str).astype(object) + "a", s), "numeric array"),
        (lambda x, s: (x, np.array(["usps", "mnist"])[s]), r"integer task indices 0\.\.K-1"),
        (lambda x, s: (x, np.array(["0", "1"])[s]), r"integer task indices 0\.\.K-1"),
        (lambda x, s: (x, np.where(s == 1, None, 0).astype(object)), "missing task indices"),
    ],
)
def test_fit_rejects(two_tasks, mutate, message):
    x, s = mutate(*two_tasks)
    with pytest.raises(ValueError, match=message):
        fast(CVAE).fit(x, s)


def test_unseen_task_at_transform(fitted, two_tasks):
    x, s = two_tasks
    with pytest.raises(ValueError, match=r"task indices \[2\] that were not seen"):
        fitted.transform(x, np.full(len(x), 2))
    with pytest.raises(ValueError, match="not seen"):
        fitted.sample(3, s=5)


def test_one_task_index_is_every_points(fitted, two_tasks):
    """A scalar s (as ``sample`` takes it) is the task of every point; an unseen one is
    still named."""
    x, _ = two_tasks
    every = np.ones(len(x), dtype=np.int64)
    np.testing.assert_array_equal(fitted.transform(x, 1), fitted.transform(x, every))
    z = fitted.transform(x[:5], 1)
    np.testing.assert_array_equal(fitted.decode(z, 1), fitted.decode(z, every[:5]))
    with pytest.raises(ValueError, match=r"task indices \[7\] that were not seen"):
        fitted.transform(x, 7)


def test_boolean_tasks_are_tasks_0_and_1(fitted, two_tasks):
    """Two tasks marked by a condition (``df.domain == "target"``): False is 0, True 1."""
    x, s = two_tasks
    np.testing.assert_array_equal(fitted.transform(x, s == 1), fitted.transform(x, s))
    assert (
        fitted.sample(3, True, random_state=0).tolist()
        == fitted.sample(3, 1, random_state=0).tolist()
    )


def test_dataframe_columns_are_recorded_and_checked_as_scikit_learn_does(two_tasks, tmp_path):
    """A DataFrame's column names are ``feature_names_in_``: data with other columns, or
    the same in another order, are refused by name (also after save and load); missing
    values (pd.NA) are named as such."""
    pd = pytest.importorskip("pandas")
    x, s = two_tasks
    columns = [f"pixel-{j}" for j in range(x.shape[1])]
    frame = pd.DataFrame(x, columns=columns)
    model = fast(CVAE).fit(frame, s)
    assert list(model.feature_names_in_) == columns
    np.testing.assert_array_equal(model.transform(frame, s), model.transform(x, s))
    model.save(tmp_path / "m.pt")
    for fitted in (model, load_model(tmp_path / "m.pt")):
        swapped = frame[[columns[1], columns[0], *columns[2:]]]
        with pytest.raises(ValueError, match=r"X's columns are not .*'pixel-1' for 'pixel-0'"):
            fitted.transform(swapped, s)
    unnamed = fast(CVAE).fit(x, s)
    assert not hasattr(unnamed, "feature_names_in_")  # an array has no names
    assert unnamed.n_features_in_ == model.n_features_in_ == x.shape[1]
    assert not hasattr(CVAE(), "n_features_in_")  # before fit, as scikit-learn's
    with pytest.warns(UserWarning, match="X has feature names, but the model was fitted") as w:
        unnamed.score(swapped, s)  # columns unchecked: the user is told, on their line
    assert w[0].filename == __file__
    # A post-hoc T on the model keeps its names and refuses its columns swapped.
    posthoc = PostHocOptimalPriorCVAE.from_cvae(model, frame, s, epochs=1)
    assert list(posthoc.feature_names_in_) == columns
    with pytest.raises(ValueError, match=r"X's columns are not .*'pixel-1' for 'pixel-0'"):
        PostHocOptimalPriorCVAE.from_cvae(model, swapped, s, epochs=1)
    # A refit refused for its validation data's columns leaves the fitted names alone.
    with pytest.raises(ValueError, match=r"X_val's columns are not"):
        model.fit(frame, s, swapped, s)
    assert list(model.feature_names_in_) == columns
    gappy = frame.astype(object)
    gappy.iloc[3, 2] = pd.NA
    with pytest.raises(ValueError, match=r"fill or drop its missing values \(pd.NA\)"):
        model.transform(gappy, s)


def test_task_missing_from_training_is_unseen(two_tasks):
    x, s = two_tasks
    with pytest.warns(UserWarning, match=r"s uses 2 of the task indices 0..2: .*StratifiedKFold"):
        model = fast(CVAE).fit(x, np.where(s == 1, 2, 0))  # tasks 0 and 2, none of 1
    with pytest.raises(ValueError, match=r"\[1\] that were not seen"):
        model.score_samples(x[:3], [1, 1, 1], n_samples=2)
    ids = np.where(s == 1, 10**6, 0)  # e.g. subject ids: a million unused weights
    with pytest.raises(ValueError, match=r"s skips 999999 task indices below its largest"):
        fast(CVAE).fit(x, ids)


def test_wrong_feature_count(fitted, two_tasks):
    x, s = two_tasks
    with pytest.raises(ValueError, match="13 features, but CVAE is expecting 12 features as input"):
        fitted.transform(np.zeros((2, 13)), [0, 1])
    with pytest.raises(ValueError, match="X_val has 5 features"):
        fast(CVAE).fit(x, s, np.zeros((2, 5)), [0, 1])


def test_a_length_mismatch_names_the_arrays_it_compares(fitted, two_tasks):
    x, s = two_tasks
    with pytest.raises(ValueError, match="X_val has 50 points but s_val has 40"):
        fast(CVAE).fit(x, s, x[:50], s[:40])
    with pytest.raises(ValueError, match="Z has 5 points but s has 4"):
        fitted.decode(np.zeros((5, fitted.get_params()["latent_dim"])), s[:4])


def test_bad_validation_tasks(two_tasks):
    x, s = two_tasks
    with pytest.raises(ValueError, match="s_val"):
        fast(CVAE).fit(x, s, x[:4], [0, 1])


@pytest.mark.parametrize("plan", ["DensityRatioPlan", "PriorFitPlan"])
def test_trainer_refuses_validation_data_without_its_tasks(two_tasks, plan):
    from optprior import training

    x, s = (torch.from_numpy(a) for a in two_tasks)
    model = fast(OptimalPriorCVAE)
    settings = (model.config.discriminator, model.config.schedule)[
        : 2 if plan == "DensityRatioPlan" else 1
    ]
    module = model._build(x.shape[1], 2)
    fit = getattr(training, plan)(module, model.training, False, *settings)
    with pytest.raises(ValueError, match="x_val needs its task indices s_val"):
        training.Trainer(fit).fit(x, s, x[:10])


def test_a_prior_without_t_has_no_discriminator_to_fit(two_tasks):
    from optprior.training import PriorFitPlan
    from optprior.training.config import DiscriminatorConfig

    module = fast(CVAE)._build(12, 2)
    with pytest.raises(ValueError, match="StandardNormalPrior has no discriminator to fit"):
        PriorFitPlan(module, CVAE().training, False, DiscriminatorConfig())


def test_unknown_settings_and_values():
    with pytest.raises(
        TypeError, match=r"CVAE does not read latent_size \(did you mean 'latent_dim'\?\); its"
    ):
        CVAE(latent_size=3)
    with pytest.raises(TypeError, match=r"CVAE does not read mixture_components \(a setting of"):
        CVAE(mixture_components=3)
    with pytest.raises(TypeError, match="CVAE takes a NetworkConfig, got OptimalPriorConfig"):
        CVAE(OptimalPriorConfig())
    with pytest.raises(ValueError, match="unknown likelihood"):
        CVAE(likelihood="poisson")
    with pytest.raises(ValueError, match="discriminator_schedule"):
        OptimalPriorCVAE(discriminator_schedule="sometimes")
    for fraction in (0.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"discriminator_fraction must be in \(0, 1\]"):
            OptimalPriorCVAE(discriminator_schedule="epoch", discriminator_fraction=fraction)
    for name in ("learning_rate", "discriminator_learning_rate"):
        for value in (0.0, float("nan"), float("inf")):
            with pytest.raises(ValueError, match=f"^{name} must be a positive finite number"):
                OptimalPriorCVAE(**{name: value})
    # A switch takes True or False: "False" would read as true.
    for name in ("dynamic_binarization", "mixture_leave_one_out", "progress"):
        with pytest.raises(ValueError, match=f"^{name} must be True or False, got 'False'"):
            OptimalPriorCVAE(**{name: "False"})
    assert OptimalPriorCVAE(dynamic_binarization=np.bool_(False)).binarizes is False
    with pytest.raises(ValueError, match="discriminator_weight_decay must be >= 0, got nan"):
        OptimalPriorCVAE(discriminator_weight_decay=float("nan"))
    with pytest.raises(ValueError, match="unknown activation 'swishy'"):
        CVAE(activation="swishy")  # at construction: a sweep refuses it before any run
    # A value of the wrong type is named as a bad value, not a TypeError of a comparison.
    for name in (
        "learning_rate",
        "learning_rate_factor",
        "discriminator_learning_rate",
        "discriminator_weight_decay",
        "discriminator_dropout",
        "discriminator_fraction",
    ):
        with pytest.raises(ValueError, match=f"^{name} must .* got 'a'"):
            OptimalPriorCVAE(**{name: "a"})


def test_not_fitted(two_tasks):
    # scikit-learn's own check and exception see the same state as ours
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError
    from sklearn.utils.validation import check_is_fitted

    with pytest.raises(SklearnNotFittedError, match="not fitted"):
        VAE().transform(np.zeros((2, 3)))
    assert issubclass(NotFittedError, SklearnNotFittedError)
    with pytest.raises(SklearnNotFittedError):
        check_is_fitted(CVAE())
    x, s = two_tasks
    check_is_fitted(fast(CVAE).fit(x, s))


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
    with pytest.raises(ModelFileError, match="truncated.pt .*not written by save, or cut short"):
        load_model(truncated)
    with pytest.raises(FileNotFoundError, match="is a folder, not a model file"):
        load_model(tmp_path)
    with pytest.raises(ModelFileError, match="holds a model of class CVAE, not OptimalPriorCVAE"):
        OptimalPriorCVAE.load(good)
    with pytest.raises(FileNotFoundError, match="no model file"):
        load_model(tmp_path / "missing.pt")
    pickled = tmp_path / "pickled.pt"
    torch.save({"model": CVAE}, pickled)  # arbitrary Python objects
    with pytest.raises(ModelFileError, match="holds Python objects") as error:
        load_model(pickled)
    estimator = tmp_path / "estimator.pt"
    with estimator.open("wb") as file:
        pickle.dump(fitted, file)  # torch warns of its pickle protocol: kept inside load
    with no_warnings():
        with pytest.raises(ModelFileError, match="holds Python objects"):
            load_model(estimator)
    assert "weights_only=False" not in str(error.value)  # no advice to load it unsafely
    payload = torch.load(good, weights_only=True)
    payload.pop("digest")  # as a file from before checksums: the later checks still hold
    del payload["training"]
    damaged = tmp_path / "damaged.pt"
    torch.save(payload, damaged)
    with pytest.raises(ModelFileError, match="missing or damaged contents.*training"):
        load_model(damaged)
    payload = torch.load(good, weights_only=True)
    payload.pop("digest")  # as a file from before checksums: the later checks still hold
    name = next(iter(payload["state_dict"]))
    payload["state_dict"][name] = payload["state_dict"][name][:1]
    torch.save(payload, damaged)
    with pytest.raises(ModelFileError, match=f"weights do not fit its settings .*{name}"):
        load_model(damaged)  # the weight named
    payload = torch.load(good, weights_only=True)
    payload.pop("digest")  # as a file from before checksums: the later checks still hold
    payload["class"], payload["class_path"] = "Mine", "my_plugins.models:Mine"
    torch.save(payload, damaged)  # a user's subclass, its module not imported
    with pytest.raises(ModelFileError, match="class Mine of module my_plugins.models, which"):
        load_model(damaged)
    del payload["class_path"]  # as a file from before class paths (2026-12-06)
    payload["class"] = ["CVAE"]  # not a class name (nor hashable)
    torch.save(payload, damaged)
    with pytest.raises(ModelFileError, match=r"holds a model of class \['CVAE'\], not BaseModel"):
        load_model(damaged)
    payload["class"] = "UnimportedCVAE"  # a user's subclass, its module not imported
    torch.save(payload, damaged)
    with pytest.raises(ModelFileError, match="class UnimportedCVAE, which this process does "):
        load_model(damaged)
    with pytest.raises(IsADirectoryError, match=f"{tmp_path} is a folder: save the model to"):
        fitted.save(tmp_path)


def overwrite_tensor_bytes(path, tensor):
    """Overwrite 64 bytes of ``tensor``'s data where they lie in the file at ``path``."""
    data = path.read_bytes()
    start = data.index(tensor.detach().numpy().tobytes()[:64])
    path.write_bytes(data[:start] + bytes(64) + data[start + 64 :])


def test_a_model_file_damaged_after_saving_is_refused(tmp_path, fitted):
    path = tmp_path / "model.pt"
    fitted.save(path)
    overwrite_tensor_bytes(path, fitted.module_.decoder.net.body[-1].weight[5:])
    with pytest.raises(ModelFileError, match=r"model.pt is damaged: its contents no longer"):
        load_model(path)


def test_a_damaged_checkpoint_is_refused_not_resumed(two_tasks, tmp_path, monkeypatch):
    from optprior.training import CheckpointError
    from optprior.training import trainer as trainer_module

    x, s = two_tasks
    monkeypatch.setattr(trainer_module, "CHECKPOINT_SECONDS", 0.0)
    path = tmp_path / "checkpoint.pt"
    model = fast(CVAE).fit(x, s, checkpoint=path)
    overwrite_tensor_bytes(path, model.module_.encoder.net.input.linear.weight[3:])
    with pytest.raises(CheckpointError, match="is damaged"):
        fast(CVAE).fit(x, s, checkpoint=path)


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


def test_task_labels_that_skip_indices_are_warned_about(two_tasks):
    x, s = two_tasks
    with pytest.warns(UserWarning, match=r"s uses 2 of the task indices 0..2020: .*return_inverse"):
        model = fast(CVAE).fit(x, s + 2019)
    assert model.tasks_ == [2019, 2020]


def test_read_only_arrays_are_taken_without_warnings(two_tasks):
    x, s = (a.copy() for a in two_tasks)
    x.setflags(write=False)  # as pandas hands out its values
    s.setflags(write=False)
    with no_warnings():
        fast(CVAE).fit(x, s).transform(x, s)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"hidden_sizes": 32}, "sequence of layer widths"),
        ({"hidden_sizes": (32, 0)}, "each of hidden_sizes must be >= 1"),
        ({"discriminator_hidden_sizes": "64"}, "sequence of layer widths"),
        ({"latent_dim": 2.5}, "latent_dim must be a whole number"),
        ({"latent_dim": True}, "latent_dim must be a whole number"),
        ({"epochs": 2.5}, "epochs must be a whole number"),
        ({"patience": -1}, "patience must be >= 0"),
        ({"learning_rate_factor": 1.0}, r"learning_rate_factor must lie in \(0, 1\)"),
        ({"learning_rate_patience": 1.5}, "learning_rate_patience must be a whole number"),
        ({"seed": "1"}, "seed must be a whole number"),
    ],
)
def test_settings_of_the_wrong_type_are_named(settings, message):
    with pytest.raises(ValueError, match=message):
        OptimalPriorCVAE(**settings)


def test_whole_floats_and_numpy_integers_are_taken_as_ints():
    model = CVAE(latent_dim=3.0, epochs=np.float64(2), hidden_sizes=np.array([8, 4]))
    assert model.config.latent_dim == 3 and isinstance(model.config.latent_dim, int)
    assert model.training.epochs == 2 and model.config.hidden_sizes == (8, 4)
    assert all(type(width) is int for width in model.config.hidden_sizes)
    for bad in (float("inf"), float("nan"), np.bool_(True)):
        with pytest.raises(ValueError, match="patience must be a whole number"):
            CVAE(patience=bad)


def test_sample_count_is_checked(fitted):
    with pytest.raises(ValueError, match="number of samples"):
        fitted.sample(-1)


def test_written_files_get_the_permissions_open_would_give(tmp_path, fitted):
    kept = tmp_path / "private.txt"
    kept.write_text("old")
    kept.chmod(0o600)
    previous = os.umask(0o027)
    try:
        fitted.save(tmp_path / "model.pt")
        write_text_atomic(tmp_path / "notes.txt", "shared")
        write_text_atomic(kept, "new")
    finally:
        os.umask(previous)
    for name in ("model.pt", "notes.txt"):  # 0666 less the umask, as open() would give
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o640
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600 and kept.read_text() == "new"


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"n_samples": 0}, r"\[evaluation\] n_samples must be >= 1"),
        ({"test_points": -1}, r"\[evaluation\] test_points must be >= 0"),
        ({"probe_points": 2.5}, r"\[evaluation\] probe_points must be a whole number"),
    ],
)
def test_evaluation_settings_are_named(settings, message):
    from optprior.experiments.config import EvaluationConfig

    with pytest.raises(ValueError, match=message):
        EvaluationConfig(**settings)


def test_fractions_are_checked_by_one_rule():
    from optprior._validation import fraction

    assert fraction(0, "f") == 0.0 and fraction(np.float32(0.25), "f") == 0.25
    for bad, message in ((1.0, r"must lie in \[0, 1\)"), ("0.2", "must be a number"),
                         (True, "must be a number"), (-0.1, "must lie in")):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            fraction(bad, "f")
    with pytest.raises(ValueError, match=r"must lie in \(0, 1\), got 0"):
        fraction(0.0, "f", zero_allowed=False)


def test_fitting_on_a_handful_of_points_warns(two_tasks):
    x, s = two_tasks
    with pytest.warns(UserWarning, match="fitting on 3 points: too few"):
        fast(CVAE).fit(x[[0, 1, 239]], s[[0, 1, 239]])
    with no_warnings():
        fast(CVAE).fit(x, s)


def test_scoring_and_sampling_arguments_are_named(fitted, two_tasks):
    x, s = two_tasks
    with pytest.raises(ValueError, match="n_samples must be a whole number >= 1, got 1.5"):
        fitted.score_samples(x[:3], s[:3], n_samples=1.5)
    with pytest.raises(ValueError, match="n_samples must be >= 1"):
        fitted.elbo(x[:3], s[:3], n_samples=0)
    tensors = torch.from_numpy(x[:3]), torch.from_numpy(s[:3])
    for bound in (elbo, log_marginal_likelihood):  # the functions, not only the estimator
        with pytest.raises(ValueError, match="n_samples must be >= 1, got 0"):
            bound(fitted.module_, *tensors, n_samples=0)
        with pytest.raises(ValueError, match="n_samples must be a whole number >= 1, got 2.5"):
            bound(fitted.module_, *tensors, n_samples=2.5)
    with pytest.raises(ValueError, match="s has 2 task indices for n = 3 samples"):
        fitted.sample(3, s=[0, 1])
    with pytest.raises(ValueError, match=r"got values in \[1.001, 1.001\]"):
        fitted.transform(np.full((2, 12), 1.001), [0, 1])
    with pytest.raises(ValueError, match="got 0.5 in row 0"):
        fitted.transform(x[:2], [0.5, 1.0])


def test_validation_tasks_without_validation_data(two_tasks):
    x, s = two_tasks
    with pytest.raises(ValueError, match="s_val is given without X_val"):
        fast(CVAE).fit(x, s, None, s[:4])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")
def test_cuda_without_cuda_is_named_before_training(fitted, two_tasks, tmp_path):
    x, s = two_tasks
    with pytest.raises(ValueError, match=r"device 'cuda': torch.cuda.is_available\(\) is False"):
        fast(CVAE, device="cuda").fit(x, s)
    fitted.save(tmp_path / "m.pt")
    with pytest.raises(ValueError, match="^device 'cuda'"):  # the device, not the file
        CVAE.load(tmp_path / "m.pt", device="cuda")
    with pytest.raises(ValueError, match="not a torch device"):
        fast(CVAE, device="gpu0").fit(x, s)


def test_bernoulli_data_a_rounding_past_zero_or_one_are_clipped_not_refused():
    # MinMaxScaler in float32 can give 1.0000001; the refusal's advice would give it again.
    x = np.array([[0.0, 1.0000001], [0.5, -1e-7]], dtype=np.float32)
    checked = check_data(x, bernoulli=True)
    assert checked.min() == 0.0 and checked.max() == 1.0
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        check_data(x + 1e-3, bernoulli=True)


def test_a_code_array_of_the_wrong_shape_gets_no_advice_about_images(fitted):
    with pytest.raises(
        ValueError, match=r"^Z must be 2-D \(n_points, n_features\), got shape \(4,\). Reshape"
    ):
        fitted.decode(np.zeros(4), [0])


def test_sparse_data_a_missing_task_to_sample_and_a_zero_batch_are_named(fitted, two_tasks):
    from scipy import sparse

    x, s = two_tasks
    with pytest.raises(ValueError, match=r"X is a sparse matrix: pass a dense array \(X.toarray"):
        fitted.transform(sparse.csr_matrix(x), s)
    with pytest.raises(ValueError, match="s \\(the task index of each point\\) is required"):
        fitted.sample(3, None)
    assert fast(VAE).fit(x, s).sample(3, None).shape == (3, x.shape[1])  # no task to read
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        fitted.posterior(x, s, batch_size=0)


@pytest.mark.parametrize(
    "compressed, offset",
    [(False, 200), (True, 200), (True, 25)],  # CRC, CRC, zlib error
)
def test_a_damaged_array_of_an_npz_file_is_named_with_the_file(tmp_path, compressed, offset):
    """A flipped byte in X's data raises zipfile's or zlib's error on reading X: a
    ValueError naming the file and the array (the CLI prints it) instead."""
    from optprior.data.user import read_npz

    path = tmp_path / "mine.npz"
    save = np.savez_compressed if compressed else np.savez
    save(path, X=np.random.default_rng(0).random((50, 4)), s=np.repeat([0, 1], 25))
    raw = bytearray(path.read_bytes())
    raw[raw.find(b"X.npy") + offset] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))}: array 'X' is damaged \("):
        read_npz(path)


def test_the_seed_of_a_users_data_is_a_whole_number_named(tmp_path, two_tasks):
    from optprior.data.user import own_data_setting

    x, s = two_tasks
    np.savez(tmp_path / "mine.npz", X=x, s=s)
    file = str(tmp_path / "mine.npz")
    for bad, message in ((True, "a whole number"), (2.5, "a whole number"), (-1, ">= 0")):
        with pytest.raises(ValueError, match=f"^seed must be {message}"):
            own_data_setting("mine", bad, file=file)
    whole = own_data_setting("mine", 3.0, file=file)  # as load_setting takes it
    assert whole.seed == 3 and type(whole.seed) is int
    np.testing.assert_array_equal(whole.val.index, own_data_setting("mine", 3, file=file).val.index)


def test_dates_durations_and_complex_task_indices_are_named():
    dates = np.array([["2020-01-01"] * 3] * 4, dtype="datetime64[D]")
    for data in (dates, np.ones((4, 3), dtype="timedelta64[s]")):
        dtype = re.escape(str(data.dtype))
        with pytest.raises(ValueError, match=rf"^X must be a numeric array, got dtype {dtype} \("):
            check_data(data)
    for tasks in (np.array([0, 1, 0, 1], dtype="timedelta64[s]"), np.array([0, 1, 0, 1 + 1j])):
        dtype = re.escape(str(tasks.dtype))
        with pytest.raises(
            ValueError, match=rf"^s must hold integer task indices 0..K-1, .*{dtype}$"
        ):
            check_tasks(tasks, 4)


def test_tensors_that_require_grad_are_taken_as_their_values():
    x = torch.rand(4, 3, requires_grad=True)
    np.testing.assert_array_equal(check_data(x), x.detach().numpy())
    s = torch.tensor([0.0, 1.0, 0.0, 1.0], requires_grad=True)
    np.testing.assert_array_equal(check_tasks(s, 4), [0, 1, 0, 1])
