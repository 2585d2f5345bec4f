"""One settings class per method: flat names, sections and files written before it."""

import dataclasses

import pytest
import torch
from helpers import fast

from optprior import CVAE, OptimalPriorConfig, OptimalPriorCVAE, load_model
from optprior._settings import flat_names, flatten, unflatten
from optprior.experiments.config import resolve
from optprior.models.methods import METHODS
from optprior.training import TrainingConfig


def test_flat_names_are_unique_and_round_trip():
    """Every leaf of a nested settings class has its own flat name, and a config goes to
    flat settings and back unchanged."""
    default = OptimalPriorConfig()
    fields = dataclasses.fields(default)
    nested = [
        dataclasses.fields(getattr(default, f.name)) for f in fields if "prefix" in f.metadata
    ]
    plain = sum(1 for f in fields if "prefix" not in f.metadata)
    names = flat_names(OptimalPriorConfig)
    assert len(names) == sum(map(len, nested)) + plain
    config = unflatten(
        OptimalPriorConfig,
        {"latent_dim": 7, "discriminator_dropout": 0.3, "discriminator_schedule": "deferred"},
    )
    assert config.discriminator.dropout == 0.3 and config.schedule.schedule == "deferred"
    assert unflatten(OptimalPriorConfig, flatten(config)) == config
    assert "mixture_components" in names and "discriminator_fraction" in names


def test_a_setting_means_the_same_in_every_method():
    """A flat name has one default and one config-file table, whichever method reads it,
    and no method's setting shadows a training setting."""
    seen: dict[str, tuple] = {}
    training = set(flat_names(TrainingConfig))
    for method in METHODS.values():
        values = flatten(method.config_type())
        for name, section in flat_names(method.config_type).items():
            assert name not in training
            assert seen.setdefault(name, (values[name], section)) == (values[name], section)


def test_each_method_takes_exactly_the_settings_it_reads():
    for name, method in METHODS.items():
        params = set(method().get_params())
        expected = {*flat_names(method.config_type), *flat_names(TrainingConfig)}
        assert params == expected | {"device", "progress"}, name
    assert "discriminator_schedule" not in METHODS["posthoc"]().get_params()
    assert "estimator" not in METHODS["posthoc"]().get_params()
    assert {"invariance_weight"} <= set(METHODS["hsic"]().get_params())


def test_a_config_file_checks_settings_no_chosen_method_reads():
    """A bad value is an error even where the chosen methods would not read it: the file
    may be run with other methods later."""
    with pytest.raises(ValueError, match="discriminator_dropout must lie in"):
        resolve("usps-mnist", {"methods": ["cvae"], "model": {"discriminator_dropout": 2.0}})
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['latent'\] in \[model\]"):
        resolve("usps-mnist", {"model": {"latent": 2}})
    # Every table's unknown keys at once, each with the setting its name is closest to.
    typos = {"model": {"latent_dims": 2, "hiden_sizes": [3]}, "training": {"epoch": 3}}
    with pytest.raises(ValueError) as raised:
        resolve("usps-mnist", typos)
    assert "in [model] (did you mean 'hidden_sizes' for 'hiden_sizes', 'latent_dim' for" in str(
        raised.value
    )
    assert "['epoch'] in [training] (did you mean 'epochs'?); valid: [" in str(raised.value)


def test_a_model_file_with_every_methods_settings_loads(two_tasks, tmp_path):
    """Files written before one config per method hold every method's settings in
    "config" and "training" (and the run options there): they load with the settings
    their method reads."""
    x, s = two_tasks
    path = tmp_path / "old.pt"
    model = fast(CVAE).fit(x, s)
    model.save(path)
    payload = torch.load(path, weights_only=False)
    payload.pop("digest")  # files from before checksums have none
    payload.pop("progress")  # nor the display option, saved since 2026-12-06
    payload["config"].update(
        discriminator_hidden_sizes=(8,), estimator="discriminator", invariance_weight=3.0
    )
    payload["training"].update(discriminator_epochs=4, mixture_components=9, progress=False)
    torch.save(payload, path)
    loaded = load_model(path)
    # an old file's progress is the default, whatever its training section says
    assert type(loaded) is CVAE and loaded.get_params() == {**model.get_params(), "progress": True}
    assert (loaded.transform(x, s) == model.transform(x, s)).all()
    optimal = fast(OptimalPriorCVAE, discriminator_epochs=2).fit(x, s)
    optimal.save(path)
    assert load_model(path).config.schedule.epochs == 2
