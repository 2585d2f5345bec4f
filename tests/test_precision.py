"""bfloat16 products in the training steps: the networks compute in bfloat16 inside them
and answer in float32; the validation ELBO and scoring stay in float32."""

import numpy as np
import pytest
import torch
from helpers import fast

from optprior import CVAE, OptimalPriorCVAE, PostHocOptimalPriorCVAE
from optprior.nn import MLP
from optprior.nn import precision as precision_module
from optprior.nn.precision import products_in
from optprior.priors import OptimalPrior
from optprior.training.plans import ELBOPlan


@torch.no_grad()
def test_an_mlp_computes_in_bfloat16_inside_the_context_and_answers_in_float32():
    torch.manual_seed(0)
    mlp = MLP(8, 4, (16,), n_tasks=2)
    x, s = torch.randn(32, 8), torch.randint(0, 2, (32,))
    exact = mlp(x, s)
    with products_in("bfloat16"):
        low = mlp(x, s)
    assert low.dtype == torch.float32
    assert 0 < float((low - exact).abs().max()) < 0.1  # bfloat16's rounding, no more
    with products_in("float32"):
        assert torch.equal(mlp(x, s), exact)
    assert torch.equal(mlp(x, s), exact)  # the context is left as it was
    # The output layer runs in float32, outside autocast: a head alone is exact.
    seen = []
    mlp.body[-1].register_forward_hook(
        lambda layer, inputs, out: seen.append((inputs[0].dtype, torch.is_autocast_enabled("cpu")))
    )
    with products_in("bfloat16"):
        mlp(x, s)
    assert seen == [(torch.float32, False)]
    head = MLP(8, 4, ())
    with products_in("bfloat16"):
        assert torch.equal(head(x, s), MLP.forward(head, x, s))


@pytest.mark.parametrize("method", [CVAE, OptimalPriorCVAE])
def test_only_the_training_steps_run_in_bfloat16(method, two_tasks, monkeypatch):
    """The model's (and T's) steps see bfloat16, the validation ELBO that chooses the
    epoch float32, and scoring after the fit float32."""
    seen: dict[str, set] = {"steps": set(), "validation": set()}
    objective, score = ELBOPlan.objective, ELBOPlan.score

    def spied_objective(self, *args):
        seen["steps"].add(precision_module._PRODUCTS.get())
        return objective(self, *args)

    def spied_score(self, *args):
        seen["validation"].add(precision_module._PRODUCTS.get())
        return score(self, *args)

    monkeypatch.setattr(ELBOPlan, "objective", spied_objective)
    monkeypatch.setattr(ELBOPlan, "score", spied_score)
    x, s = two_tasks
    model = fast(method, precision="bfloat16").fit(x[:200], s[:200], x[200:], s[200:])
    assert seen == {"steps": {torch.bfloat16}, "validation": {None}}
    assert precision_module._PRODUCTS.get() is None
    assert np.isfinite(model.score_samples(x[200:], s[200:], 10)).all()


@pytest.mark.parametrize("method", [OptimalPriorCVAE, PostHocOptimalPriorCVAE])
def test_ts_loss_chooses_its_epoch_in_float32(method, two_tasks, monkeypatch):
    """T's steps compute in bfloat16; its loss on the held-out codes, which chooses the
    post-hoc T's epoch, in float32 (computed without gradient)."""
    seen: dict[bool, set] = {True: set(), False: set()}
    loss = OptimalPrior.discriminator_loss

    def spied(self, *args, **kwargs):
        seen[torch.is_grad_enabled()].add(precision_module._PRODUCTS.get())
        return loss(self, *args, **kwargs)

    monkeypatch.setattr(OptimalPrior, "discriminator_loss", spied)
    x, s = two_tasks
    fast(method, precision="bfloat16").fit(x[:200], s[:200], x[200:], s[200:])
    assert seen[True] == {torch.bfloat16}
    assert seen[False] <= {None}


def test_a_gpu_without_bfloat16_is_named_before_training(two_tasks, monkeypatch):
    from optprior.models import base

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    with pytest.raises(ValueError, match="cannot compute in bfloat16"):
        base.check_device("cuda", "bfloat16")
    base.check_device("cuda", "float32")
    with pytest.raises(ValueError, match="cannot compute in bfloat16"):
        fast(CVAE, precision="bfloat16", device="cuda").fit(*two_tasks)


def test_a_bfloat16_fit_is_another_fit_near_the_float32_one(two_tasks, tmp_path):
    x, s = two_tasks
    settings = {"epochs": 40, "warmup_epochs": 5, "learning_rate": 1e-2}
    full = fast(CVAE, **settings).fit(x, s)  # -7.23 nats, from -7.89 after 2 epochs
    low = fast(CVAE, **settings, precision="bfloat16").fit(x, s)
    assert not torch.equal(
        full.module_.encoder.net.input.linear.weight, low.module_.encoder.net.input.linear.weight
    )
    gap = float(low.score_samples(x, s, 50).mean() - full.score_samples(x, s, 50).mean())
    assert abs(gap) < 0.05
    low.save(tmp_path / "model.pt")
    assert CVAE.load(tmp_path / "model.pt").get_params()["precision"] == "bfloat16"


def test_an_unknown_precision_is_named():
    with pytest.raises(
        ValueError, match="unknown precision 'float16'; choose one of float32, bfloat16"
    ):
        CVAE(precision="float16")
