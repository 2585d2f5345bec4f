"""Seeded work that leaves the caller's random streams as they were."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def seeded_torch(seed: int, device: str | torch.device = "cpu") -> Iterator[None]:
    """Torch's CPU random stream, and ``device``'s if it is a GPU, seeded with ``seed``
    inside the block; the caller's states of both are restored after it."""
    device = torch.device(device)
    gpus = []
    if device.type == "cuda":
        gpus = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=gpus):
        torch.random.default_generator.manual_seed(seed)
        for index in gpus:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        yield
