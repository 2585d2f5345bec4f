"""Every model trains, scores, saves and loads on each available device (CUDA if present)."""

import numpy as np
import pytest
import torch
from helpers import FAST, fast, needs_cuda

from optprior import (
    CVAE,
    VAE,
    BaseModel,
    InvariantCVAE,
    OptimalPriorCVAE,
    PostHocOptimalPriorCVAE,
)

DEVICES = ["cpu", pytest.param("cuda", marks=needs_cuda)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("method", [VAE, CVAE, OptimalPriorCVAE, InvariantCVAE])
def test_model_trains_scores_and_reloads_on_device(method, device, two_tasks, tmp_path):
    x, s = two_tasks
    model = fast(method, device=device).fit(x[:200], s[:200], x[200:], s[200:])
    assert {p.device.type for p in model.module_.parameters()} == {device}

    scores = model.score_samples(x[:30], s[:30], n_samples=20)
    assert scores.shape == (30,) and np.isfinite(scores).all() and (scores < 0).all()
    assert model.transform(x[:30], s[:30]).shape == (30, FAST["latent_dim"])
    assert model.sample(5, s=1).shape == (5, x.shape[1])

    model.save(tmp_path / "model.pt")
    on_cpu = BaseModel.load(tmp_path / "model.pt", device="cpu")
    assert {p.device.type for p in on_cpu.module_.parameters()} == {"cpu"}
    np.testing.assert_allclose(
        on_cpu.transform(x[:30], s[:30]), model.transform(x[:30], s[:30]), atol=1e-5
    )


@pytest.mark.parametrize("device", DEVICES)
def test_posthoc_prior_fits_on_the_cvae_device(device, two_tasks):
    x, s = two_tasks
    cvae = fast(CVAE, device=device).fit(x, s)
    model = PostHocOptimalPriorCVAE.from_cvae(cvae, x, s, progress=False)
    assert {p.device.type for p in model.module_.parameters()} == {device}
    assert np.isfinite(model.score_samples(x[:20], s[:20], n_samples=10)).all()


def test_set_params_moves_a_fitted_model_to_its_new_device(two_tasks):
    x, s = two_tasks
    model = fast(OptimalPriorCVAE).fit(x[:200], s[:200])
    before = model.transform(x[:30], s[:30])
    with pytest.raises(ValueError, match="device 'nowhere:7' is not a torch device"):
        model.set_params(device="nowhere:7")
    assert model.device == "cpu"  # refused: left as it was
    np.testing.assert_array_equal(model.transform(x[:30], s[:30]), before)
    model.set_params(device="meta")  # torch's device without storage: weights moved there
    assert {p.device.type for p in model.module_.parameters()} == {"meta"}


@needs_cuda
def test_set_params_moves_a_fitted_model_to_cuda_and_back(two_tasks):
    x, s = two_tasks
    model = fast(CVAE).fit(x[:200], s[:200])
    before = model.transform(x[:30], s[:30])
    model.set_params(device="cuda")
    np.testing.assert_allclose(model.transform(x[:30], s[:30]), before, atol=1e-5)


class AppleGPUStream:
    """torch.mps's random-stream functions on a stream of their own (no Apple GPU here):
    one device, no device context, a state that ``manual_seed`` sets."""

    def __init__(self) -> None:
        self.state = torch.tensor([7])

    def get_rng_state(self, device: int = 0) -> torch.Tensor:
        return self.state.clone()

    def set_rng_state(self, state: torch.Tensor, device: int = 0) -> None:
        self.state = state.clone()

    def manual_seed(self, seed: int) -> None:
        self.state = torch.tensor([seed])


def test_seeded_work_seeds_an_accelerators_stream_and_restores_it(monkeypatch):
    """Seeded fits and scores on an accelerator other than CUDA (here MPS, simulated)
    draw from its seeded stream, the caller's streams are as they were after, and the
    functions a checkpoint stores and restores that stream with read and set it."""
    from optprior._random import device_rng_state, seeded_torch, set_device_rng_state

    stream, module_of = AppleGPUStream(), torch.get_device_module
    monkeypatch.setattr(
        torch, "get_device_module", lambda kind=None: stream if kind == "mps" else module_of(kind)
    )
    torch.manual_seed(5)
    expected = torch.rand(2)
    torch.manual_seed(5)
    with seeded_torch(3, "mps"):
        assert stream.state.tolist() == [3]
        inside = torch.rand(2)
    assert stream.state.tolist() == [7] and torch.equal(torch.rand(2), expected)
    with seeded_torch(3, "mps"):
        assert torch.equal(torch.rand(2), inside)

    saved = device_rng_state("mps")
    stream.manual_seed(11)
    set_device_rng_state(saved, "mps")
    assert stream.state.tolist() == [7]
    assert device_rng_state("cpu") is None


def test_a_checkpoints_device_stream_is_restored_on_the_same_kind_of_device(monkeypatch):
    """A checkpoint keeps its accelerator's stream with the device type; resumed on the
    same kind the stream is set, on another (a CUDA checkpoint on a Mac) it is left, and
    the CUDA stream of checkpoints before the type was kept counts as CUDA's."""
    from optprior.training.trainer import device_stream, restore_device_stream

    stream, module_of = AppleGPUStream(), torch.get_device_module
    monkeypatch.setattr(
        torch, "get_device_module", lambda kind=None: stream if kind == "mps" else module_of(kind)
    )
    mps = torch.device("mps")
    kept = device_stream(mps)
    assert kept is not None and kept["type"] == "mps" and kept["state"].tolist() == [7]
    assert device_stream(torch.device("cpu")) is None
    stream.manual_seed(11)
    restore_device_stream({"device_rng": {"type": "cuda", "state": torch.zeros(816)}}, mps)
    restore_device_stream({"cuda_rng": torch.zeros(816)}, mps)  # before the type was kept
    assert stream.state.tolist() == [11]
    restore_device_stream({"device_rng": kept}, mps)
    assert stream.state.tolist() == [7]


def test_a_model_saved_on_a_device_missing_here_loads_on_the_cpu(two_tasks, tmp_path):
    """A file written on a Mac's GPU (MPS) or a CUDA machine loads on the CPU where that
    device is missing, unless a device is asked for."""
    x, s = two_tasks
    model = fast(CVAE).fit(x[:200], s[:200])
    codes = model.transform(x[:10], s[:10])
    missing = [
        d
        for d, there in (
            ("mps", torch.backends.mps.is_available()),
            ("cuda", torch.cuda.is_available()),
        )
        if not there
    ]
    for device in missing:
        model.device = device  # as a fit there records it
        model.save(tmp_path / f"{device}.pt")
        loaded = BaseModel.load(tmp_path / f"{device}.pt")
        assert loaded.device == "cpu"
        np.testing.assert_array_equal(loaded.transform(x[:10], s[:10]), codes)
        with pytest.raises(ValueError, match=f"device '{device}'"):
            BaseModel.load(tmp_path / f"{device}.pt", device=device)


def test_a_gpu_index_the_machine_lacks_is_named(monkeypatch):
    """cuda:1 on a machine showing one GPU (simulated here) is refused by name (by fit,
    load and set_params), not by torch at the first tensor moved."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    from optprior.models.base import check_device

    check_device("cuda:0")
    with pytest.raises(ValueError, match=r"device 'cuda:1': this machine shows 1 GPU\(s\)"):
        check_device("cuda:1")
