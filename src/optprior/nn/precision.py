"""The precision of the networks' matrix products in training steps.

``products_in("bfloat16")`` runs every ``MLP`` forward pass inside it under
``torch.autocast`` with bfloat16 up to its last hidden layer, its output layer in the
input's dtype, so that the networks' outputs, the likelihoods, KL terms, T's loss and
the exact mixture's density stay in float32. The
trainer enters it for the training steps only: the validation ELBO that chooses the epoch,
and all scoring, run in float32. bfloat16 products are faster only on hardware made for
them (a CPU with AVX-512 BF16 or AMX, a recent GPU; ``benchmarks/speed.py --bfloat16``
tells), and far slower elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar

import torch

PRECISIONS = ("float32", "bfloat16")
_PRODUCTS: ContextVar[torch.dtype | None] = ContextVar("optprior_products", default=None)


@contextmanager
def products_in(precision: str) -> Iterator[None]:
    """The networks' products inside the block in ``precision`` (one of ``PRECISIONS``)."""
    token = _PRODUCTS.set(torch.bfloat16 if precision == "bfloat16" else None)
    try:
        yield
    finally:
        _PRODUCTS.reset(token)


def hidden_products(device_type: str) -> AbstractContextManager[object]:
    """bfloat16 autocast on ``device_type`` inside ``products_in("bfloat16")``, else a
    context that changes nothing: for the products up to a network's last hidden layer."""
    dtype = _PRODUCTS.get()
    return nullcontext() if dtype is None else torch.autocast(device_type, dtype=dtype)
