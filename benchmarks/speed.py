"""Training and scoring speed against the machine's matrix-product rate.

Run: ``python benchmarks/speed.py [--points 60000] [--epochs 1] [--device cpu]``.
Prints one table; every figure comes from this one run.
"""

from __future__ import annotations

import argparse
import platform
import resource
import time

import numpy as np
import torch

from optprior import CVAE, VAE, OptimalPriorCVAE
from optprior.evaluation.bounds import log_marginal_likelihood
from optprior.models.config import ModelConfig

X_DIM, BATCH = 784, 100


def layer_shapes(config: ModelConfig, discriminator: bool) -> list[tuple[int, int]]:
    """(in, out) of every linear layer touched by one model step (and one T step)."""
    h, d = config.hidden_sizes, config.latent_dim
    encoder = list(zip((X_DIM, *h), (*h, 2 * d), strict=True))
    decoder = list(zip((d, *h), (*h, X_DIM), strict=True))
    shapes = encoder + decoder
    if discriminator:
        t = config.discriminator_hidden_sizes
        shapes += list(zip((d, *t), (*t, 1), strict=True))
    return shapes


def step_flops(shapes: list[tuple[int, int]], batch: int) -> float:
    """Forward (2 b i o) plus backward (4 b i o) multiply-adds of dense layers, in FLOP."""
    return sum(6.0 * batch * i * o for i, o in shapes)


def reference_rate(shapes: list[tuple[int, int]], device: str, repeats: int = 200) -> float:
    """GFLOP/s of bare torch matrix products with the model's layer shapes at BATCH."""
    tensors = []
    for i, o in shapes:
        x = torch.randn(BATCH, i, device=device)
        w = torch.randn(i, o, device=device)
        g = torch.randn(BATCH, o, device=device)
        tensors.append((x, w, g))

    def once() -> None:
        for x, w, g in tensors:
            x @ w  # forward
            g @ w.T  # gradient of the input
            x.T @ g  # gradient of the weight

    once()
    start = time.perf_counter()
    for _ in range(repeats):
        once()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / repeats
    return step_flops(shapes, BATCH) / seconds / 1e9


def epoch_seconds(model, x: np.ndarray, s: np.ndarray, epochs: int) -> float:
    model.fit(x, s)
    per_epoch = [record["seconds"] for record in model.history_.epochs]
    return float(np.median(per_epoch))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=60000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--is-points", type=int, default=200)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = (rng.random((args.points, X_DIM)) < 0.13).astype(np.float32)
    s = rng.integers(0, 2, args.points)
    config = ModelConfig()
    settings = {"epochs": args.epochs, "patience": 0, "progress": False, "device": args.device}

    rows = []
    ref_model = reference_rate(layer_shapes(config, False), args.device)
    ref_full = reference_rate(layer_shapes(config, True), args.device)
    rows.append(("reference matmul rate, model layers", f"{ref_model:.1f} GFLOP/s", ""))
    rows.append(("reference matmul rate, model + T layers", f"{ref_full:.1f} GFLOP/s", ""))
    batches = int(np.ceil(args.points / BATCH))
    flops_model = step_flops(layer_shapes(config, False), BATCH) * batches

    times = {}
    runs = [
        ("VAE", VAE, {}, False),
        ("CVAE", CVAE, {}, False),
        ("optimal, interleaved (1 T step)", OptimalPriorCVAE, {}, True),
        ("optimal, epoch (1 T pass)", OptimalPriorCVAE, {"discriminator_schedule": "epoch"}, True),
    ]
    for name, method, extra, with_t in runs:
        seconds = epoch_seconds(method(**settings, **extra), x, s, args.epochs)
        times[name] = seconds
        if with_t:
            shapes_t = layer_shapes(config, True)[len(layer_shapes(config, False)) :]
            # a T step sees 2 x BATCH points; the epoch schedule also re-encodes (forward only)
            flops = flops_model + step_flops(shapes_t, 2 * BATCH) * batches
            if extra:
                encoder = layer_shapes(config, False)[: len(config.hidden_sizes) + 1]
                flops += step_flops(encoder, BATCH) / 3 * batches
            reference = ref_full
        else:
            flops, reference = flops_model, ref_model
        rate = flops / seconds / 1e9
        rows.append(
            (
                f"{name}: s/epoch",
                f"{seconds:.2f}",
                f"{rate:.1f} GFLOP/s = {rate / reference:.2f} x ref",
            )
        )
    for name in ("optimal, interleaved (1 T step)", "optimal, epoch (1 T pass)"):
        rows.append((f"{name} / CVAE epoch time", f"{times[name] / times['CVAE']:.2f}", ""))

    model = CVAE(**{**settings, "epochs": 1}).fit(x[:1000], s[:1000])
    xt = torch.from_numpy(x[: args.is_points]).to(args.device)
    st = torch.from_numpy(s[: args.is_points]).to(args.device)
    log_marginal_likelihood(model.module_, xt[:10], st[:10], 100)
    start = time.perf_counter()
    log_marginal_likelihood(model.module_, xt, st, 1000)
    seconds = time.perf_counter() - start
    pairs = args.is_points * 1000
    decoder = layer_shapes(config, False)[len(config.hidden_sizes) + 1 :]
    is_flops = pairs * sum(2.0 * i * o for i, o in decoder)  # forward only, decoder dominates
    forward_ref = ref_model / 3  # forward is a third of the forward+backward work
    rate = is_flops / seconds / 1e9
    rows.append(
        (
            "importance sampling, 1000 samples",
            f"{pairs / seconds:,.0f} (point, sample)/s",
            f"{rate:.1f} GFLOP/s = {rate / forward_ref:.2f} x ref",
        )
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append(("peak resident memory", f"{peak:.0f} MiB", ""))

    print(
        f"# optprior speed, {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}, device {args.device}, "
        f"{args.points} x {X_DIM} points, batch {BATCH}, {time.strftime('%Y-%m-%d')}"
    )
    print("| measure | value | rate |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
