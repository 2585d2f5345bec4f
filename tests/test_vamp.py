"""The VampPrior: a normalised mixture of the encoder's posteriors at pseudo-inputs that
the ELBO trains."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import fast

from optprior import CVAE, VampPriorCVAE
from optprior.nn.encoder import gaussian_log_prob


def built(**settings):
    model = fast(VampPriorCVAE, **{**settings})
    torch.manual_seed(0)
    return model, model._build(12, 2)


@pytest.mark.parametrize(
    "pseudo_inputs, likelihood",
    [("per_task", "bernoulli"), ("shared", "bernoulli"), ("per_task", "gaussian")],
)
def test_prior_is_the_mean_of_the_encoders_posteriors_at_its_pseudo_inputs(
    pseudo_inputs, likelihood
):
    """Pseudo-inputs outside [0, 1] are clamped into it for Bernoulli data, the pixels'
    range, and taken as they are for Gaussian data."""
    _, module = built(vamp_components=4, vamp_pseudo_inputs=pseudo_inputs, likelihood=likelihood)
    prior = module.prior
    rows = 4 if pseudo_inputs == "shared" else 8
    assert prior.pseudo_inputs.shape == (rows, 12)
    with torch.no_grad():
        prior.pseudo_inputs[0], prior.pseudo_inputs[1, :6] = 2.0, -1.0
    bernoulli = likelihood == "bernoulli"
    u = prior.pseudo_inputs.clamp(0, 1) if bernoulli else prior.pseudo_inputs
    if pseudo_inputs == "shared":  # every pseudo-input under both tasks
        inputs, tasks = torch.cat([u, u]), torch.tensor([0] * 4 + [1] * 4)
    else:  # four of each task's own
        inputs, tasks = u, torch.tensor([0] * 4 + [1] * 4)
    mu, logvar = module.encoder(inputs, tasks)
    z = torch.randn(50, 3)
    direct = torch.logsumexp(gaussian_log_prob(z[:, None], mu, logvar), 1) - math.log(8)
    torch.testing.assert_close(prior.log_prob(z), direct)


def test_prior_integrates_to_one():
    _, module = built(latent_dim=1, vamp_components=3)
    z = torch.linspace(-30, 30, 600_001, dtype=torch.float64)[:, None]
    with torch.no_grad():
        density = torch.exp(module.double().prior.log_prob(z))
    assert float(torch.trapezoid(density, z[:, 0])) == pytest.approx(1.0, abs=1e-6)


def test_pseudo_inputs_receive_gradients_and_are_trained_by_the_elbo(two_tasks):
    x, s = two_tasks
    model, module = built()
    plan = model.make_plan(module)
    trained = {id(p) for group in plan.optimizer.param_groups for p in group["params"]}
    assert id(module.prior.pseudo_inputs) in trained
    terms = module.objective_terms(torch.from_numpy(x[:50]), torch.from_numpy(s[:50]))
    module.loss(terms).backward()
    assert module.prior.pseudo_inputs.grad.abs().sum() > 0

    fitted = fast(VampPriorCVAE).fit(x, s).module_.prior.pseudo_inputs.detach()
    assert not torch.equal(fitted, module.prior.pseudo_inputs.detach())  # the same start


def test_vamp_settings_are_checked_and_read_by_the_vamp_prior_alone():
    with pytest.raises(ValueError, match="unknown vamp_pseudo_inputs 'each'"):
        VampPriorCVAE(vamp_pseudo_inputs="each")
    with pytest.raises(ValueError, match="vamp_components must be >= 1"):
        VampPriorCVAE(vamp_components=0)
    assert VampPriorCVAE.reads_setting("vamp_components")
    assert not CVAE.reads_setting("vamp_components")


def test_samples_come_from_the_components_equally(monkeypatch):
    """With components at -6 and +6 (sd 0.1), every draw lies near one of them and half
    near each: a draw from N(0, I), or from one component only, fails."""
    _, module = built(latent_dim=1)
    mu, logvar = torch.tensor([[-6.0], [6.0]]), torch.full((2, 1), 2 * math.log(0.1))
    monkeypatch.setattr(module.prior, "posteriors", lambda: (mu, logvar))
    torch.manual_seed(0)
    z = module.prior.sample(4000)[:, 0]
    assert float((z.abs() - 6).abs().max()) < 0.6  # within 6 sd of a component
    assert abs(float((z > 0).float().mean()) - 0.5) < 0.03


@pytest.mark.parametrize("pseudo_inputs", ["per_task", "shared"])
def test_pseudo_inputs_start_at_training_points_of_their_task(two_tasks, pseudo_inputs):
    x, s = (torch.from_numpy(a) for a in two_tasks)
    model, module = built(vamp_components=5, vamp_pseudo_inputs=pseudo_inputs)
    model.make_plan(module).start(x, s, None)
    u = module.prior.pseudo_inputs.detach()
    matches = (u[:, None, :] == x[None]).all(-1)  # (rows, N): which points each one is
    assert matches.any(1).all()
    if pseudo_inputs == "per_task":
        tasks = module.prior.component_tasks[module.prior.component_rows]
        assert all(bool((s[matches[row]] == tasks[row]).all()) for row in range(len(u)))


@pytest.mark.parametrize("pseudo_inputs", ["per_task", "shared"])
def test_more_pseudo_inputs_than_points_start_as_repeats_with_a_warning(two_tasks, pseudo_inputs):
    """No pseudo-input is left as noise where a task has fewer points than pseudo-inputs:
    each point once, the rest repeats, and a warning names the setting."""
    x, s = (torch.from_numpy(a[::20]) for a in two_tasks)  # 6 points per task
    model, module = built(vamp_components=20, vamp_pseudo_inputs=pseudo_inputs)
    with pytest.warns(UserWarning, match="set vamp_components to at most"):
        model.make_plan(module).start(x, s, None)
    u = module.prior.pseudo_inputs.detach()
    matches = (u[:, None, :] == x[None]).all(-1)
    assert matches.any(1).all()
    assert matches.any(0).all()  # every point is some pseudo-input
    with pytest.warns(UserWarning, match="set vamp_components to at most") as caught:
        fast(VampPriorCVAE, vamp_components=20, vamp_pseudo_inputs=pseudo_inputs).fit(
            x.numpy(), s.numpy()
        )
    assert caught[0].filename == __file__  # the line of the fit
