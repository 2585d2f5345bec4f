"""Multilayer perceptrons and the task-conditioned input layer."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import islice, pairwise

import torch
from torch import nn

from optprior._validation import one_of
from optprior.nn.precision import hidden_products

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "softplus": nn.Softplus,
    "leaky_relu": nn.LeakyReLU,
}


def make_activation(name: str) -> nn.Module:
    """Return a fresh activation module by name (one of ``ACTIVATIONS``)."""
    one_of(name, "activation", ACTIVATIONS)
    return ACTIVATIONS[name]()


class Dropout(nn.Module):
    """Inverted dropout with its mask drawn as ``rand < keep`` (same distribution as
    ``nn.Dropout``, whose Bernoulli sampler is several times slower on CPUs)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout rate must lie in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        return x * (torch.rand_like(x) < keep).to(x.dtype) / keep


class ConditionalInput(nn.Module):
    """Affine layer on ``[x, one_hot(s)]`` computed without building the one-hot.

    ``W [x, one_hot(s)] + b == W_x x + E[s] + b``, so the task enters as a learned
    per-task bias (an embedding row). With ``n_tasks == 0`` the task is ignored.

    Shapes: ``x`` (..., in_features), ``s`` (...,) int64 -> (..., out_features).
    """

    def __init__(self, in_features: int, out_features: int, n_tasks: int = 0) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.task_bias = nn.Embedding(n_tasks, out_features) if n_tasks > 0 else None
        if self.task_bias is not None:
            # Same scale as the weights nn.Linear would give the one-hot columns.
            bound = 1.0 / (in_features + n_tasks) ** 0.5
            nn.init.uniform_(self.task_bias.weight, -bound, bound)

    def forward(self, x: torch.Tensor, s: torch.Tensor | None = None) -> torch.Tensor:
        h = self.linear(x)
        if self.task_bias is not None:
            if s is None:
                raise ValueError("this layer is task-conditioned: the task index s is required")
            h = h + self.task_bias(s)
        return h


class MLP(nn.Module):
    """``ConditionalInput`` followed by ``len(hidden_sizes)`` activations and linear layers.

    With ``hidden_sizes == ()`` it is a single (conditional) affine map. ``dropout`` acts
    after every hidden activation, or with ``dropout_last_only`` after the last one alone
    (just before the output layer). Inside ``precision.products_in("bfloat16")`` the
    products up to the last hidden layer run in bfloat16; the output layer runs in
    ``x``'s dtype, since means, log-variances and T(z) are read to more digits than
    bfloat16 holds (a Gaussian decoder of narrow variance scales their error by 1/σ²).
    Shapes: ``x`` (..., in_features), ``s`` (...,) -> (..., out_features).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden_sizes: Sequence[int] = (500, 500, 500),
        activation: str = "tanh",
        n_tasks: int = 0,
        dropout: float = 0.0,
        dropout_last_only: bool = False,
    ) -> None:
        super().__init__()
        sizes = [*hidden_sizes, out_features]
        self.input = ConditionalInput(in_features, sizes[0], n_tasks)
        layers: list[nn.Module] = []
        last = len(sizes) - 2
        for number, (width_in, width_out) in enumerate(pairwise(sizes)):
            layers.append(make_activation(activation))
            if dropout > 0 and (number == last or not dropout_last_only):
                layers.append(Dropout(dropout))
            layers.append(nn.Linear(width_in, width_out))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, s: torch.Tensor | None = None) -> torch.Tensor:
        if not len(self.body):  # a single affine map: the output layer alone
            return self.input(x, s)
        with hidden_products(x.device.type):
            h = self.input(x, s)
            for layer in islice(self.body, len(self.body) - 1):
                h = layer(h)
        return self.body[-1](h.to(x.dtype))
