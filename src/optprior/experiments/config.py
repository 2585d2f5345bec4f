"""Experiment configuration: one setting, its methods and seeds, and every override.

A config is a TOML file (see ``configs/``) with top-level keys ``setting``, ``methods``,
``seeds``, optionally ``protocol`` (the built-in protocol it starts from, a key of
``PROTOCOLS``; ``reproduce.configs_for`` reads it) and tables ``[data]`` (options of
``optprior.data.load_setting``), ``[model]`` and ``[training]`` (the methods' settings
by flat name: ``BaseModel.settings_by_section``; each method reads its own, and
``device`` is a run option in ``[training]``),
``[method.NAME]`` (settings for method NAME alone, e.g. its penalty weight) and
``[evaluation]`` (``EvaluationConfig`` fields). Unknown keys are errors that list the
valid ones.

Layers (the protocol, then each override in turn) merge table by table; a setting that a
later layer gives in ``[model]`` or ``[training]`` applies to every method, so it also
replaces what earlier layers gave for single methods in ``[method.NAME]``.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from optprior._validation import did_you_mean, one_of, whole_number
from optprior.data import SETTINGS, setting_options
from optprior.data.user import own_data_options, own_data_setting, sha256
from optprior.models.base import all_setting_defaults, setting_readers
from optprior.models.methods import METHODS, PAPER_METHODS, load_plugins

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


#: Training settings that each run sets itself (its seed; progress bars by the command
#: line).
RUN_CONTROLLED = {"seed", "progress"}


@dataclass
class EvaluationConfig:
    """How a trained model is scored.

    Attributes:
        n_samples: importance samples per point for the test log-likelihood.
        test_points: score at most this many test points per task (0: all).
        probe_points: test points per task for the task probe (tasks balanced).
        figures: draw figures (t-SNE, reconstructions, samples, curves) for the first seed.
        normalizer_temperatures: temperatures of the annealed estimate of the optimal
            prior's ln Z (``OptimalPrior.normalizer_annealed``, 500 chains).
        mlp_probe: score the MLP task probe too (``task_probe_mlp_cv``: seconds per run,
            its penalty cross-validated; false leaves it out).
    """

    n_samples: int = 1000
    test_points: int = 0
    probe_points: int = 1000
    figures: bool = True
    normalizer_temperatures: int = 1000
    mlp_probe: bool = True

    def __post_init__(self) -> None:
        checked = (
            ("n_samples", 1),
            ("probe_points", 1),
            ("test_points", 0),
            ("normalizer_temperatures", 1),
        )
        for name, minimum in checked:
            setattr(self, name, whole_number(getattr(self, name), f"[evaluation] {name}", minimum))


#: Each baseline's penalty weight per setting, chosen on that setting's validation
#: ln p(x|s) over the grid of its configs (docs/results.md: "The earlier fix" for
#: invariant at the full budget; "The VampPrior and the adversary", "HSIC and MMD
#: penalties" at --quick on usps-mnist; "All methods side by side" for faces' own grid,
#: seed 0 at --quick). A setting without a grid of its own takes usps-mnist's.
BASELINE_WEIGHTS: dict[str, dict[str, dict[str, Any]]] = {
    "usps-mnist": {
        "invariant": {"invariance_weight": 0.1},
        "hsic": {"invariance_weight": 100.0},
        "mmd": {"invariance_weight": 1.0},
        "adversarial": {"invariance_weight": 0.1},
    },
    "faces": {
        "invariant": {"invariance_weight": 0.1},
        "hsic": {"invariance_weight": 10.0},
        "mmd": {"invariance_weight": 10.0},
        "adversarial": {"invariance_weight": 1.0},
    },
}


def baseline_weights(setting: str) -> dict[str, dict[str, Any]]:
    """The ``[method.NAME]`` tables of ``setting``'s protocol: each penalised baseline's
    weight (``BASELINE_WEIGHTS``, usps-mnist's where the setting has none of its own);
    ``posthoc-invariant`` trains its first stage at Moyer's. A ``[method.invariant]``
    weight of a config file is Moyer's alone: give ``[method.posthoc-invariant]`` the
    same, or it trains a Moyer model of its own rather than reuse the invariant run."""
    tables = BASELINE_WEIGHTS.get(setting, BASELINE_WEIGHTS["usps-mnist"])
    return {**tables, "posthoc-invariant": tables["invariant"]}


# The paper's protocol per family of settings (not in the paper: see docs/experiments.md).
_BASE: dict[str, Any] = {
    "methods": list(PAPER_METHODS),
    "seeds": 5,
    "data": {},
    "model": {},
    "training": {"epochs": 300, "patience": 30, "warmup_epochs": 10},
    "method": {},
    "evaluation": {},
}
_GAUSSIAN = {"model": {"likelihood": "gaussian"}}

#: The first author's vae_iop (AAAI 2019) wherever the paper is silent: T as 3 x 500 tanh
#: with one dropout of 0.5 before its output, 10 full passes of T over freshly encoded
#: data after every model epoch, warm-up over 100 epochs from weight 0 with no epoch
#: chosen during it, up to 1000 epochs, a decoder variance that depends on z. vae_iop has
#: no patience (it trains all 1000 epochs and keeps the best); ours stops after 50 epochs
#: without a better validation ELBO (``patience = 0`` runs them all). docs/fidelity.md
#: gives each choice with its source line.
AUTHOR: dict[str, Any] = {
    "model": {
        "gaussian_variance": "from_z",
        "discriminator_hidden_sizes": [500, 500, 500],
        "discriminator_dropout": 0.5,
        "discriminator_dropout_layers": "last",
    },
    "training": {
        "epochs": 1000,
        "patience": 50,
        "warmup_epochs": 100,
        "warmup_from_zero": True,
        "select_after_warmup": True,
        "discriminator_schedule": "epoch",
        "discriminator_epochs": 10,
        "discriminator_fraction": 1.0,
    },
}

#: Training to convergence at about the paper protocol's cost: Adam at 3e-4 (chosen on the
#: usps-mnist CVAE's validation ln p(x|s) over 1e-3; 1e-4 was left unfinished), divided by 5 after
#: every 10 epochs without a better validation ELBO, stopping after 30, up to 1000 epochs;
#: the paper protocol's runs all stop at its 300-epoch cap. docs/performance.md, "A fast
#: protocol". It converges early rather than best: ``author`` trains a better CVAE (5 nats
#: on usps-mnist, seed 0) at about 1.4 times its cost, and its T far harder ("The whole
#: converged reproduction, and the author's protocol").
FAST: dict[str, Any] = {
    "training": {
        "epochs": 1000,
        "learning_rate": 3e-4,
        "patience": 30,
        "learning_rate_patience": 10,
        "learning_rate_factor": 0.2,
    },
}

#: Named protocols, applied over a setting's defaults: ``paper`` (the setting's defaults
#: alone, which made the first published runs of docs/results.md), ``author`` and ``fast``.
PROTOCOLS: dict[str, dict[str, Any]] = {"paper": {}, "author": AUTHOR, "fast": FAST}

#: The protocol of ``optprior reproduce`` and ``config`` when neither the command line
#: nor the config file names one: the first author's, that of the converged reproduction.
DEFAULT_PROTOCOL = "author"
#: The default before ``DEFAULT_PROTOCOL``, and the day it changed: a config file written
#: before then that names no protocol was meant for this one.
FORMER_DEFAULT_PROTOCOL, DEFAULT_PROTOCOL_SINCE = "paper", "2026-12-05"

#: A small budget for smoke runs: ``usps-mnist`` in a few minutes on 2 cores.
QUICK: dict[str, Any] = {
    "seeds": 1,
    "model": {"hidden_sizes": [200, 200], "discriminator_hidden_sizes": [200, 200]},
    "training": {"epochs": 15, "learning_rate": 1e-3, "warmup_epochs": 3, "patience": 5},
    "evaluation": {"n_samples": 50, "test_points": 500, "probe_points": 300},
}

#: ``optprior compare --quick``: a smoke run of a user's file in seconds to minutes, its
#: scores noisier (fewer importance samples and annealing temperatures, no MLP probe).
OWN_QUICK: dict[str, Any] = {
    "seeds": 1,
    "training": {"epochs": 30, "warmup_epochs": 3},  # a protocol's warm-up may be longer
    "evaluation": {"n_samples": 50, "normalizer_temperatures": 100, "mlp_probe": False},
}


@dataclass
class ExperimentConfig:
    """A fully resolved experiment."""

    setting: str
    methods: list[str] = field(default_factory=lambda: list(PAPER_METHODS))
    #: a count N (seeds 0..N-1) or the seed numbers to run, e.g. [3, 4]
    seeds: int | list[int] = 5
    data: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    #: per method name: settings of that method alone (flat names), over model/training
    method: dict[str, dict[str, Any]] = field(default_factory=dict)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)

    def seed_numbers(self) -> list[int]:
        """The seeds to run: 0..seeds-1 for a count, else the listed ones."""
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)

    def settings_of(self, method: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The model and training tables of ``method``'s runs: ``model`` and ``training``
        with the method's own settings (``method[name]``) in place."""
        own = self.method.get(method, {})
        model = {k: own.get(k, v) for k, v in self.model.items()}
        return model, {k: own.get(k, v) for k, v in self.training.items()}


def layered(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``update`` merged over the experiment config ``base``; a setting ``update`` gives
    in ``[model]`` or ``[training]`` drops ``base``'s values of it for single methods."""
    general = {
        key
        for table in ("model", "training")
        if isinstance(update.get(table), dict)
        for key in update[table]
    }
    if general and isinstance(base.get("method"), dict):
        kept = {
            name: {k: v for k, v in own.items() if k not in general}
            if isinstance(own, dict)
            else own
            for name, own in base["method"].items()
        }
        base = {**base, "method": {name: own for name, own in kept.items() if own != {}}}
    return merge(base, update)


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Recursive dictionary update (tables merge, values replace); returns a new dict."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def quick_settings_overridden(quick: dict[str, Any], file: dict[str, Any]) -> list[str]:
    """The settings (``table.key``, or a top-level key) that both ``--quick``'s overrides
    and a config file's set, where the file's value is the one used."""
    shared = []
    for key, value in quick.items():
        if key not in file:
            continue
        if isinstance(value, dict) and isinstance(file[key], dict):
            shared += [f"{key}.{name}" for name in value if name in file[key]]
        else:
            shared.append(key)
    return shared


def quick_overrides(setting: str) -> dict[str, Any]:
    """``QUICK``, plus a cap on the source training set for the two-task settings."""
    check_setting(setting)
    return QUICK if setting == "faces" else merge(QUICK, {"data": {"n_source": 2000}})


def default_config(setting: str, protocol: str = DEFAULT_PROTOCOL) -> dict[str, Any]:
    """The built-in protocol of ``setting`` (``protocol``, a key of ``PROTOCOLS``) as a
    plain dictionary."""
    check_setting(setting)
    one_of(protocol, "protocol", PROTOCOLS)
    base = merge(_BASE, {"setting": setting, "method": baseline_weights(setting)})
    if setting not in ("usps-mnist", "mnist-usps"):
        base = merge(base, _GAUSSIAN)
    return merge(base, PROTOCOLS[protocol])


def check_setting(setting: str) -> None:
    one_of(setting, "setting", SETTINGS)


def read_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no config file at {path}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path} is not valid TOML: {error}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a TOML config file (not text)") from None


def _check_keys(section: str, given: dict[str, Any], valid: set[str]) -> None:
    problem = _unknown_keys(section, given, valid)
    if problem:
        raise ValueError(problem)


def _unknown_keys(section: str, given: dict[str, Any], valid: set[str]) -> str:
    """What is wrong with the keys of table ``section`` ("" if nothing): those not in
    ``valid``, with the likely fix of a typo."""
    unknown = sorted(set(given) - valid)
    if not unknown:
        return ""
    fix = did_you_mean(unknown, valid)
    return f"unknown key(s) {unknown} in [{section}]{fix}; valid: {sorted(valid)}"


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """JSON-plain copy (tuples become lists), so configs compare equal to their files."""
    return json.loads(json.dumps(values))


def chosen_protocol(protocol: str | None, *overrides: dict[str, Any]) -> str:
    """The protocol a sweep runs under: ``protocol`` (``--protocol``), else the one an
    override names (a config file's top-level ``protocol``), else ``DEFAULT_PROTOCOL``; the
    two may not differ."""
    named = {str(update["protocol"]) for update in overrides if "protocol" in update}
    if len(named) > 1:
        raise ValueError(f"the overrides name different protocols: {sorted(named)}")
    if named and protocol is not None and named != {protocol}:
        raise ValueError(
            f"the config file names protocol {named.pop()!r}, --protocol says {protocol!r}"
        )
    return protocol or (named.pop() if named else DEFAULT_PROTOCOL)


def resolve(
    setting: str, *overrides: dict[str, Any], protocol: str | None = None
) -> ExperimentConfig:
    """The built-in ``protocol`` of ``setting`` with ``overrides`` applied in order,
    validated, under ``chosen_protocol(protocol, *overrides)``."""
    raw = default_config(setting, chosen_protocol(protocol, *overrides))
    for update in overrides:
        raw = layered(raw, {key: value for key, value in update.items() if key != "protocol"})
    check_setting(raw["setting"])
    _check_keys("top level", raw, {f.name for f in fields(ExperimentConfig)} | {"protocol"})
    data_options = setting_options(raw["setting"])
    _check_keys("data", raw["data"], set(data_options) - {"download"})
    data = {k: raw["data"].get(k, v) for k, v in data_options.items() if k != "download"}
    return _validated(raw, data)


def protocol_settings(protocol: str) -> dict[str, Any]:
    """The ``[model]`` and ``[training]`` tables of the built-in ``protocol`` that hold for
    any data (a user's, ``optprior compare``): the paper protocol's training budget with
    ``protocol``'s choices over it."""
    one_of(protocol, "protocol", PROTOCOLS)
    chosen = merge({"model": {}, "training": _BASE["training"]}, PROTOCOLS[protocol])
    return {table: copy.deepcopy(chosen[table]) for table in ("model", "training")}


def own_data_config(
    file: str | Path, name: str | None, *overrides: dict[str, Any], protocol: str | None = None
) -> ExperimentConfig:
    """The experiment of ``optprior compare``: the methods on a user's ``.npz`` file as a
    setting named ``name`` (default: the file's stem), with ``overrides`` (top-level
    ``methods``, ``seeds`` and ``protocol``; tables ``[data]``, options of
    ``optprior.data.user.own_data_setting``; ``[model]``, ``[training]``, ``[evaluation]``)
    applied in order to the defaults: VAE, CVAE and the optimal prior, 3 seeds, the
    estimators' own defaults, or where ``protocol`` or an override names one, that
    built-in protocol's settings (``protocol_settings``). The file's SHA-256 is recorded
    with the runs. Loads the first seed's splits, so that bad data fail here, before any
    training."""
    for update in overrides:
        if "setting" in update:
            raise ValueError(
                f"a config file naming setting {update['setting']!r} is for `optprior "
                "reproduce`; for your data, `optprior config --data FILE.npz` writes one "
                "(with --protocol for a built-in protocol's settings)"
            )
    named = any("protocol" in update for update in overrides)
    chosen = chosen_protocol(protocol, *overrides) if protocol or named else None
    file = Path(file)
    source = "--name" if name else f"the file name {file.name!r}"
    name = name or file.stem
    if name in SETTINGS:
        fix = "choose another --name" if source == "--name" else "pass --name"
        raise ValueError(f"{name!r} (from {source}) names a setting of the paper: {fix}")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise ValueError(
            f"{name!r} (from {source}) cannot name the runs' folder: use letters, digits, "
            "'.', '_' and '-' (pass --name)"
        )
    raw: dict[str, Any] = {"methods": list(PAPER_METHODS), "seeds": 3}
    raw.update({table: {} for table in ("data", "model", "training", "method", "evaluation")})
    if chosen is not None:
        raw = layered(raw, protocol_settings(chosen))
    for update in overrides:
        raw = layered(raw, {key: value for key, value in update.items() if key != "protocol"})
    top = {f.name for f in fields(ExperimentConfig)} - {"setting"} | {"protocol"}
    _check_keys("top level", raw, top)
    options = own_data_options()
    _check_keys("data", raw["data"], set(options) - {"file", "sha256_digest"})
    if not file.is_file():
        raise FileNotFoundError(f"no data file at {file}")
    data = {**options, **raw["data"], "file": str(file.resolve()), "sha256_digest": sha256(file)}
    config = _validated({**raw, "setting": name}, data)
    checked = {**config.data, "sha256_digest": None}  # just computed
    own_data_setting(name, 0, likelihood=config.model["likelihood"], **checked)
    return config


def _checked_seeds(seeds: Any) -> int | list[int]:
    """``seeds`` as a config holds it: a count >= 1, or a non-empty list of distinct seed
    numbers >= 0 (sorted); ``ValueError`` otherwise."""
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ValueError(f"seeds must be a count >= 1 or a list of seed numbers, got {seeds}")
        return seeds
    numbers = list(seeds) if isinstance(seeds, (list, tuple)) else None
    if not numbers or not all(isinstance(n, int) and not isinstance(n, bool) for n in numbers):
        raise ValueError(f"seeds must be a count >= 1 or a list of seed numbers, got {seeds!r}")
    if min(numbers) < 0 or len(set(numbers)) != len(numbers):
        raise ValueError(f"seed numbers must be distinct and >= 0, got {seeds!r}")
    return sorted(numbers)


def _validated(raw: dict[str, Any], data: dict[str, Any]) -> ExperimentConfig:
    """``raw``'s methods, seeds, [model], [training] and [evaluation] checked, every
    default filled in (so a run records its full configuration; value errors surface
    now, not in the middle of a sweep), with the data options ``data``."""
    load_plugins()
    methods = list(METHODS) if raw["methods"] == "all" else raw["methods"]
    if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
        raise ValueError(
            f'methods must be a list of method names, e.g. ["cvae", "optimal"], or "all"; '
            f"got {raw['methods']!r}"
        )
    unknown_methods = [m for m in methods if m not in METHODS]
    if unknown_methods or not methods:
        raise ValueError(f"unknown method(s) {unknown_methods}; valid: {', '.join(METHODS)}")
    model, training = settings_checked(raw["model"], raw["training"])
    own = methods_checked(raw.get("method", {}), model, training)
    _check_keys("evaluation", raw["evaluation"], {f.name for f in fields(EvaluationConfig)})
    return ExperimentConfig(
        setting=raw["setting"],
        methods=list(methods),
        seeds=_checked_seeds(raw["seeds"]),
        data=_plain(data),
        model=_plain(model),
        training=_plain(training),
        method=_plain(own),
        evaluation=EvaluationConfig(**raw["evaluation"]),
    )


def settings_checked(
    model: dict[str, Any], training: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``[model]`` and ``[training]`` tables with every setting of every method
    filled in, each checked by the methods that read it; unknown keys are errors."""
    defaults = all_setting_defaults()
    run_options = {"device": "cpu"}
    problems = [
        _unknown_keys("model", model, set(defaults["model"])),
        _unknown_keys("training", training, {*defaults["training"], *run_options} - RUN_CONTROLLED),
    ]
    if any(problems):  # both tables' at once
        raise ValueError("\n".join(problem for problem in problems if problem))
    given = {**model, **training}
    device = training.get("device", run_options["device"])
    checked: dict[str, Any] = {}
    for method in METHODS.values():
        read = {k: v for k, v in given.items() if method.reads_setting(k)}
        checked.update(method(device=device, **read).settings())
    model = {k: checked[k] for k in defaults["model"]}
    kept = [k for k in defaults["training"] if k not in RUN_CONTROLLED]
    return model, {**{k: checked[k] for k in kept}, "device": device}


def methods_checked(
    tables: object, model: dict[str, Any], training: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """The ``[method.NAME]`` tables, each checked: NAME a method, every key a setting it
    reads, every value valid for it (over ``model`` and ``training``)."""
    if not isinstance(tables, dict):
        raise ValueError("method must be tables [method.NAME] of settings for one method")
    checked = {}
    for name, own in tables.items():
        if name not in METHODS:
            raise ValueError(
                f"unknown method {name!r} in [method.{name}]; valid: {', '.join(METHODS)}"
            )
        if not isinstance(own, dict):
            raise ValueError(f"[method.{name}] must be a table of settings, not a value")
        method = METHODS[name]
        _check_method_keys(name, own)
        given = {k: v for k, v in {**model, **training, **own}.items() if method.reads_setting(k)}
        settings = method(device=training["device"], **given).settings()
        checked[name] = {k: settings[k] for k in own}
    return checked


def _check_method_keys(name: str, own: dict[str, Any]) -> None:
    """``ValueError`` naming the keys of ``[method.NAME]`` that method ``name`` does not
    read: a setting the sweep sets per run (``seed``: ``seeds``), a setting of other
    methods with the methods that read it (the tables it belongs in), any other key with
    the likely fix of a typo."""
    valid = {k for k in METHODS[name].setting_names() if k not in RUN_CONTROLLED}
    unknown = sorted(set(own) - valid)
    if not unknown:
        return
    every = {k for method in METHODS.values() for k in method.setting_names()} - RUN_CONTROLLED
    parts = []
    for key in unknown:
        readers = setting_readers(key, METHODS)
        if key in RUN_CONTROLLED:
            how = "--seeds, or the top-level seeds" if key == "seed" else "--quiet"
            parts.append(f"{key} is set per run by the sweep ({how})")
        elif readers:
            parts.append(
                f"{key} is read by {', '.join(readers)} (set it in their tables, or in "
                "[model] or [training] for every method that reads it)"
            )
        else:
            parts.append(key + did_you_mean([key], every))
    raise ValueError(
        f"unknown key(s) {unknown} in [method.{name}], which {name} does not read: "
        f"{'; '.join(parts)}; {name} reads {sorted(valid)}"
    )


def toml_value(value: Any) -> str:
    """A plain config value (bool, str, number, or a list of them) as a TOML value."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


_UNSET_NOTES = {
    "image_size": "[height, width]  (default: the setting's own size)",
    "n_source": "2000  (default: the whole source training set)",
    "target_task": "1  (score this task alone; default: every task)",
    "usps_box": "20  (USPS/MNIST settings: USPS drawn in a centred 20 x 20 box; default: "
    "it fills the canvas)",
}


def to_toml(config: ExperimentConfig, protocol: str = DEFAULT_PROTOCOL) -> str:
    """``config`` as a TOML file that ``optprior reproduce --config`` reads back to the
    same config: it names ``protocol`` (the one ``config`` was resolved under), so that
    the keys it leaves unset keep that protocol's defaults."""
    option = "" if protocol == DEFAULT_PROTOCOL else f" --protocol {protocol}"
    heading = [
        f"# The protocol of `optprior reproduce {config.setting}{option}`: copy, edit, pass "
        "with --config.",
        "# [data]: options of optprior.data.load_setting; [model], [training]: the methods'",
        "# settings (each method reads its own: optprior.models.config; each run sets its own",
        "# seed); [method.NAME]: settings of method NAME alone (a setting given in [model]",
        "# or [training] by a file replaces them); [evaluation]: EvaluationConfig fields.",
        "# A key left out keeps its default; unknown keys are errors.",
        f"setting = {toml_value(config.setting)}",
        f"protocol = {toml_value(protocol)}",
    ]
    return _toml(heading, config, set())


def own_data_toml(config: ExperimentConfig) -> str:
    """``config`` (``own_data_config``) as a TOML file that ``own_data_config`` reads back
    to the same config for the same file: without the setting's name, the file and its
    digest, which come from the command line."""
    heading = [
        f"# The protocol of `optprior compare --data {config.data['file']}`: copy, edit, "
        "pass with --config.",
        "# [data]: how the file is split (optprior.data.user.own_data_setting); [model],",
        "# [training]: the methods' settings (each method reads its own:",
        "# optprior.models.config; each run sets its own seed); [method.NAME]: settings of",
        "# method NAME alone; [evaluation]: EvaluationConfig fields. The command line's",
        "# options replace the file's. A key left out keeps its default; unknown keys are",
        "# errors.",
    ]
    return _toml(heading, config, {"file", "sha256_digest"})


def _toml(heading: list[str], config: ExperimentConfig, left_out: set[str]) -> str:
    """``heading``, then ``config``'s methods, seeds and tables without the [data] keys
    ``left_out``."""
    lines = [
        *heading,
        f"methods = {toml_value(config.methods)}",
        f"seeds = {toml_value(config.seeds)}",
    ]
    for section, values in asdict(config).items():
        if section == "method":
            for name, own in values.items():
                lines += ["", f"[method.{name}]"]
                lines += [f"{key} = {toml_value(value)}" for key, value in own.items()]
            continue
        if not isinstance(values, dict):
            continue
        lines += ["", f"[{section}]"]
        for key, value in values.items():
            if section == "data" and key in left_out:
                continue
            if value is None:
                lines.append(f"# {key} = {_UNSET_NOTES.get(key, '...')}")
            else:
                lines.append(f"{key} = {toml_value(value)}")
    return "\n".join(lines) + "\n"
