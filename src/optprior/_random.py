"""Seeded work that leaves the caller's random streams as they were."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def seeded_torch(seed: int, device: str | torch.device = "cpu") -> Iterator[None]:
    """Torch's global random streams (the CPU's, and ``device``'s if it is a GPU) seeded
    with ``seed`` inside the block; the caller's states are restored after it."""
    device = torch.device(device)
    cuda = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        yield
