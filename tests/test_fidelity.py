"""The mechanisms the optimal prior rests on, each checked so that a broken variant fails:
T's gradient reaches the encoder through z (and only through z), the CVAE reads s, scoring
uses T without dropout, and T enters the importance-sampled likelihood exactly."""

import copy

import numpy as np
import pytest
import torch
from helpers import FAST, fast

from optprior import CVAE, VAE, OptimalPriorCVAE
from optprior.evaluation import elbo, log_marginal_likelihood
from optprior.nn.mlp import Dropout
from optprior.priors import StandardNormalPrior
from optprior.training import DensityRatioPlan, ELBOPlan, TrainingConfig
from optprior.training.config import DiscriminatorConfig, DiscriminatorSchedule


def built_module(dropout: float = 0.0, seed: int = 0):
    """An optimal-prior module on 12 pixels and 2 tasks whose T is far from zero."""
    torch.manual_seed(seed)
    model = OptimalPriorCVAE(
        latent_dim=3,
        hidden_sizes=(16,),
        discriminator_hidden_sizes=(16, 16),
        discriminator_dropout=dropout,
    )
    module = model._build(12, 2)
    with torch.no_grad():
        for parameter in module.prior.parameters():
            parameter.normal_(0.0, 0.7)
    return module


def tensors(two_tasks, n=40):
    x, s = two_tasks
    pick = np.r_[0 : n // 2, len(x) - n // 2 : len(x)]
    return torch.from_numpy(x[pick]), torch.from_numpy(s[pick])


def encoder_gradients(module, x, s, seed=1):
    """d loss / d encoder parameters for one draw of z seeded with ``seed``."""
    module.zero_grad(set_to_none=True)
    torch.manual_seed(seed)
    loss = module.loss(module.objective_terms(x, s))
    loss.backward()
    return [p.grad.clone() for p in module.encoder.parameters()]


def test_t_gradient_reaches_the_encoder_through_z(two_tasks):
    """d/d(encoder) of the loss with prior N e^T = that with N(0, I) + d/d(encoder) of
    -mean T(z), z the same reparameterised draw: T's slope reaches the encoder via z."""
    module = built_module()
    x, s = tensors(two_tasks)
    module.prior.requires_grad_(False)  # as in the trainer's model steps
    with_t = encoder_gradients(module, x, s)
    normal = copy.deepcopy(module)
    normal.prior = StandardNormalPrior(3)
    without_t = encoder_gradients(normal, x, s)

    module.zero_grad(set_to_none=True)
    torch.manual_seed(1)
    mu, logvar = module.inference(x, s)
    z = module.encoder.rsample(mu, logvar)
    (-module.prior.log_ratio(z)).mean().backward()
    through_z = [p.grad for p in module.encoder.parameters()]
    assert max(float(g.abs().max()) for g in through_z) > 1e-3  # T's slope is not nil
    for a, b, c in zip(with_t, without_t, through_z, strict=True):
        torch.testing.assert_close(a - b, c, atol=1e-6, rtol=1e-4)


def test_model_steps_leave_t_alone_and_see_it_without_dropout(two_tasks):
    """T gets no gradient and no update from the model's steps, runs in eval mode in
    them, and is not among the model optimiser's parameters."""
    module = built_module(dropout=0.5)
    x, s = tensors(two_tasks)
    training = TrainingConfig(batch_size=10, warmup_epochs=0)
    plan = DensityRatioPlan(module, training, False, DiscriminatorConfig(), DiscriminatorSchedule())
    held = {id(p) for group in plan.optimizer.param_groups for p in group["params"]}
    assert not held & {id(p) for p in module.prior.parameters()}
    seen = []
    module.prior.discriminator.register_forward_hook(
        lambda layer, args, out: seen.append((layer.training, out.requires_grad))
    )
    before = copy.deepcopy(module.prior.state_dict())
    encoder_before = copy.deepcopy(module.encoder.state_dict())
    plan.start(x, s, None)
    ELBOPlan.train_epoch(plan, x, s, 0, torch.Generator().manual_seed(0))  # model steps alone
    assert seen and all(not training for training, _ in seen)
    assert all(requires_grad for _, requires_grad in seen)  # the slope w.r.t. z flows
    for name, value in module.prior.state_dict().items():
        assert torch.equal(value, before[name]), name
        assert module.prior.get_parameter(name).grad is None, name
    assert any(
        not torch.equal(v, encoder_before[k]) for k, v in module.encoder.state_dict().items()
    )


def test_cvae_reads_the_task_in_encoder_and_decoder(two_tasks):
    x, s = two_tasks
    model = fast(CVAE).fit(x, s)
    zeros, ones = np.zeros(len(x), dtype=int), np.ones(len(x), dtype=int)
    assert np.abs(model.transform(x, zeros) - model.transform(x, ones)).max() > 1e-3
    module = model.module_
    z = torch.randn(len(x), FAST["latent_dim"])
    with torch.no_grad():
        means = [module.generate(z, torch.from_numpy(t)) for t in (zeros, ones)]
    assert float((means[0] - means[1]).abs().max()) > 1e-3
    torch.manual_seed(0)
    first = model.score_samples(x, zeros, n_samples=5)
    torch.manual_seed(0)
    assert np.abs(first - model.score_samples(x, ones, n_samples=5)).max() > 1e-2
    # The plain VAE, by contrast, ignores s.
    vae = fast(VAE).fit(x, s)
    np.testing.assert_array_equal(vae.transform(x, zeros), vae.transform(x, ones))


def test_scoring_uses_t_without_dropout(two_tasks):
    """Scores of a module left in training mode (as after T's passes) equal those of the
    same weights with dropout removed: scoring switches T to eval mode."""
    module = built_module(dropout=0.5)
    x, s = tensors(two_tasks)
    reference = copy.deepcopy(module)
    for layer in reference.modules():
        if isinstance(layer, Dropout):
            layer.p = 0.0
    for score in (log_marginal_likelihood, elbo):
        module.train()
        torch.manual_seed(3)
        got = score(module, x, s, 20)
        torch.manual_seed(3)
        torch.testing.assert_close(got, score(reference, x, s, 20))
    module.prior.train()
    assert module.prior.log_normalizer(5000) == reference.prior.log_normalizer(5000)
    module.prior.train()
    annealed = module.prior.normalizer_annealed(50, 20, seed=1)
    assert annealed == reference.prior.normalizer_annealed(50, 20, seed=1)


def test_a_constant_added_to_t_shifts_the_likelihood_by_that_constant(two_tasks):
    """ln p(z) = ln N(z; 0, I) + T(z): T + c multiplies every importance weight by e^c,
    so ln p(x|s) and the ELBO rise by c exactly and the normalised scores do not move."""
    module = built_module()
    x, s = tensors(two_tasks)

    def scores():
        torch.manual_seed(5)
        likelihood = log_marginal_likelihood(module, x, s, 50)
        torch.manual_seed(5)
        return likelihood, elbo(module, x, s, 3), module.prior.log_normalizer(20_000)

    before = scores()
    with torch.no_grad():
        module.prior.discriminator.body[-1].bias += 2.5
    after = scores()
    for b, a in zip(before[:2], after[:2], strict=True):
        torch.testing.assert_close(a - b, torch.full_like(a, 2.5), atol=1e-4, rtol=0)
    assert after[2] - before[2] == pytest.approx(2.5, abs=1e-4)
