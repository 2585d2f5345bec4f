"""Per-point ELBO and importance-sampled ln p(x | s), chunked to bounded memory."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from optprior._validation import whole_number
from optprior.module import VAEModule
from optprior.priors.base import Prior

#: Budget for one chunk: points x samples x pixels of decoder output. 2^20 floats (4 MiB
#: per tensor) keep a chunk's activations in cache and out of fresh page-faulting
#: allocations (benchmarks/speed.py on 2 cores: 105k against 81k pairs/s with 2^23).
DEFAULT_MAX_ELEMENTS = 1 << 20


#: Importance samples drawn together for one chunk of points.
SAMPLES_PER_CHUNK = 128


def _chunks(n_points: int, n_samples: int, x_dim: int, max_elements: int) -> tuple[int, int]:
    """Points and samples per chunk, their product times x_dim within ``max_elements``.

    Samples are grouped (up to ``SAMPLES_PER_CHUNK``) so that the encoder runs once per
    chunk of points while the decoder sees large batches.
    """
    samples = max(1, min(n_samples, SAMPLES_PER_CHUNK, max_elements // x_dim))
    points = max(1, min(n_points, max_elements // (samples * x_dim)))
    return points, samples


@torch.no_grad()
def elbo(
    module: VAEModule,
    x: torch.Tensor,
    s: torch.Tensor,
    n_samples: int = 1,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
    seed: int | None = None,
) -> torch.Tensor:
    """ELBO per point averaged over ``n_samples`` draws of z (nats): (N,). The draws are
    each point's own under ``seed`` (``point_noise``), or with None torch's global
    stream's, one draw per chunk of points (as training's validation ELBO takes them).

    Uses the prior's ``kl`` (closed form for N(0, I); for the optimal prior the closed
    form KL(q || N(0, I)) minus T at the drawn z).
    """
    n_samples = whole_number(n_samples, "n_samples", 1)
    module.eval()
    points, _ = _chunks(x.shape[0], 1, x.shape[1], max_elements)
    out = []
    for i in range(0, x.shape[0], points):
        xb, sb = x[i : i + points], s[i : i + points]
        total = torch.zeros(xb.shape[0], device=x.device)
        posterior = module.inference(xb, sb)
        streams = None if seed is None else point_streams(xb, sb, seed)
        for _ in range(n_samples):
            noise = None if streams is None else point_noise(streams, 1, posterior[0])[0]
            terms = module.objective_terms(xb, sb, posterior=posterior, noise=noise)
            total += terms.reconstruction - terms.kl
        out.append(total / n_samples)
    return torch.cat(out)


def point_streams(x: torch.Tensor, s: torch.Tensor, seed: int) -> list[torch.Generator]:
    """One CPU random stream per point of ``x`` (B, x_dim) with tasks ``s`` (B,), keyed by
    ``seed`` and the point's float32 values and task: a point's draws do not depend on the
    points drawn with it, nor on their order."""
    rows = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
    streams = []
    for row, task in zip(rows, s.tolist(), strict=True):
        digest = hashlib.blake2b(row.tobytes(), digest_size=8, key=f"{seed}:{task}".encode())
        streams.append(torch.Generator().manual_seed(int.from_bytes(digest.digest(), "little")))
    return streams


def point_noise(
    streams: Sequence[torch.Generator] | None, n_samples: int, mu: torch.Tensor
) -> torch.Tensor:
    """Standard normal noise (n_samples, B, D) for posterior means ``mu`` (B, D), on their
    device: the next draws of each point's stream (drawn on the CPU), or with None of
    torch's global stream."""
    if streams is None:
        return torch.randn((n_samples, *mu.shape), dtype=mu.dtype, device=mu.device)
    noise = torch.stack([torch.randn(n_samples, mu.shape[1], generator=g) for g in streams], 1)
    return noise.to(device=mu.device, dtype=mu.dtype)


def noise_pieces(
    streams: Sequence[torch.Generator] | None, n_samples: int, piece: int, mu: torch.Tensor
) -> Iterator[torch.Tensor]:
    """``n_samples`` draws of ``point_noise`` for ``mu`` (B, D), yielded in pieces of at
    most ``piece`` draws (n, B, D). Each point's stream is read in blocks of
    ``SAMPLES_PER_CHUNK`` draws whatever ``piece`` is, so that seeded draws do not depend
    on the memory budget that sets it."""
    block = piece if streams is None else SAMPLES_PER_CHUNK
    held, drawn = mu.new_empty((0, *mu.shape)), 0
    for done in range(0, n_samples, piece):
        wanted = min(piece, n_samples - done)
        while held.shape[0] < wanted:
            size = min(block, n_samples - drawn)
            held, drawn = torch.cat([held, point_noise(streams, size, mu)]), drawn + size
        yield held[:wanted]
        held = held[wanted:]


@torch.no_grad()
def log_marginal_likelihood(
    module: VAEModule,
    x: torch.Tensor,
    s: torch.Tensor,
    n_samples: int = 1000,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
    priors: Sequence[Prior] | None = None,
    seed: int | None = None,
) -> torch.Tensor:
    """ln p(x | s) ~= logmeanexp_l [ln p(x|z_l,s) + ln p(z_l) - ln q(z_l|x,s)]: (N,), or
    with ``priors`` (P, N): the same draws z_l scored under each of them in place of the
    module's prior (common random numbers: their differences carry far less Monte Carlo
    noise than those of separate estimates).

    The encoder is the proposal. The draws are each point's own under ``seed``
    (``point_noise``: a point's estimate then does not depend on the points beside it, nor
    on ``max_elements``), or with None torch's global stream's. Points and samples are
    processed in chunks of at most ``max_elements`` decoder outputs, the log-sum-exp
    accumulated stably across chunks.
    """
    n_samples = whole_number(n_samples, "n_samples", 1)
    chosen = checked_priors(module, priors)
    modes = [part.training for part in chosen]
    for part in (module, *chosen):
        part.eval()
    points, samples = _chunks(x.shape[0], n_samples, x.shape[1], max_elements)
    out = []
    for i in range(0, x.shape[0], points):
        xb, sb = x[i : i + points], s[i : i + points]
        total = torch.full((len(chosen), xb.shape[0]), -math.inf, device=x.device, dtype=x.dtype)
        posterior = module.inference(xb, sb)
        streams = None if seed is None else point_streams(xb, sb, seed)
        for noise in noise_pieces(streams, n_samples, samples, posterior[0]):
            weights = module.log_importance_weights(xb, sb, noise, posterior, chosen)
            total = torch.logaddexp(total, torch.logsumexp(weights, dim=1))
        out.append(total - math.log(n_samples))
    for part, mode in zip(chosen, modes, strict=True):
        if part is not module.prior:  # a prior of the caller's: as it was
            part.train(mode)
    scores = torch.cat(out, dim=1)
    return scores[0] if priors is None else scores


def checked_priors(module: VAEModule, priors: Sequence[Prior] | None) -> tuple[Prior, ...]:
    """``priors`` (default: the module's own) as a tuple, each a ``Prior`` over the
    module's latent dimension; ``ValueError`` (``TypeError``) naming the first that is not."""
    if priors is None:
        return (module.prior,)
    if isinstance(priors, Prior):
        raise TypeError("priors is a sequence of priors: pass [prior] for one")
    chosen = tuple(priors)
    if not chosen:
        raise ValueError("priors is empty: pass at least one prior, or None for the model's")
    dim = module.prior.latent_dim
    for i, prior in enumerate(chosen):
        if not isinstance(prior, Prior):
            raise TypeError(f"priors[{i}] is a {type(prior).__name__}, not an optprior Prior")
        if prior.latent_dim != dim:
            raise ValueError(f"priors[{i}] is over {prior.latent_dim} dimensions, z over {dim}")
    return chosen
