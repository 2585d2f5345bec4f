"""The methods. They differ only in the task input, the prior, whether I(z; s) is
penalised and, for the post-hoc optimal prior, in fitting the prior after the encoder and
decoder."""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path
from types import FunctionType
from typing import Any, ClassVar

from optprior._random import seeded_torch
from optprior._settings import flat_names
from optprior._validation import user_stacklevel
from optprior.models.base import (
    BaseModel,
    class_path,
    fit_feature_names,
    warn_if_unconverged,
)
from optprior.models.config import (
    MixturePriorConfig,
    NetworkConfig,
    OptimalPriorConfig,
    PenalisedCVAEConfig,
    PostHocPenalisedConfig,
    PostHocPriorConfig,
    VampPriorCVAEConfig,
)
from optprior.module import VAEModule
from optprior.priors import MixturePrior, OptimalPrior, Prior, StandardNormalPrior, VampPrior
from optprior.training import (
    DensityRatioPlan,
    History,
    PenalisedELBOPlan,
    PriorFitPlan,
    Trainer,
    TrainingPlan,
    TrainingStopped,
)
from optprior.training.mixture import MixturePriorPlan
from optprior.training.penalties import (
    Penalty,
    TaskAdversary,
    hsic_penalty,
    mmd_penalty,
    moyer_information_bound,
)
from optprior.training.stopping import stop_cause, time_is_up
from optprior.training.trainer import fingerprint


class VAE(BaseModel):
    """Plain VAE: the task index is not an input; prior N(0, I). ``s`` may be omitted."""

    conditional = False


class CVAE(BaseModel):
    """Conditional VAE: s (one-hot) into encoder and decoder; prior N(0, I)."""

    conditional = True


class PenalisedCVAE(BaseModel):
    """A CVAE whose loss adds ``invariance_weight`` times ``penalty``, a function of the
    batch's terms and tasks (``optprior.training.penalties``); weight 0 is the CVAE."""

    conditional = True
    config_type = PenalisedCVAEConfig
    config: PenalisedCVAEConfig
    penalty: ClassVar[Penalty]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        named = cls.__dict__.get("penalty")
        defined_here = getattr(named, "__qualname__", "").startswith(f"{cls.__qualname__}.")
        if isinstance(named, FunctionType) and not defined_here:  # penalty = f, not a def
            cls.penalty = staticmethod(named)

    def make_plan(self, module: VAEModule) -> TrainingPlan:
        return PenalisedELBOPlan(
            module, self.training, self.binarizes, self.penalty, self._weight(module)
        )

    def _weight(self, module: VAEModule) -> float:
        """The penalty's weight, with a warning where the data hold one task only."""
        weight = self.config.invariance_weight
        if weight and module.encoder.n_tasks < 2:
            warnings.warn(
                f"s holds one task, so z carries no task information for {type(self).__name__}'s "
                f"penalty (invariance_weight={weight}) to remove; pass the task indices s, "
                "or fit a CVAE",
                stacklevel=user_stacklevel(),  # the user's line, however deep
            )
        return weight


class InvariantCVAE(PenalisedCVAE):
    """The earlier fix the paper compares with (Moyer et al. 2018, "Invariant
    Representations without Adversarial Training"): a CVAE whose loss adds
    ``invariance_weight`` times a variational upper bound on I(z; s).

    Loss per batch: beta KL(q(z|x,s) || N(0, I)) - (1 + lambda) ln p(x|z,s)
    + lambda (1/B^2) sum_ij KL(q(z|x_i,s_i) || q(z|x_j,s_j)); prior N(0, I), so it is
    scored like the CVAE. lambda = 0 is the CVAE.
    """

    penalty = staticmethod(moyer_information_bound)


class HSICCVAE(PenalisedCVAE):
    """A CVAE penalised by ``invariance_weight`` times the HSIC between z and the task
    (Lopez et al. 2018; ``penalties.hsic_penalty``)."""

    penalty = staticmethod(hsic_penalty)


class MMDCVAE(PenalisedCVAE):
    """A CVAE penalised by ``invariance_weight`` times the MMD between each task's z and
    the batch's (the VFAE penalty, Louizos et al. 2016; ``penalties.mmd_penalty``)."""

    penalty = staticmethod(mmd_penalty)


class AdversarialCVAE(PenalisedCVAE):
    """A CVAE trained against a task classifier on z (Ganin et al. 2016; Edwards &
    Storkey 2016): the loss adds ``invariance_weight`` times the classifier's
    cross-entropy, whose gradient reaches the encoder reversed
    (``penalties.TaskAdversary``, an MLP of ``ADVERSARY_HIDDEN`` ReLU units trained by the
    model's optimiser), so the encoder learns codes the classifier cannot tell apart.
    Prior N(0, I): scored like the CVAE. The classifier starts from a stream of its own
    (``ADVERSARY_SEED``), so the model's draws are the CVAE's and weight 0 is the CVAE."""

    ADVERSARY_HIDDEN = (256, 256)
    #: Added to the training seed for the classifier's starting weights.
    ADVERSARY_SEED = 7919

    def make_plan(self, module: VAEModule) -> TrainingPlan:
        tasks = max(module.encoder.n_tasks, 1)
        with seeded_torch(self.training.seed + self.ADVERSARY_SEED):
            adversary = TaskAdversary(self.config.latent_dim, tasks, self.ADVERSARY_HIDDEN)
        adversary.to(self.device)
        return PenalisedELBOPlan(
            module, self.training, self.binarizes, adversary, self._weight(module)
        )


class VampPriorCVAE(BaseModel):
    """A CVAE whose prior is a VampPrior (Tomczak & Welling 2018): the mixture of the
    encoder's posteriors at learned pseudo-inputs (``vamp_components`` per task, of each
    task's own or shared: ``vamp_pseudo_inputs``), trained with the model by the ELBO; a
    learned approximation of the aggregated posterior q(z), where the optimal prior
    estimates q(z) itself. Scored with its own (normalised) mixture."""

    conditional = True
    config_type = VampPriorCVAEConfig
    config: VampPriorCVAEConfig

    def make_prior(self) -> Prior:
        c = self.config
        bounded = c.likelihood == "bernoulli"
        return VampPrior(c.latent_dim, c.vamp_components, c.vamp_pseudo_inputs, bounded)


class OptimalPriorCVAE(BaseModel):
    """The paper's method: a CVAE whose prior is the aggregated posterior q(z),
    N(z; 0, I) exp(T(z)) with T a density-ratio discriminator, or with
    ``estimator="mixture"`` q(z) itself, the exact mixture of the training posteriors
    (``MixturePrior``, trained by ``MixturePriorPlan``).

    With a single task it is the implicit-optimal-prior VAE.
    """

    conditional = True
    config_type: ClassVar[type[NetworkConfig]] = OptimalPriorConfig
    config: PostHocPriorConfig  # an OptimalPriorConfig; the post-hoc prior's has no schedule

    def make_prior(self) -> Prior:
        c = self.config
        if isinstance(c, OptimalPriorConfig) and c.estimator == "mixture":
            return MixturePrior(c.latent_dim)
        t = c.discriminator
        last_only = t.dropout_layers == "last"
        return OptimalPrior(
            c.latent_dim, t.hidden_sizes, c.activation, t.dropout, dropout_last_only=last_only
        )

    def make_plan(self, module: VAEModule) -> TrainingPlan:
        c, binarizes = self.config, self.binarizes
        assert isinstance(c, OptimalPriorConfig)
        if c.estimator == "mixture":
            task_weights = c.discriminator.task_weights
            return MixturePriorPlan(module, self.training, binarizes, c.mixture, task_weights)
        return DensityRatioPlan(module, self.training, binarizes, c.discriminator, c.schedule)

    def _unread_because(self, name: str, settings: dict[str, Any]) -> str | None:
        """The exact mixture reads no setting of T but its task weights; T, no
        ``mixture_*`` setting; then the rules of ``BaseModel._unread_because``."""
        estimator = settings.get("estimator", "discriminator")
        of_t = name.startswith("discriminator_") and name != "discriminator_task_weights"
        if estimator == "mixture" and of_t:
            return "estimator='mixture'"
        if estimator != "mixture" and name.startswith("mixture_"):
            return f"estimator={estimator!r}"
        return super()._unread_because(name, settings)


class MixturePriorCVAE(BaseModel):
    """The optimal prior computed exactly: a CVAE whose prior is q(z), the mixture of the
    posteriors of all training points (``MixturePrior``, trained by
    ``MixturePriorPlan``), with no discriminator to fit. The same model as
    ``OptimalPriorCVAE(estimator="mixture")``, as a method of its own so that both
    estimates of the optimal prior sit side by side in one experiment."""

    conditional = True
    config_type = MixturePriorConfig
    config: MixturePriorConfig

    def make_prior(self) -> Prior:
        return MixturePrior(self.config.latent_dim)

    def make_plan(self, module: VAEModule) -> TrainingPlan:
        c = self.config
        return MixturePriorPlan(
            module, self.training, self.binarizes, c.mixture, c.discriminator_task_weights
        )


#: Settings of a post-hoc method's first stage that T's fit does not read: the model's
#: values are the source's, so ``from_cvae`` may not override them.
FIRST_STAGE_ONLY = (
    "invariance_weight",
    "beta",
    "warmup_epochs",
    "warmup_from_zero",
    "select_after_warmup",
)


class PostHocOptimalPriorCVAE(OptimalPriorCVAE):
    """A CVAE trained with the N(0, I) prior, then given the optimal prior: T is fitted to
    the aggregated posterior of the fixed encoder, which with decoder stays the CVAE's.

    By Theorem 2 of the paper the bound on the training data rises by KL(q(z) || N(0, I))
    when T is exact; the encoder never sees T's gradient. ``fit`` trains both stages;
    ``from_cvae`` adds the second to a CVAE already trained.
    """

    config_type: ClassVar[type[NetworkConfig]] = PostHocPriorConfig
    #: The model of the first stage, trained by ``fit`` with the settings it reads.
    source: ClassVar[type[BaseModel]] = CVAE

    def _fit(
        self,
        X: object,
        s: object,
        X_val: object,
        s_val: object,
        checkpoint: str | os.PathLike | None,
    ) -> PostHocOptimalPriorCVAE:
        """``fit``: train the first stage (``source``: a CVAE, Moyer's ``InvariantCVAE`` for
        ``PostHocInvariantCVAE``) on ``X`` (N, D), ``s`` (N,), then fit T; both
        early-stop on ``X_val``.

        ``checkpoint`` covers the first stage's training (see ``BaseModel.fit``), and
        ``CHECKPOINT.prior`` T's (``checkpoint_files``); at the time limit of
        ``training.stop_at`` the fit stops after the first stage too, before T's fit,
        which the next fit with the same checkpoint starts at once.
        """
        source = self.source(**self.source.settings_read(self.get_params()))
        cvae = source.fit(X, s, X_val, s_val, checkpoint)
        if checkpoint is not None and time_is_up():
            raise TrainingStopped(
                f"after the first stage ({stop_cause()}); {checkpoint} goes on to T"
            )
        prior_checkpoint = None if checkpoint is None else self.checkpoint_files(checkpoint)[1]
        return self._fit_prior_of(cvae, X, s, X_val, s_val, prior_checkpoint)

    @classmethod
    def checkpoint_files(cls, checkpoint: str | os.PathLike) -> tuple[Path, ...]:
        """The CVAE's checkpoint and T's, ``CHECKPOINT.prior``."""
        return Path(checkpoint), Path(f"{checkpoint}.prior")

    @classmethod
    def from_cvae(
        cls,
        cvae: BaseModel,
        X: object,
        s: object,
        X_val: object = None,
        s_val: object = None,
        checkpoint: str | os.PathLike | None = None,
        **overrides: object,
    ) -> PostHocOptimalPriorCVAE:
        """``cvae``'s networks (copied) with T fitted on its encodings of ``X``, ``s``:
        a fitted ``CVAE``, or a CVAE trained with a penalty on task information
        (``InvariantCVAE``, ``HSICCVAE``, ``MMDCVAE``, ``AdversarialCVAE``), whose more
        invariant codes T then models. On ``PostHocOptimalPriorCVAE`` the penalty is the
        source's alone: the model returned holds no trace of it, and its own ``fit`` (or a
        ``clone``'s) trains a plain CVAE before T; ``PostHocInvariantCVAE`` keeps
        Moyer's weight and trains its ``InvariantCVAE`` again.

        ``checkpoint``: T's fit saved and resumed as ``BaseModel.fit`` does; it must come
        from the same CVAE. ``overrides``: settings for the T fit (e.g. ``epochs``,
        ``patience``, ``discriminator_learning_rate``, ``discriminator_hidden_sizes``)
        and run options; by default the CVAE's own. The first stage's networks and
        ``FIRST_STAGE_ONLY`` settings are the source's.
        """
        if cls.source is not CVAE and not isinstance(cvae, cls.source):
            raise TypeError(
                f"{cls.__name__}.from_cvae needs a fitted {cls.source.__name__}, got "
                f"{type(cvae).__name__}"
            )
        if not isinstance(cvae, CVAE | PenalisedCVAE):
            raise TypeError(
                "from_cvae needs a fitted CVAE or penalised CVAE (N(0, I) prior, s an "
                f"input), got {type(cvae).__name__}"
            )
        prior = cvae.fitted_module().prior
        if not isinstance(prior, StandardNormalPrior):
            raise TypeError(
                f"from_cvae needs a model with the N(0, I) prior, which T replaces (as in "
                f"the paper's CVAE); {type(cvae).__name__} holds a {type(prior).__name__}, "
                "which would be dropped"
            )
        # the settings it was fitted with (not a penalty's weight), its run options now
        given = cls.settings_read({**cvae.get_params(), **cvae.fitted_settings_})
        model = cls(**{**given, **overrides})
        fixed = {*flat_names(NetworkConfig), *FIRST_STAGE_ONLY}
        settings = model.settings()  # as checked: [16] is (16,)
        changed = [k for k in overrides if k in fixed & set(given) and settings[k] != given[k]]
        if changed:
            raise ValueError(
                "overrides may change T and its training, not the first stage's networks "
                f"or settings: {changed}"
            )
        if checkpoint is not None:
            checkpoint = Path(checkpoint).expanduser()
        return model._fit_prior_of(cvae, X, s, X_val, s_val, checkpoint)

    def _fit_prior_of(
        self,
        cvae: CVAE | PenalisedCVAE,
        X: object,
        s: object,
        X_val: object,
        s_val: object,
        checkpoint: str | os.PathLike | None = None,
    ) -> PostHocOptimalPriorCVAE:
        with self._fitting_tasks(list(cvae.tasks_)):  # the CVAE's, checked in s as in it
            source = cvae.fitted_module()
            names = fit_feature_names(X, X_val, getattr(cvae, "feature_names_in_", None))
            x, tasks = self._tensors(X, s, fitting=True)
            x_val = s_val_t = None
            if X_val is not None:
                x_val, s_val_t = self._tensors(X_val, s_val, "X_val", scored=True, fitting=True)
            for name, data in (("X", x), ("X_val", x_val)):
                if data is not None and data.shape[1] != source.decoder.x_dim:
                    raise ValueError(
                        f"{name} has {data.shape[1]} features, the CVAE was fitted on "
                        f"{source.decoder.x_dim}"
                    )
            with self._seeded():
                module = self._build(x.shape[1], self.n_tasks_)
                module.encoder.load_state_dict(source.encoder.state_dict())
                module.decoder.load_state_dict(source.decoder.state_dict())
                plan = PriorFitPlan(
                    module, self.training, self.binarizes, self.config.discriminator
                )
                saving = None
                if checkpoint is not None:  # T's fit goes on only from the same CVAE
                    cvae_weights = fingerprint(*source.state_dict().values())
                    saving = self._checkpoint(checkpoint, cvae=cvae_weights)
                prior_fit = Trainer(plan, self.progress).fit(x, tasks, x_val, s_val_t, saving)
            warn_if_unconverged(
                prior_fit,
                self.training,
                "the fit of T",
                "T's logistic loss on the monitored codes",
                "discriminator_learning_rate",
            )
            history = cvae.fitted_history()
            self._set_fitted(
                module,
                History(
                    list(history.epochs),
                    history.best_epoch,
                    history.stopped_early,
                    prior_fit.epochs,
                ),
                names,
            )
        return self


class PostHocInvariantCVAE(PostHocOptimalPriorCVAE):
    """Moyer's penalty, then the optimal prior: an ``InvariantCVAE`` trained at
    ``invariance_weight``, then T fitted to its fixed encoder's aggregated posterior, so
    that the prior models the penalised, more invariant codes; its encoder, and so its
    task dependence, stays the first stage's."""

    config_type = PostHocPenalisedConfig
    source = InvariantCVAE


#: The paper's three methods, the default of every experiment.
PAPER_METHODS: tuple[str, ...] = ("vae", "cvae", "optimal")

METHODS: dict[str, type[BaseModel]] = {
    "vae": VAE,
    "cvae": CVAE,
    "optimal": OptimalPriorCVAE,
    "mixture": MixturePriorCVAE,
    "posthoc": PostHocOptimalPriorCVAE,
    "posthoc-invariant": PostHocInvariantCVAE,
    "invariant": InvariantCVAE,
    "hsic": HSICCVAE,
    "mmd": MMDCVAE,
    "adversarial": AdversarialCVAE,
    "vamp": VampPriorCVAE,
}


#: The entry-point group through which an installed package adds methods to the command
#: line and config files: ``meangap = "mypackage.models:MeanGapCVAE"``.
PLUGIN_GROUP = "optprior.methods"
_plugins_loaded = False
#: The methods ``register_method`` named in this process alone (not entry points).
_in_process: set[str] = set()


def register_method(name: str, model_class: type[BaseModel]) -> None:
    """Make ``model_class`` (a subclass of an optprior model) the method ``name`` of
    ``optprior train``/``compare``/``reproduce`` and of config files, in this process
    (worker processes read the installed packages' ``PLUGIN_GROUP`` entry points,
    ``load_plugins``; a sweep refuses to send them a method named here alone).
    ``ValueError`` for a name optprior or another class holds."""
    _register(name, model_class)
    _in_process.add(name)


def _register(name: str, model_class: type[BaseModel]) -> None:
    if not (isinstance(model_class, type) and issubclass(model_class, BaseModel)):
        raise TypeError(f"method {name!r}: {model_class!r} is not a subclass of an optprior model")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
        raise ValueError(
            f"method name {name!r}: lower-case letters, digits, - and _, starting with a letter"
        )
    held = METHODS.get(name)
    if held is not None and class_path(held) != class_path(model_class):
        raise ValueError(
            f"method name {name!r} is taken by {class_path(held)}: choose another for "
            f"{class_path(model_class)}"
        )
    METHODS[name] = model_class


def load_plugins() -> None:
    """Register the methods that installed packages declare as ``PLUGIN_GROUP`` entry
    points, once a process; one that fails to load is skipped with a warning naming it."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for point in entry_points(group=PLUGIN_GROUP):
        try:
            _register(point.name, point.load())
        except Exception as error:  # a broken package leaves the other methods usable
            warnings.warn(
                f"the method {point.name} = {point.value} of entry point group "
                f"{PLUGIN_GROUP} was not loaded: {type(error).__name__}: {error}",
                stacklevel=2,
            )


def check_known_to_workers(names: Iterable[str]) -> None:
    """``ValueError`` where a method of ``names`` was named by ``register_method`` in this
    process alone: worker processes (``--jobs``, Ray) know the installed packages' entry
    points, not what this process registered."""
    local = sorted(set(names) & _in_process)
    if local:
        raise ValueError(
            f"method(s) {local} were registered in this process alone (register_method), "
            "which worker processes do not see: declare them as entry points of group "
            f"{PLUGIN_GROUP} in an installed package, or run them in this process (--jobs 1)"
        )
