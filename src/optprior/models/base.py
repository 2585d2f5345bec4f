"""The user-facing estimator: fit / transform / score_samples / elbo / sample / save / load."""

from __future__ import annotations

import inspect
import math
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence, Sized
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np
import torch
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.exceptions import NotFittedError as SklearnNotFittedError

from optprior._io import atomic_torch_save, intact, with_digest
from optprior._random import seeded_torch
from optprior._settings import flat_names, flatten, in_current_terms, unflatten
from optprior._validation import (
    check_data,
    check_tasks,
    did_you_mean,
    point_weights,
    user_stacklevel,
    whole_number,
)
from optprior.evaluation.binarization import binarized_points
from optprior.evaluation.bounds import elbo, log_marginal_likelihood
from optprior.models.config import NetworkConfig
from optprior.module import VAEModule
from optprior.nn.decoders import DECODERS, Decoder, GaussianDecoder
from optprior.nn.encoder import GaussianEncoder
from optprior.priors import OptimalPrior, Prior, StandardNormalPrior
from optprior.priors.optimal import ANNEALING_TEMPERATURES, check_sampler
from optprior.training.batches import component_log_weights
from optprior.training.config import (
    CONDITIONAL_READS,
    TrainingConfig,
    recorded_defaults,
    training_defaults,
)
from optprior.training.plans import ELBOPlan, TrainingPlan
from optprior.training.trainer import (
    Checkpoint,
    History,
    Trainer,
    flush_subnormals_,
    is_checkpoint,
)

if TYPE_CHECKING:
    from typing_extensions import Self

#: ``fit`` warns below this many training points.
TOO_FEW_POINTS = 10
#: Size of a feature mean (Gaussian likelihood) beyond which ``fit`` advises standardising.
OFF_CENTRE = 10.0
FILE_FORMAT = "optprior-model"
FILE_VERSION = 1
#: Every model class defined so far, by its ``class_path`` (a class defined again, as a
#: notebook cell run twice does, replaces its earlier definition).
_MODEL_CLASSES: dict[str, type[BaseModel]] = {}


def class_path(cls: type) -> str:
    """Where ``cls`` is defined, ``module:QualifiedName`` (the form of an entry point):
    what a model file names its class by, so that a user's class named like one of
    optprior's never stands in for it."""
    module = "__main__" if cls.__module__ == "__mp_main__" else cls.__module__  # a worker's
    return f"{module}:{cls.__qualname__}"


def _is_optprior(cls: type) -> bool:
    """Whether ``cls`` is one of optprior's own classes (not a user's subclass)."""
    return cls.__module__.split(".")[0] == "optprior"


def _saved_class(where: str, name: object) -> type[BaseModel] | None:
    """The class a model file names ``where`` (``class_path``) and ``name``: that one,
    where this process has defined it or once the installed packages' methods are
    imported (``load_plugins``); else the one class of ``name`` defined outside optprior
    (a class a script or notebook defined, moved since into a module); else None."""
    from optprior.models.methods import load_plugins  # methods.py imports this module

    if where not in _MODEL_CLASSES:
        load_plugins()
    if where in _MODEL_CLASSES:
        return _MODEL_CLASSES[where]
    users = [c for c in _MODEL_CLASSES.values() if c.__name__ == name and not _is_optprior(c)]
    return users[0] if len(users) == 1 else None


def _class_named(name: str) -> type[BaseModel] | None:
    """The model class called ``name``, for files written before they named the module
    (2026-12-06): optprior's own where one is so called, else the latest defined."""
    named = [cls for cls in _MODEL_CLASSES.values() if cls.__name__ == name]
    own = [cls for cls in named if _is_optprior(cls)]
    chosen = own or named
    return chosen[-1] if chosen else None


#: Options of an estimator that say where and how visibly it runs, not what it fits.
RUN_OPTIONS = ("device", "progress")
#: How the tasks reach a model in a scikit-learn Pipeline, said where X's are missing.
PIPELINE_TASKS = (
    ": pass it beside X; a scikit-learn Pipeline passes it to fit and score as the "
    "labels, and to transform only as metadata: inside sklearn.config_context("
    "enable_metadata_routing=True), then pipe.transform(X, s=s)"
)


class ModelFileError(ValueError):
    """A file that is not a readable optprior model."""


class UnknownSettingError(TypeError, ValueError):
    """A keyword that names no setting of the method (nor a run option): a TypeError, as
    Python's for an unknown keyword of a constructor, and a ValueError, as scikit-learn's
    ``set_params`` raises."""


class IgnoredSettingsWarning(UserWarning):
    """Settings given away from their defaults that the fit, with the model's other
    choices (the optimal prior's estimator, T's schedule, the mixture's subset), does not
    read."""


class NotFittedError(SklearnNotFittedError):
    """The estimator was used before ``fit`` or ``load`` (scikit-learn's NotFittedError,
    itself a ValueError and an AttributeError, so that scikit-learn code catches it)."""


def _warn_of_warmup(history: History, training: TrainingConfig, validated: bool) -> bool:
    """Warn where no epoch reached the full KL weight (the fit ended inside the warm-up),
    or where the kept epoch came before the warm-up ended although later epochs, at full
    KL weight, were trained: the monitored ELBO only fell after the warm-up (a penalty or
    a learning rate too strong, or a small training set overfitted). Whether it warned."""
    trained = len(history.epochs)
    full = next((e for e in range(trained) if training.warmup_share(e) >= 1.0), None)
    if full is None and trained:
        fix = (
            f"early stopping ended it (patience={training.patience}): raise patience, or "
            "select_after_warmup=True counts it from the warm-up's end"
            if history.stopped_early
            else "train more epochs than warmup_epochs, or shorten the warm-up"
        )
        warnings.warn(
            f"all {trained} epochs trained came before the KL warm-up ended "
            f"(warmup_epochs={training.warmup_epochs}): the model never trained at full KL "
            f"weight, so it is not yet a VAE of its ELBO; {fix}",
            stacklevel=user_stacklevel(),
        )
        return True
    if full is None or not 0 <= history.best_epoch < full:
        return False
    monitored = "validation" if validated else "training"
    warnings.warn(
        f"the kept epoch, {history.best_epoch} (from 0) of the {trained} trained, came "
        f"before the KL warm-up ended at epoch {full} (from 0): no epoch at full KL weight "
        f"had a better {monitored} ELBO, so the model is close to its start. A penalty's "
        "weight or the learning rate may be too high, or the training set small enough to "
        "overfit; select_after_warmup=True keeps a full-weight epoch",
        stacklevel=user_stacklevel(),
    )
    return True


def _renamed_keyword(
    function: Callable[..., object], given: dict[str, str], old: str, new: str, value: str
) -> str:
    """``value`` of ``function``'s keyword ``new``, or that ``given`` under its former
    name ``old`` (with a ``FutureWarning``); ``TypeError`` naming the keywords
    ``function`` takes for any other keyword in ``given``."""
    unknown = sorted(set(given) - {old})
    if unknown:
        parameters = inspect.signature(function).parameters.values()
        takes = [p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD]
        raise TypeError(
            f"{function.__name__}() got unexpected keyword argument(s) {unknown}; it takes "
            f"{', '.join(name for name in takes if name != 'self')}"
        )
    if old not in given:
        return value
    warnings.warn(
        f"the keyword {old}= is now {new}=; {old}= will be removed",
        FutureWarning,
        stacklevel=user_stacklevel(),
    )
    return given[old]


def _warn_of_ignored_settings(model: BaseModel) -> None:
    """``IgnoredSettingsWarning`` naming each setting ``model``'s fit will not read, and
    the choice that leaves it unread (``BaseModel.ignored_settings``)."""
    by_choice: dict[str, list[str]] = {}
    for name, why in model.ignored_settings().items():
        by_choice.setdefault(why, []).append(name)
    for why, names in by_choice.items():
        warnings.warn(
            f"{type(model).__name__} with {why} does not read {', '.join(names)}: "
            "the fit ignores them",
            IgnoredSettingsWarning,
            stacklevel=user_stacklevel(),
        )


def warn_if_unconverged(
    history: History,
    training: TrainingConfig,
    fit: str = "the fit",
    monitored: str = "the monitored ELBO",
    rate: str = "learning_rate",
) -> None:
    """scikit-learn's ``ConvergenceWarning`` where ``fit`` (of the model, or of T, whose
    step size is ``rate``) ran out of epochs while its ``monitored`` score was still
    improving: it trained all ``epochs`` and early stopping never ended it (its kept
    epoch lies within the last ``patience``), or, without early stopping
    (``patience=0``), its kept epoch is the last. A sweep silences it and marks the runs
    that reached their epoch cap in its runs table (``runner.reached_epoch_cap``)."""
    trained, window = len(history.epochs), training.patience or 1
    if history.stopped_early or trained < training.epochs or history.best_epoch < trained - window:
        return
    best = history.best_epoch
    how = (
        f"{monitored} was still improving at its last epoch"
        if best == trained - 1
        else f"{monitored} last improved {trained - 1 - best} epoch(s) before the end, "
        f"fewer than patience={training.patience}: too late for early stopping to tell"
    )
    warnings.warn(
        f"{fit} trained all {trained} epochs and kept epoch {best} (from 0): {how}, so it "
        f"may not have converged; raise epochs (or {rate}), and early stopping (patience) "
        "ends the fit once it stops improving",
        ConvergenceWarning,
        stacklevel=user_stacklevel(),
    )


def _warn_if_unscaled(x: torch.Tensor, logvar_bounds: tuple[float, float]) -> None:
    """Warn where Gaussian-likelihood data ``x`` (N, D) are not on the scale the decoder
    can model: a feature's standard deviation above the largest the decoder's bounded
    variance allows (e^(upper / 2)), or features centred far from 0 (the decoder's
    output starts near 0)."""
    spread = float(x.std(dim=0).max()) if x.shape[0] > 1 else 0.0
    offset = float(x.mean(dim=0).abs().max())
    largest = math.exp(logvar_bounds[1] / 2)
    if spread <= largest and offset <= OFF_CENTRE:
        return
    warnings.warn(
        f"X's features have standard deviations up to {spread:.3g} and means up to "
        f"{offset:.3g} in size, but the Gaussian decoder's standard deviation is at most "
        f"{largest:.3g} (gaussian_logvar_bounds {list(logvar_bounds)}) and its output starts "
        "near 0: standardise X (sklearn.preprocessing.StandardScaler, fitted on the "
        "training data; optprior compare --standardize) or widen gaussian_logvar_bounds, "
        "or the likelihoods will be poor",
        stacklevel=user_stacklevel(),
    )


#: The most task indices below the largest that no training point has, let through with
#: a warning (each gets input weights of its own: a year as the task costs little, a
#: subject id of millions would cost gigabytes).
MOST_UNUSED_TASKS = 100_000


class BaseModel(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """A VAE-family estimator with the scikit-learn contract (``get_params``,
    ``set_params``, ``clone``, ``score``, a transformer's ``get_feature_names_out``
    (``cvae0``, ``cvae1``, ...) and ``set_output``; usable in ``GridSearchCV`` and
    ``Pipeline``).

    Subclasses set only ``conditional`` (is the task index an input?), ``config_type``
    (the dataclass of the method's settings: ``optprior.models.config``), ``make_prior``
    and ``make_plan`` (how the module is fitted: ``optprior.training.plans``).
    Arrays: ``X`` (N, D) float in [0, 1] for the Bernoulli likelihood, any finite
    values for the Gaussian one; ``s`` (N,) integer task indices 0..K-1 (one index:
    every point's).

    Settings come from a ``config_type`` instance and a ``TrainingConfig`` or as keywords
    by their flat names, e.g. ``CVAE(latent_dim=10, epochs=50, likelihood="gaussian")``,
    ``OptimalPriorCVAE(discriminator_dropout=0.5)``; a method takes only the settings it
    reads. ``device`` (a torch device string, ``"cpu"`` or ``"cuda"``) and ``progress``
    (a bar over epochs) are run options.
    """

    conditional: ClassVar[bool] = True
    config_type: ClassVar[type[NetworkConfig]] = NetworkConfig
    # Under scikit-learn's metadata routing, fit and transform ask for the tasks unbidden
    # (as group splitters ask for groups): pipe.transform(X, s=s) needs no set_*_request.
    __metadata_request__fit: ClassVar[dict[str, bool]] = {"s": True}
    __metadata_request__transform: ClassVar[dict[str, bool]] = {"s": True}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        path = class_path(cls)
        _MODEL_CLASSES.pop(path, None)  # defined again: now the latest
        _MODEL_CLASSES[path] = cls

    def __init__(
        self,
        config: NetworkConfig | None = None,
        training: TrainingConfig | None = None,
        device: str = "cpu",
        progress: bool = True,
        **settings: Any,
    ) -> None:
        name = type(self).__name__
        if config is not None and type(config) is not self.config_type:
            raise TypeError(
                f"{name} takes a {self.config_type.__name__}, got {type(config).__name__}"
            )
        unknown = sorted(set(settings) - set(self.setting_names()))
        if unknown:
            raise UnknownSettingError(_unknown_settings_message(type(self), unknown))
        config_names = flat_names(self.config_type)
        given = flatten(config) if config is not None else {}
        self.config = unflatten(
            self.config_type, {**given, **{k: v for k, v in settings.items() if k in config_names}}
        )
        training_given = flatten(training) if training is not None else {}
        training_given.update({k: v for k, v in settings.items() if k not in config_names})
        self.training = unflatten(TrainingConfig, training_given)
        if not isinstance(progress, bool | np.bool_):
            raise ValueError(f"progress must be True or False, got {progress!r}")
        if not isinstance(device, str | torch.device):
            raise ValueError(f"device must be a torch device string such as 'cpu', got {device!r}")
        self.device = device
        self.progress = progress
        self.module_: VAEModule | None = None
        self.tasks_: list[int] = []
        self.history_: History | None = None
        #: The settings the fitted network was built and trained with (``settings``):
        #: ``set_params`` after a fit changes the next fit, not these.
        self.fitted_settings_: dict[str, Any] = {}

    @classmethod
    def setting_names(cls) -> list[str]:
        """The flat names of every setting this method reads: its ``config_type``'s and
        ``TrainingConfig``'s (run options apart)."""
        return [*flat_names(cls.config_type), *flat_names(TrainingConfig)]

    @classmethod
    def reads_setting(cls, name: str) -> bool:
        """Whether the setting ``name`` (a flat name) can change a fit of this method
        (under some choice of its other settings: a model's ``ignored_settings`` are
        those its own choices leave unread)."""
        return name in cls.setting_names()

    @classmethod
    def settings_read(
        cls, shared: dict[str, Any], own: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Of ``shared`` (settings and run options meant for several methods, e.g. a
        config file's tables), those this method reads with the choices they and ``own``
        make (``reads_setting``, then ``ignored_settings``: the optimal prior's
        ``mixture_*`` under T), with ``own`` over them, kept whole so that ``fit`` warns
        of any it ignores."""
        own = own or {}
        read = {k: v for k, v in shared.items() if cls.reads_setting(k) or k in RUN_OPTIONS}
        read.update(own)
        ignored = set(cls(**read).ignored_settings()) - set(own)
        return {k: v for k, v in read.items() if k not in ignored}

    def ignored_settings(self) -> dict[str, str]:
        """The settings set away from their defaults that a fit with the other settings
        does not read -> the choice that leaves them unread, e.g.
        ``{"discriminator_epochs": "discriminator_schedule='interleaved'"}``."""
        defaults, settings = type(self)().settings(), self.settings()
        ignored = {}
        for name, value in settings.items():
            why = self._unread_because(name, settings)
            if why is not None and value != defaults[name]:
                ignored[name] = why
        return ignored

    def _unread_because(self, name: str, settings: dict[str, Any]) -> str | None:
        """The setting, by name and value, under which a fit with ``settings`` (this
        model's, ``settings()``) does not read setting ``name`` (None: it reads it): here
        one read only under other values of another (``CONDITIONAL_READS``: a schedule's
        settings of T, the exact mixture's ``mixture_refresh`` under
        ``mixture_subset="recent"``)."""
        if name not in CONDITIONAL_READS:
            return None
        governing, reading = CONDITIONAL_READS[name]
        value = settings.get(governing)
        return None if value is None or value in reading else f"{governing}={value!r}"

    def settings(self) -> dict[str, Any]:
        """Every setting by its flat name (``setting_names``)."""
        return {**flatten(self.config), **flatten(self.training)}

    def settings_by_section(self, fitted: bool = False) -> dict[str, dict[str, Any]]:
        """The settings (``fitted``: those of the fit, ``fitted_settings_``) split as a
        config file's tables: ``"model"`` (networks and priors) and ``"training"``."""
        sections = flat_names(self.config_type)
        values = self.fitted_settings_ if fitted else self.settings()
        model = {k: v for k, v in values.items() if sections.get(k) == "model"}
        return {"model": model, "training": {k: v for k, v in values.items() if k not in model}}

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Every setting by its flat name and the run options; ``type(model)(
        **model.get_params())`` makes an unfitted copy, as scikit-learn's ``clone`` does.
        ``deep`` is accepted for scikit-learn: there are no nested estimators."""
        return {**self.settings(), "device": self.device, "progress": self.progress}

    def set_params(self, **params: Any) -> Self:
        """Change settings by name (as ``get_params`` names them), checked as in the
        constructor; ``config`` or ``training``, as the constructor takes them, replace
        every setting they hold (those named beside them win). A fitted model keeps its
        weights until it is fitted again, moved to a new ``device`` (``ValueError`` where
        torch cannot use it)."""
        objects: dict[str, Any] = {k: params.pop(k) for k in ("config", "training") if k in params}
        current = self.get_params()
        for key, kind in (("config", self.config_type), ("training", TrainingConfig)):
            if objects.get(key) is not None:  # its settings replace the current ones
                current = {k: v for k, v in current.items() if k not in flat_names(kind)}
        updated = type(self)(**objects, **{**current, **params})
        if self.module_ is not None and updated.device != self.device:
            check_device(updated.device)
            self.module_.to(updated.device)
        self.config, self.training = updated.config, updated.training
        self.device, self.progress = updated.device, updated.progress
        return self

    def __repr__(self) -> str:
        defaults = type(self)().get_params()
        changed = {k: v for k, v in self.get_params().items() if v != defaults[k]}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    # ----------------------------------------------------------------- structure
    def make_prior(self) -> Prior:
        """The prior this method holds."""
        return StandardNormalPrior(self.config.latent_dim)

    def _build(self, x_dim: int, n_tasks: int) -> VAEModule:
        c = self.config
        task_inputs = n_tasks if self.conditional else 0
        encoder = GaussianEncoder(x_dim, c.latent_dim, c.hidden_sizes, c.activation, task_inputs)
        decoder: Decoder
        if c.likelihood == "gaussian":
            decoder = GaussianDecoder(
                x_dim,
                c.latent_dim,
                c.hidden_sizes,
                c.activation,
                task_inputs,
                logvar_bounds=c.gaussian_logvar_bounds,
                variance_from_z=c.gaussian_variance == "from_z",
            )
        else:
            decoder = DECODERS[c.likelihood](
                x_dim, c.latent_dim, c.hidden_sizes, c.activation, task_inputs
            )
        module = VAEModule(encoder, decoder, self.make_prior(), self.conditional)
        return module.to(self.device)

    def make_plan(self, module: VAEModule) -> TrainingPlan:
        """How this method fits ``module``: the ELBO, unless a method says otherwise."""
        return ELBOPlan(module, self.training, self.binarizes)

    @property
    def binarizes(self) -> bool:
        """Whether training draws Bernoulli data afresh at every use."""
        return draws_binary(self.settings())

    @property
    def n_tasks_(self) -> int:
        return max(self.tasks_) + 1 if self.tasks_ else 0

    @property
    def n_features_in_(self) -> int:
        """The number of features (columns of X) the model was fitted on, as scikit-learn
        names it; ``NotFittedError`` (an AttributeError) before ``fit``."""
        return self.fitted_module().decoder.x_dim

    # ---------------------------------------------------------------- conversion
    def _tensors(
        self,
        x: object,
        s: object,
        name: str = "X",
        training: bool = False,
        scored: bool = False,
        fitting: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Checked tensors of data ``x`` and tasks ``s`` (``training``: tasks not yet
        known). ``scored`` data, where training binarises afresh, take one fixed
        Bernoulli draw per point (``evaluation.binarization.binarized_points``: a point
        scores the same whatever it is scored with; binary data unchanged). The
        likelihood and binarisation are the fitted model's, or while ``fitting`` (and
        before any fit) the current settings'."""
        fitted = self.module_ is not None and not fitting
        settings = self.fitted_settings_ if fitted else self.settings()
        bernoulli = settings["likelihood"] == "bernoulli"
        array = check_data(x, name, bernoulli=bernoulli, fitted=fitted)
        if not fitting:  # a fit checks its data's names itself (``fit_feature_names``)
            check_feature_names(x, getattr(self, "feature_names_in_", None), name)
        if scored and draws_binary(settings):
            array = binarized_points(array)
        task_name = "s" if name == "X" else f"s{name[1:]}"
        if self.conditional or s is not None:
            known = None if training or not self.conditional else self.tasks_
            hint = PIPELINE_TASKS if name == "X" else ""
            tasks = check_tasks(s, array.shape[0], known, task_name, name, hint)
        else:
            tasks = np.zeros(array.shape[0], dtype=np.int64)
        device = self.device
        return torch.from_numpy(array).to(device), torch.from_numpy(tasks).to(device)

    def _set_fitted(
        self, module: VAEModule, history: History, names: np.ndarray | None = None
    ) -> None:
        """Hold ``module`` and its ``history`` as the fit, built and trained with the
        current settings (kept in ``fitted_settings_``), on data whose column names were
        ``names`` (``feature_names_in_``, as scikit-learn keeps them; None: no names)."""
        self.module_, self.history_ = module, history
        self.fitted_settings_ = self.settings()
        if names is None:
            self.__dict__.pop("feature_names_in_", None)
        else:
            self.feature_names_in_ = names

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's tags (1.6+): a transformer (``transform``: codes), whose
        output is float32 whatever the input's dtype."""
        from sklearn.utils import TransformerTags

        tags = super().__sklearn_tags__()
        tags.transformer_tags = TransformerTags(preserves_dtype=["float32"])
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        """Whether the model is fitted (``sklearn.utils.validation.check_is_fitted``)."""
        return self.module_ is not None

    def fitted_module(self) -> VAEModule:
        """The fitted network (encoder, decoder, prior); ``NotFittedError`` before
        ``fit`` or ``load``."""
        if self.module_ is None:
            raise NotFittedError(f"this {type(self).__name__} is not fitted: call fit() or load()")
        return self.module_

    def fitted_history(self) -> History:
        """The curves of the fit (``NotFittedError`` before ``fit`` or ``load``)."""
        self.fitted_module()
        return self.history_ or History()

    # ------------------------------------------------------------------- fitting
    def _seeded(self) -> AbstractContextManager[None]:
        """Fitting draws from torch's streams seeded with ``training.seed`` and leaves the
        user's streams as they were."""
        return seeded_torch(self.training.seed, self.device)

    def fit(
        self,
        X: object,
        s: object = None,
        /,
        X_val: object = None,
        s_val: object = None,
        checkpoint: str | os.PathLike | None = None,
        **routed: object,
    ) -> Self:
        """Train on ``X`` (N, D) with tasks ``s`` (N,); early-stop on ``X_val``/``s_val``
        (grey levels of Bernoulli data binarised once, as ``score_samples`` does). Without
        validation data the epoch is chosen, and training stopped, on the training ELBO,
        which keeps improving as the model overfits: hold some points out where you can.

        The best epoch's weights (the discriminator included) are kept. ``checkpoint``: a
        file path; the state of training is saved there every few minutes and at the end,
        and a fit started again with the same path, settings and data goes on from it,
        giving the model an uninterrupted fit gives (``Trainer.fit``). Delete the files
        (``checkpoint_files``) once the model is saved. Inside
        ``optprior.training.stop_at(deadline)``, a fit with a checkpoint stops at the
        deadline (``TrainingStopped``), to go on later.

        ``X`` comes by position; ``s`` by position or by keyword, as a scikit-learn
        Pipeline under metadata routing passes it (with None in the labels' place).
        """
        s = routed_tasks(s, routed, "fit")
        if routed:
            raise TypeError(f"fit() got an unexpected keyword argument {sorted(routed)[0]!r}")
        if checkpoint is not None:
            checkpoint = Path(checkpoint).expanduser()
        return self._fit(X, s, X_val, s_val, checkpoint)

    def _fit(
        self,
        X: object,
        s: object,
        X_val: object,
        s_val: object,
        checkpoint: str | os.PathLike | None,
    ) -> Self:
        """``fit`` with the tasks in their one place; a method trained in stages (the
        post-hoc optimal prior) overrides this."""
        check_device(self.device, self.training.precision)
        _warn_of_ignored_settings(self)
        x, tasks = self._tensors(X, s, "X", training=True, fitting=True)
        if x.shape[0] < TOO_FEW_POINTS:
            warnings.warn(
                f"fitting on {x.shape[0]} points: too few to learn a representation or to "
                "choose an epoch; the model will mostly reflect its random start",
                stacklevel=user_stacklevel(),
            )
        if self.config.likelihood == "gaussian":
            _warn_if_unscaled(x, self.config.gaussian_logvar_bounds)
        seen = sorted(set(tasks.tolist())) if self.conditional else [0]
        unused = seen[-1] + 1 - len(seen)
        if unused > MOST_UNUSED_TASKS:  # e.g. subject ids: weights no point trains
            raise ValueError(
                f"s skips {unused} task indices below its largest, {seen[-1]} (at most "
                f"{MOST_UNUSED_TASKS:,} are let through): every index up to the largest gets "
                f"input weights of its own; map the {len(seen)} tasks to 0..{len(seen) - 1} "
                "with np.unique(s, return_inverse=True)[1]"
            )
        with self._fitting_tasks(seen):  # the checks of s_val read them
            self._fit_on(X, x, tasks, X_val, s_val, checkpoint)
        return self

    @contextmanager
    def _fitting_tasks(self, tasks: list[int]) -> Iterator[None]:
        """Hold ``tasks`` as ``tasks_`` for a fit; one that fails or stops before its
        network replaces the fitted one (``_set_fitted``) leaves the earlier fit whole."""
        before, fitted = self.tasks_, self.module_
        self.tasks_ = tasks
        try:
            yield
        except BaseException:
            if self.module_ is fitted:  # not replaced: the earlier fit's tasks again
                self.tasks_ = before
            raise

    def _fit_on(
        self,
        X: object,
        x: torch.Tensor,
        tasks: torch.Tensor,
        X_val: object,
        s_val: object,
        checkpoint: str | os.PathLike | None,
    ) -> None:
        """``fit``'s training on the checked ``x`` (N, D) and ``tasks`` (N,), its tasks
        already held in ``tasks_``."""
        if len(self.tasks_) < self.n_tasks_:
            warnings.warn(
                f"s uses {len(self.tasks_)} of the task indices 0..{self.tasks_[-1]}: every "
                "index up to the largest gets input weights of its own, used or not. Where "
                "the other tasks are missing from this fit by chance (a cross-validation fold "
                "of data sorted by task), split stratified by s (StratifiedKFold().split(X, s)) "
                "so that every fold trains every task; where no such tasks exist, map the "
                f"indices to 0..{len(self.tasks_) - 1} with np.unique(s, return_inverse=True)[1]",
                stacklevel=user_stacklevel(),
            )
        names = fit_feature_names(X, X_val)
        x_val = s_val_t = None
        if X_val is None and s_val is not None:
            raise ValueError("s_val is given without X_val: pass both, or neither")
        if X_val is not None:
            x_val, s_val_t = self._tensors(X_val, s_val, "X_val", scored=True, fitting=True)
            if x_val.shape[1] != x.shape[1]:
                raise ValueError(f"X_val has {x_val.shape[1]} features but X has {x.shape[1]}")
        saving = None if checkpoint is None else self._checkpoint(checkpoint)
        with self._seeded():
            module = self._build(x.shape[1], self.n_tasks_)
            history = Trainer(self.make_plan(module), self.progress).fit(
                x, tasks, x_val, s_val_t, saving
            )
        self._set_fitted(module, history, names)  # not a fit stopped half way
        if not _warn_of_warmup(history, self.training, x_val is not None):
            warn_if_unconverged(history, self.training)

    @classmethod
    def checkpoint_files(cls, checkpoint: str | os.PathLike) -> tuple[Path, ...]:
        """The files a fit given ``checkpoint`` writes (a fit in stages writes one a
        stage)."""
        return (Path(checkpoint),)

    def _checkpoint(self, path: str | os.PathLike, **identity: object) -> Checkpoint:
        """The checkpoint at ``path`` of a fit of this model with these settings, and
        whatever else ``identity`` names (e.g. the networks a fit starts from)."""
        sections = self.settings_by_section()
        identity = {
            "class": type(self).__name__,
            "model": sections["model"],
            "settings": sections["training"],
            **identity,
        }
        return Checkpoint(Path(path), identity, model_defaults(), self.reads_setting)

    # ----------------------------------------------------------------- inference
    def _checked(
        self, X: object, s: object, scored: bool = False
    ) -> tuple[VAEModule, torch.Tensor, torch.Tensor]:
        """The fitted module and checked tensors of ``X``, ``s`` (``_tensors``)."""
        module = self.fitted_module()
        x, tasks = self._tensors(X, s, scored=scored)
        if x.shape[1] != module.decoder.x_dim:
            raise ValueError(  # scikit-learn's words
                f"X has {x.shape[1]} features, but {type(self).__name__} is expecting "
                f"{module.decoder.x_dim} features as input"
            )
        return module, x, tasks

    @staticmethod
    @torch.no_grad()
    def _encoded(
        module: VAEModule, x: torch.Tensor, tasks: torch.Tensor, batch_size: int = 4096
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z | x, s), (N, latent_dim) each, ``batch_size`` rows
        at a time, the module in eval mode."""
        module.eval()
        parts = [
            module.inference(x[i : i + batch_size], tasks[i : i + batch_size])
            for i in range(0, x.shape[0], batch_size)
        ]
        mu, logvar = (torch.cat(part) for part in zip(*parts, strict=True))
        return mu, logvar

    def posterior(
        self, X: object, s: object = None, batch_size: int = 4096
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mean and log-variance of q(z | x, s): two (N, latent_dim) arrays."""
        batch_size = whole_number(batch_size, "batch_size", 1)
        mu, logvar = self._encoded(*self._checked(X, s), batch_size)
        return mu.cpu().numpy(), logvar.cpu().numpy()

    def log_normalizer(
        self,
        X: object,
        s: object = None,
        random_state: int = 0,
        sampler: str = "annealed",
        n_temperatures: int = ANNEALING_TEMPERATURES,
        **deprecated: str,
    ) -> float:
        """ln Z of the fitted prior (nats): 0 where the prior is a density (N(0, I), the
        exact mixture, the VampPrior); for N(z; 0, I) e^T, the optimal prior as the paper
        scores it, an estimate (``OptimalPrior.normalizer_from_posteriors``: annealed
        importance sampling over ``n_temperatures`` by default, or
        ``sampler="importance"``) that starts from the codes of ``X``, ``s``: any data
        give a valid estimate, and the data the model was fitted on, whose aggregated
        posterior T estimates, the closest start (held-out points serve nearly as well).
        ``score_samples`` minus it is ln p(x | s) under the prior divided by Z, comparable
        across priors. (``estimator=``, this keyword's name before 2026-12-06, when it
        was also the optimal prior's setting, is taken with a ``FutureWarning``.)"""
        sampler = _renamed_keyword(
            BaseModel.log_normalizer, deprecated, "estimator", "sampler", sampler
        )
        check_sampler(sampler)
        module, x, tasks = self._checked(X, s, scored=True)
        if not module.prior.has_discriminator:
            return 0.0
        if len(x) < 2:
            raise ValueError(
                f"log_normalizer starts from the codes of X, and X holds {len(x)} point: "
                "give at least 2 (the training data, or hundreds of held-out points, for a "
                "steady estimate)"
            )
        mu, logvar = self._encoded(module, x, tasks)
        weights = self.fitted_settings_["discriminator_task_weights"]
        log_weights = component_log_weights(tasks, weights)
        prior = cast(OptimalPrior, module.prior)
        seed = whole_number(random_state, "random_state", 0)
        temperatures = whole_number(n_temperatures, "n_temperatures", 1)
        estimate = prior.normalizer_from_posteriors(
            mu, logvar, log_weights, seed, sampler, temperatures
        )
        return estimate.log_z

    def transform(self, X: object, s: object = None) -> np.ndarray:
        """Posterior means E[z | x, s]: (N, latent_dim), the representation (how much it
        still reveals s: ``optprior.evaluation.task_dependence``)."""
        return self.posterior(X, s)[0]

    @property
    def _n_features_out(self) -> int:
        """The width of ``transform``'s output, for ``get_feature_names_out``: the fitted
        latent_dim (``AttributeError`` before a fit, which scikit-learn reads as unfitted)."""
        if self.module_ is None:
            raise AttributeError("_n_features_out: the model is not fitted")
        return int(self.fitted_settings_["latent_dim"])

    def fit_transform(self, X: object, s: object = None, /, **fit_options: Any) -> np.ndarray:
        """``fit(X, s, **fit_options)``, then ``transform(X, s)``: (N, latent_dim); ``s``
        by keyword too, as a Pipeline under metadata routing passes it."""
        s = routed_tasks(s, fit_options, "fit_transform")
        return self.fit(X, s, **fit_options).transform(X, s)

    def _drawing(self, random_state: int | None) -> AbstractContextManager[None]:
        """Draws seeded with ``random_state`` (the user's torch streams left as they were),
        or from torch's global streams where it is None."""
        if random_state is None:
            return nullcontext()
        return seeded_torch(whole_number(random_state, "random_state", 0), self.device)

    def score_samples(
        self,
        X: object,
        s: object = None,
        n_samples: int = 1000,
        random_state: int | None = 0,
        priors: Sequence[Prior] | None = None,
    ) -> np.ndarray:
        """Importance-sampled test log-likelihood ln p(x | s) per point (nats): (N,).

        With ``priors`` (on the model's device): (P, N), the same importance draws scored
        under each of them in place of the fitted prior, e.g. ``[model.fitted_module()
        .prior, StandardNormalPrior(latent_dim)]`` for what the prior adds on the same
        encoder and decoder, with far less Monte Carlo noise in the difference than two
        separate calls.

        The optimal-prior model uses its prior: N(z; 0, I) exp(T(z)), or the mixture of
        the training posteriors. ``random_state`` seeds the importance samples, so the
        same call gives the same scores (None: a seed from torch's global random stream);
        each point's are drawn from a stream keyed by the point, its task and the seed
        (``evaluation.bounds.point_streams``), so a point scores the same alone, among
        others or reordered. Where
        training binarises [0, 1] data afresh (Bernoulli likelihood,
        ``dynamic_binarization``), grey levels are scored as one fixed Bernoulli draw
        per point (the same for every model: scores compare), binary data as given.
        """
        n_samples = whole_number(n_samples, "n_samples", 1)
        module, x, tasks = self._checked(X, s, scored=True)
        seed = _stream_seed(random_state)
        return (
            log_marginal_likelihood(module, x, tasks, n_samples, priors=priors, seed=seed)
            .cpu()
            .numpy()
        )

    def score(
        self,
        X: object,
        s: object = None,
        n_samples: int = 1000,
        random_state: int | None = 0,
        sample_weight: ArrayLike | None = None,
    ) -> float:
        """Mean importance-sampled ln p(x | s) over the points (nats), weighted by
        ``sample_weight`` (N,) where given: higher is better, the score scikit-learn's
        model selection maximises (``GridSearchCV(model, grid).fit(X, s)`` passes the
        tasks as the labels). It takes the prior as it is: for the optimal prior's
        N(0, I) e^T, not normalised, search with ``selection.log_likelihood_scorer()``,
        which divides each prior by its Z."""
        weights = None
        if sample_weight is not None:  # checked before minutes of scoring (X in its turn)
            n_points = len(cast(Sized, X)) if hasattr(X, "__len__") else 0
            weights = point_weights(sample_weight, n_points)
        return float(np.average(self.score_samples(X, s, n_samples, random_state), weights=weights))

    def elbo(
        self, X: object, s: object = None, n_samples: int = 1, random_state: int | None = 0
    ) -> np.ndarray:
        """Evidence lower bound per point (nats), averaged over ``n_samples`` draws: (N,);
        ``random_state`` and the binarisation of grey levels as in ``score_samples``."""
        n_samples = whole_number(n_samples, "n_samples", 1)
        module, x, tasks = self._checked(X, s, scored=True)
        return elbo(module, x, tasks, n_samples, seed=_stream_seed(random_state)).cpu().numpy()

    @torch.no_grad()
    def sample(self, n: int, s: ArrayLike = 0, random_state: int | None = 0) -> np.ndarray:
        """Decoder means E[x | z, s] for ``n`` prior draws of z: (n, D).

        ``s`` is one task index for all draws (``1`` or ``[1]``) or an (n,) array of them;
        ``random_state`` as in ``score_samples``.
        """
        module = self.fitted_module()
        n = whole_number(n, "n (the number of samples)", 1)
        module.eval()
        if s is None and not self.conditional:
            s = 0  # a VAE's decoder reads no task
        tasks = None if s is None else np.asarray(s)
        if tasks is not None and tasks.size == 1 and tasks.ndim <= 1:  # 1 or [1]: every draw's
            tasks = np.full(n, tasks.reshape(()))
        if tasks is not None and tasks.ndim == 1 and tasks.shape[0] != n:
            given = tasks.shape[0]
            raise ValueError(f"s has {given} task indices for n = {n} samples; give one or n")
        task_array = check_tasks(tasks, n, self.tasks_ if self.conditional else None)
        tasks_t = torch.from_numpy(task_array).to(self.device)
        with self._drawing(random_state):
            z = module.prior.sample(n)
        return module.generate(z, tasks_t).cpu().numpy()

    @torch.no_grad()
    def decode(self, Z: object, s: object = None) -> np.ndarray:
        """Decoder means E[x | z, s] of codes ``Z`` (N, latent_dim) with tasks ``s`` (N,):
        (N, D)."""
        module = self.fitted_module()
        z = check_data(Z, "Z")
        latent_dim = module.prior.latent_dim
        if z.shape[1] != latent_dim:
            raise ValueError(f"Z has {z.shape[1]} columns, the model's latent_dim is {latent_dim}")
        if self.conditional or s is not None:
            known = self.tasks_ if self.conditional else None
            tasks = check_tasks(s, z.shape[0], known, data_name="Z")
        else:
            tasks = np.zeros(z.shape[0], dtype=np.int64)
        module.eval()
        device = self.device
        z_t, s_t = torch.from_numpy(z).to(device), torch.from_numpy(tasks).to(device)
        return module.generate(z_t, s_t).cpu().numpy()

    def reconstruct(self, X: object, s: object = None) -> np.ndarray:
        """E[x | z, s] at the posterior mean z of each point of ``X`` (N, D): (N, D)."""
        return self.decode(self.posterior(X, s)[0], s)

    # ------------------------------------------------------------------- storage
    def save(self, path: str | os.PathLike) -> None:
        """Write the model atomically (temporary file in the same folder, then rename); a
        leading ``~`` is the user's home. ``set_output``'s choice is kept with it."""
        path = Path(path).expanduser()
        if path.is_dir():
            raise IsADirectoryError(
                f"{path} is a folder: save the model to a file in it, such as {path / 'model.pt'}"
            )
        module = self.fitted_module()
        history = self.fitted_history()
        sections = self.settings_by_section(fitted=True)
        payload = {
            "format": FILE_FORMAT,
            "version": FILE_VERSION,
            "class": type(self).__name__,
            "class_path": class_path(type(self)),
            "config": sections["model"],
            "training": {**sections["training"], "device": str(self.device)},
            "progress": bool(self.progress),
            "x_dim": module.decoder.x_dim,
            "tasks": list(self.tasks_),
            "feature_names": _listed(getattr(self, "feature_names_in_", None)),
            "output": dict(getattr(self, "_sklearn_output_config", {})),
            "state_dict": module.state_dict(),
            "history": {
                "epochs": history.epochs,
                "best_epoch": history.best_epoch,
                "stopped_early": history.stopped_early,
                "prior_epochs": history.prior_epochs,
            },
        }
        atomic_torch_save(with_digest(payload), path)  # checked by load

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | None = None) -> BaseModel:
        """Read a model written by ``save``; ``BaseModel.load`` returns the saved class."""
        path = Path(path).expanduser()
        if device is not None:
            check_device(device)  # before the file: a device missing here is no fault of it
        if path.is_dir():  # a FileNotFoundError, as every caller expects of a missing file
            raise FileNotFoundError(f"{path} is a folder, not a model file: pass the file in it")
        if not path.is_file():
            raise FileNotFoundError(f"no model file at {path}")
        try:
            with warnings.catch_warnings():  # torch's warnings on foreign pickles
                warnings.simplefilter("ignore")
                payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises many types for foreign or broken files
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            if reason.startswith("Weights only load failed"):
                reason = "it holds Python objects, which a model file never does"
            else:
                reason = f"not written by save, or cut short; torch: {reason}"
            raise ModelFileError(
                f"{path} is not a readable optprior model file ({reason})"
            ) from None
        if is_checkpoint(payload):
            raise ModelFileError(
                f"{path} is a training checkpoint (the checkpoint= of fit or from_cvae; "
                "CHECKPOINT.prior is T's stage), not a model file: call the same fit again "
                "with the same data and checkpoint=CHECKPOINT to go on from it (a finished "
                "fit returns at once), then model.save(path)"
            )
        if not isinstance(payload, dict) or payload.get("format") != FILE_FORMAT:
            raise ModelFileError(f"{path} is not an optprior model file")
        if not intact(payload):
            raise ModelFileError(
                f"{path} is damaged: its contents no longer match the checksum written with "
                "them; save or copy the model again"
            )
        if payload.get("version") != FILE_VERSION:
            raise ModelFileError(
                f"{path} has model file version {payload.get('version')}, "
                f"this optprior reads version {FILE_VERSION}"
            )
        class_name, where = payload.get("class"), payload.get("class_path")
        if isinstance(where, str):
            saved = _saved_class(where, class_name)
            module = where.partition(":")[0]
            if saved is None:
                raise ModelFileError(
                    f"{path} holds a model of class {class_name} of module {module}, which "
                    f"this process has not defined: import {module} (the module that "
                    "defines it, a subclass of an optprior model) before loading"
                )
        else:  # written before 2026-12-06: the class by its name alone
            saved = _class_named(class_name) if isinstance(class_name, str) else None
            if saved is None and isinstance(class_name, str) and class_name.isidentifier():
                raise ModelFileError(
                    f"{path} holds a model of class {class_name}, which this process does "
                    "not know: import the module that defines it (a subclass of an optprior "
                    "model) before loading"
                )
        if saved is None or not issubclass(saved, cls):
            raise ModelFileError(f"{path} holds a model of class {class_name}, not {cls.__name__}")
        try:
            return saved._from_payload(payload, device, path)
        except ModelFileError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as error:  # damaged fields
            raise ModelFileError(
                f"{path} is an optprior model file with missing or damaged contents "
                f"({type(error).__name__}: {error})"
            ) from None

    @classmethod
    def _from_payload(cls, payload: dict[str, Any], device: str | None, path: Path) -> BaseModel:
        # Settings added since the file was written take the value the code had then;
        # files before one config per method hold every method's settings: those this
        # method does not read are dropped.
        known = recorded_defaults()
        training = in_current_terms(payload["training"], known, known)
        saved = {**payload["config"], **training}
        settings = {k: v for k, v in saved.items() if cls.reads_setting(k)}
        if device is None:
            device = str(payload["training"]["device"])
            try:
                check_device(device)
            except ValueError:  # trained on a GPU (CUDA, MPS), read on a machine without
                device = "cpu"
        progress = payload.get("progress", True)  # unsaved before 2026-12-06: the default
        model = cls(device=device, progress=progress is True, **settings)
        model.tasks_ = list(payload["tasks"])
        module = model._build(payload["x_dim"], model.n_tasks_)
        try:
            module.load_state_dict(payload["state_dict"])
        except RuntimeError as error:  # torch's lines after its first name the weights
            detail = "; ".join(line.strip() for line in str(error).splitlines()[1:] if line.strip())
            detail = detail if len(detail) <= 600 else detail[:600] + " ..."
            raise ModelFileError(
                f"{path}: its weights do not fit its settings ({detail or error})"
            ) from None
        flush_subnormals_(module)  # files written before the trainer flushed them
        module.eval()
        names = payload.get("feature_names")  # files before 2026-12-05 have none
        names = None if names is None else np.asarray(names, dtype=object)
        model._set_fitted(module, History(**payload["history"]), names)
        output = payload.get("output") or {}  # files before 2026-12-07 have none
        if output.get("transform") is not None:
            model.set_output(transform=output["transform"])
        return model


def routed_tasks(s: object, routed: dict[str, object], method: str) -> object:
    """The tasks given to ``method`` in its second place or by keyword (popped from
    ``routed``): a Pipeline under metadata routing passes them as ``s=``, with its labels
    (None unless given) in the second place."""
    by_name = routed.pop("s", None)
    if by_name is None:
        return s
    if s is not None and not (s is by_name or _equal_arrays(s, by_name)):
        raise ValueError(
            f"{method} was given two different task arrays, one in the labels' place and "
            "one as s=: pass the tasks once"
        )
    return by_name


def _equal_arrays(first: object, second: object) -> bool:
    """Whether two array-likes hold the same values (False where one cannot be read)."""
    try:
        return bool(np.array_equal(np.asarray(first), np.asarray(second)))
    except ValueError:  # ragged
        return False


def feature_names(x: object) -> np.ndarray | None:
    """The column names of a DataFrame ``x`` (object array) where every one is a string,
    as scikit-learn takes them; None for arrays and other column labels."""
    columns = getattr(x, "columns", None)
    if columns is None or not all(isinstance(c, str) for c in columns):
        return None
    return np.asarray(columns, dtype=object)


def check_feature_names(x: object, fitted: np.ndarray | None, name: str = "X") -> None:
    """ValueError where ``x`` is a DataFrame whose column names are not ``fitted`` (the
    names a model was fitted on), in that order; data without names pass, and a model
    fitted without them warns that it cannot check them (as scikit-learn does)."""
    names = feature_names(x)
    if names is not None and fitted is None:
        warnings.warn(
            f"{name} has feature names, but the model was fitted without them (on an array): "
            "its columns are taken by position, unchecked",
            stacklevel=user_stacklevel(),
        )
    if names is None or fitted is None or np.array_equal(names, fitted):
        return
    differ = [f"{a!r} for {b!r}" for a, b in zip(names, fitted, strict=False) if a != b]
    shown = ", ".join(differ[:3]) or f"{len(names)} columns for {len(fitted)}"
    raise ValueError(
        f"{name}'s columns are not those the model was fitted on, in that order ({shown}): "
        f"select them as X[model.feature_names_in_]"
    )


def fit_feature_names(
    X: object, X_val: object = None, fitted: np.ndarray | None = None
) -> np.ndarray | None:
    """The column names a fit records: ``X``'s, or for a model built on a fitted one
    (``from_cvae``) that model's ``fitted`` names; ``X`` and ``X_val`` are checked
    against them (``check_feature_names``)."""
    if fitted is None:
        names = feature_names(X)
    else:
        names = fitted
        check_feature_names(X, names)
    check_feature_names(X_val, names, "X_val")
    return names


def _listed(names: np.ndarray | None) -> list[str] | None:
    return None if names is None else [str(n) for n in names]


def check_device(device: str | torch.device, precision: str = "float32") -> None:
    """A ``ValueError`` naming ``device`` unless torch can put tensors there (and, for
    ``precision="bfloat16"`` on a GPU, compute in bfloat16)."""
    try:
        kind, index = (parsed := torch.device(device)).type, parsed.index
    except RuntimeError as error:
        raise ValueError(f"device {device!r} is not a torch device: {error}") from None
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ValueError(
            f"device {device!r}: torch.backends.mps.is_available() is False; use device='cpu'"
        )
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r}: torch.cuda.is_available() is False (torch {torch.__version__} "
            "built without CUDA, or no GPU visible); use device='cpu'"
        )
    if kind == "cuda" and index is not None and index >= torch.cuda.device_count():
        raise ValueError(
            f"device {device!r}: this machine shows {torch.cuda.device_count()} GPU(s), "
            "numbered from 0 (CUDA_VISIBLE_DEVICES may hide the others)"
        )
    if kind == "cuda" and precision == "bfloat16" and not torch.cuda.is_bf16_supported():
        raise ValueError(
            f"device {device!r} cannot compute in bfloat16 (torch.cuda.is_bf16_supported() "
            "is False); use precision='float32'"
        )


def model_defaults() -> dict[str, Any]:
    """The default of every model setting (the ``[model]`` table of a config file) of
    every method, by flat name."""
    defaults: dict[str, Any] = {}
    for cls in _MODEL_CLASSES.values():
        values = flatten(cls.config_type())
        sections = flat_names(cls.config_type)
        defaults.update({k: v for k, v in values.items() if sections[k] == "model"})
    return defaults


def all_setting_defaults() -> dict[str, dict[str, Any]]:
    """Every method's settings with their defaults, as a config file's ``"model"`` and
    ``"training"`` tables."""
    return {"model": model_defaults(), "training": training_defaults()}


def _stream_seed(random_state: int | None) -> int:
    """The seed of the points' importance-sample streams (``bounds.point_streams``):
    ``random_state``, or with None one drawn from torch's global stream."""
    if random_state is None:
        return int(torch.randint(0, 2**62, ()))
    return whole_number(random_state, "random_state", 0)


def draws_binary(settings: Mapping[str, Any]) -> bool:
    """Whether a fit with ``settings`` (flat, as ``BaseModel.settings``) draws Bernoulli
    data afresh at every use (``dynamic_binarization`` with the Bernoulli likelihood)."""
    return settings["likelihood"] == "bernoulli" and bool(settings["dynamic_binarization"])


def setting_readers(name: str, classes: Mapping[str, type[BaseModel]]) -> list[str]:
    """The names, of ``classes`` (a name per model class), of the methods that read
    setting ``name``."""
    return [method for method, cls in classes.items() if cls.reads_setting(name)]


def _unknown_settings_message(model_class: type[BaseModel], unknown: list[str]) -> str:
    """Why ``model_class`` refuses the settings ``unknown``: the classes that read them,
    if any."""
    # one class a name, optprior's own where a user's class has its name
    by_name = {c.__name__: c for c in sorted(_MODEL_CLASSES.values(), key=_is_optprior)}
    readers = {setting: setting_readers(setting, by_name) for setting in unknown}
    valid = sorted(model_class.setting_names() + list(RUN_OPTIONS))
    name = model_class.__name__
    parts = [
        f"{setting} (a setting of {', '.join(methods)})"
        if methods
        else setting + did_you_mean([setting], valid)
        for setting, methods in readers.items()
    ]
    return f"{name} does not read {', '.join(parts)}; its settings are {valid}"


__all__ = ["BaseModel", "ModelFileError", "NotFittedError", "UnknownSettingError"]
