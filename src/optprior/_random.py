"""Seeded work that leaves the caller's random streams as they were, on the CPU and on
any accelerator torch names a module for (``torch.cuda``, ``torch.mps``, ...)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import torch


def _accelerator(device: str | torch.device) -> tuple[Any, int] | None:
    """torch's module of ``device``'s accelerator and the device's index; None for
    devices without a random stream of their own (the CPU, "meta")."""
    device = torch.device(device)
    if device.type in ("cpu", "meta"):
        return None
    module = torch.get_device_module(device.type)
    if device.index is not None:
        return module, device.index
    current = getattr(module, "current_device", None)
    return module, current() if current is not None else 0


def device_rng_state(device: str | torch.device) -> torch.Tensor | None:
    """The state of ``device``'s own random stream (None on the CPU: ``torch.get_rng_state``
    holds that one)."""
    found = _accelerator(device)
    if found is None:
        return None
    module, index = found
    return module.get_rng_state(index)


def set_device_rng_state(state: torch.Tensor | None, device: str | torch.device) -> None:
    """Restore a state ``device_rng_state`` took (nothing for None or on the CPU)."""
    found = _accelerator(device)
    if state is not None and found is not None:
        module, index = found
        module.set_rng_state(state, index)


@contextmanager
def seeded_torch(seed: int, device: str | torch.device = "cpu") -> Iterator[None]:
    """Torch's CPU random stream, and ``device``'s if it is an accelerator (CUDA, MPS,
    ...), seeded with ``seed`` inside the block; the caller's states of both are restored
    after it."""
    found = _accelerator(device)
    before = None if found is None else found[0].get_rng_state(found[1])
    with torch.random.fork_rng(devices=[]):  # the CPU's stream
        torch.random.default_generator.manual_seed(seed)
        try:
            if found is not None:
                module, index = found
                on_device = getattr(module, "device", None)  # MPS has one device, no context
                with on_device(index) if on_device is not None else nullcontext():
                    module.manual_seed(seed)  # the current device's stream
            yield
        finally:
            set_device_rng_state(before, device)
