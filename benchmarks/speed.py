"""Training and scoring speed against this machine's matrix-product rate.

Run: ``python benchmarks/speed.py [--points 60000] [--rounds 3] [--pairs 30] [--device cpu]
[--profile]``.
Prints one Markdown table; every figure comes from this one run. ``--profile`` adds a
second table: where a CVAE training epoch's CPU time goes, by kind of operation.

The reference rate times bare ``torch`` matrix products of exactly the shapes an epoch
needs (forward, weight gradients and the input gradients autograd computes; model steps
and T updates each timed on their own and weighted by how many an epoch takes), so
"x ref" is the share of the machine's dense-algebra speed the training achieves. The
reference products are timed right before and right after each epoch and the two times
averaged, so a host whose speed drifts is measured at both ends of the epoch. The
epoch-time ratios are also given with the host's drift removed: around every epoch the
CVAE's bare products are timed too, and each ratio is scaled by how fast they ran.
Importance sampling is timed the same way, ``--rounds`` times between two timings of its
reference products. Last, ``--pairs`` short rounds (``paired_rounds``) time the CVAE, its
products and the default optimal prior a few seconds apart, on ``--pair-points`` points,
for the figures the host's drift blurs most (the exact-mixture optimal prior is timed
there too); they are also given from the fastest
time of each kind, which noise on a shared host, adding time only, disturbs least.
"""

from __future__ import annotations

import argparse
import platform
import resource
import time

import numpy as np
import torch

from optprior import CVAE, VAE, OptimalPriorCVAE
from optprior.evaluation.bounds import (
    DEFAULT_MAX_ELEMENTS,
    SAMPLES_PER_CHUNK,
    _chunks,
    log_marginal_likelihood,
)
from optprior.models.config import OptimalPriorConfig
from optprior.training.batches import encoding_rows
from optprior.training.config import MIXTURE_SUBSETS, MixtureConfig, TrainingConfig

X_DIM = 784
Product = tuple[int, int, int]  # (m, k, n): an (m x k) @ (k x n) product


def mlp_layers(sizes: list[int]) -> list[tuple[int, int]]:
    return list(zip(sizes[:-1], sizes[1:], strict=True))


def forward(layers: list[tuple[int, int]], rows: int) -> list[Product]:
    return [(rows, i, o) for i, o in layers]


def backward(layers: list[tuple[int, int]], rows: int, weights: bool, first_input: bool):
    """Weight-gradient and input-gradient products of a backward pass."""
    out = [(i, rows, o) for i, o in layers] if weights else []
    out += [(rows, o, i) for n, (i, o) in enumerate(layers) if n > 0 or first_input]
    return out


def step_products(
    config: OptimalPriorConfig, training: TrainingConfig, optimal: bool
) -> list[Product]:
    """Matrix products of one model step (with T's forward and input gradient if optimal)."""
    b, d = training.batch_size, config.latent_dim
    encoder = mlp_layers([X_DIM, *config.hidden_sizes, 2 * d])
    decoder = mlp_layers([d, *config.hidden_sizes, X_DIM])
    products = forward(encoder, b) + backward(encoder, b, True, first_input=False)
    products += forward(decoder, b) + backward(decoder, b, True, first_input=True)
    if optimal:
        t = mlp_layers([d, *config.discriminator.hidden_sizes, 1])
        products += forward(t, b) + backward(t, b, False, first_input=True)
    return products


def t_update_products(config: OptimalPriorConfig, batch: int) -> list[Product]:
    """Matrix products of one T update on ``batch`` z and as many N(0, I) draws."""
    t = mlp_layers([config.latent_dim, *config.discriminator.hidden_sizes, 1])
    return forward(t, 2 * batch) + backward(t, 2 * batch, True, first_input=False)


def epoch_work(
    config: OptimalPriorConfig, training: TrainingConfig, points: int, optimal: bool
) -> list[tuple[list[Product], int]]:
    """One epoch's matrix products as (products of one step, number of such steps)."""
    b = training.batch_size
    batches = int(np.ceil(points / b))
    work = [(step_products(config, training, optimal), batches)]
    schedule = config.schedule
    if optimal and schedule.schedule == "epoch":
        kept = schedule.pass_points(points)
        passes = schedule.epochs
        work.append((t_update_products(config, b), int(np.ceil(kept / b)) * passes))
        # T's passes encode fresh codes in blocks of encoding_rows points (the last smaller)
        rows = encoding_rows(b)
        encoder = mlp_layers([X_DIM, *config.hidden_sizes, 2 * config.latent_dim])
        work.append((forward(encoder, rows), kept // rows * passes))
        if kept % rows:
            work.append((forward(encoder, kept % rows), passes))
    elif optimal:  # T steps on the z of `interval` model steps, pooled
        pooled = b * schedule.interval
        updates = int(np.ceil(batches / schedule.interval))
        work.append((t_update_products(config, pooled), updates * schedule.steps))
    return work


def spread(values, form: str = "{:.2f}") -> str:
    """Median of ``values`` with their range, e.g. ``1.28 (1.24-1.31)``, each written
    with ``form``."""
    values = np.asarray(values, dtype=float)
    if values.size == 1:
        return form.format(values[0])
    low, middle, high = (form.format(v) for v in (values.min(), np.median(values), values.max()))
    return f"{middle} ({low}-{high})"


def middle_half(values) -> str:
    """The quartiles of ``values``, e.g. ``middle half 0.59-0.65``."""
    low, high = np.percentile(values, [25, 75])
    return f"middle half {low:.2f}-{high:.2f}"


def flops(products: list[Product]) -> float:
    return float(sum(2 * m * k * n for m, k, n in products))


def reference_rate(products: list[Product], device: str, seconds: float = 2.0) -> float:
    """GFLOP/s of bare matrix products of ``products``' shapes, run back to back."""
    pairs = [
        (torch.randn(m, k, device=device), torch.randn(k, n, device=device)) for m, k, n in products
    ]
    for a, b in pairs:
        a @ b
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for a, b in pairs:
            a @ b
        done += 1
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return flops(products) * done / (time.perf_counter() - start) / 1e9


def reference_seconds(work: list[tuple[list[Product], int]], device: str) -> float:
    """Seconds the bare products of ``work`` take, each kind of step timed on its own."""
    return sum(
        flops(products) * count / reference_rate(products, device, 1.0) / 1e9
        for products, count in work
    )


def bfloat16_row(work: list[tuple[list[Product], int]], device: str) -> tuple[str, str, str]:
    """The bare products of ``work`` (a CVAE epoch's) under bfloat16 autocast over the same
    in float32: below 1 where the hardware has fast bfloat16 products (issue 25)."""
    single = reference_seconds(work, device)
    with torch.autocast(torch.device(device).type, dtype=torch.bfloat16):
        half = reference_seconds(work, device)
    ratio = half / single
    return (
        "a CVAE epoch's bare products, bfloat16 autocast / float32",
        f"{ratio:.2f}",
        f"{'above' if ratio > 1 else 'below'} 1: bfloat16 is "
        f"{'slower' if ratio > 1 else 'faster'} on this host",
    )


def reference_and_probe(
    work: list[tuple[list[Product], int]], cvae_work: list[tuple[list[Product], int]], device: str
) -> tuple[float, float]:
    """Reference seconds of ``work`` and of the CVAE's ``cvae_work`` (the host-speed probe;
    for the VAE and the CVAE, whose work it is, the same figure). Called right before and
    right after each epoch."""
    reference = reference_seconds(work, device)
    return reference, reference if work == cvae_work else reference_seconds(cvae_work, device)


def paired_rounds(
    x: np.ndarray, s: np.ndarray, settings: dict, pairs: int, points: int
) -> dict[str, np.ndarray]:
    """Measurements a few seconds apart, which the host's drift cannot pull apart:
    ``pairs`` times, one epoch of the CVAE on ``points`` points, the bare products of that
    epoch (about a second), one epoch of the optimal prior with its default schedule, and
    one of the exact-mixture optimal prior with each of its subsets (``MIXTURE_SUBSETS``,
    the default first). Returns the seconds of each, per pair (keys ``cvae``,
    ``reference``, ``optimal`` and ``mixture <subset>``)."""
    work = epoch_work(OptimalPriorConfig(), TrainingConfig(), points, False)
    x, s = x[:points], s[:points]
    subsets = sorted(MIXTURE_SUBSETS, key=lambda name: name != MixtureConfig().subset)
    seconds: dict[str, list[float]] = {
        name: [] for name in ("cvae", "reference", "optimal", *(f"mixture {k}" for k in subsets))
    }
    for _ in range(pairs):
        seconds["cvae"].append(CVAE(**settings).fit(x, s).history_.epochs[0]["seconds"])
        seconds["reference"].append(reference_seconds(work, settings["device"]))
        optimal = OptimalPriorCVAE(**settings).fit(x, s)
        seconds["optimal"].append(optimal.history_.epochs[0]["seconds"])
        for subset in subsets:
            mixture = OptimalPriorCVAE(estimator="mixture", mixture_subset=subset, **settings)
            seconds[f"mixture {subset}"].append(mixture.fit(x, s).history_.epochs[0]["seconds"])
    return {name: np.array(values) for name, values in seconds.items()}


def paired_rows(seconds: dict[str, np.ndarray], pairs: int, points: int) -> list[tuple[str, ...]]:
    """Table rows of ``paired_rounds``: per pair, the CVAE's share of the reference rate
    and each optimal prior's epoch time over the CVAE's (median, range, middle half), and
    the same from the fastest of each kind of measurement (noise on a shared host only
    adds time, so the minima are its least disturbed figures)."""
    shares = seconds["reference"] / seconds["cvae"]
    fastest_share = seconds["reference"].min() / seconds["cvae"].min()
    defaults = MixtureConfig()
    described = {
        "optimal": "optimal prior, half pass per epoch",
        "mixture recent": f"optimal prior, exact mixture ({defaults.components} "
        "posteriors of the latest steps)",
        "mixture drawn": f"optimal prior, exact mixture ({defaults.components} "
        f"posteriors drawn every {defaults.refresh} steps)",
    }
    rows = [
        (
            f"CVAE, {pairs} short pairs ({points} points, then its products)",
            "",
            f"{spread(shares)} x ref, {middle_half(shares)}; fastest of each: {fastest_share:.2f}",
        )
    ]
    for key in (k for k in seconds if k not in ("cvae", "reference")):
        ratios = seconds[key] / seconds["cvae"]
        fastest = seconds[key].min() / seconds["cvae"].min()
        default = key == "optimal" or key == f"mixture {defaults.subset}"
        name = described[key] + (", default" if default else "")
        rows.append(
            (
                f"{name} / CVAE epoch time, short pairs",
                spread(ratios),
                f"{middle_half(ratios)}; fastest of each: {fastest:.2f}",
            )
        )
    return rows


def importance_sampling_row(
    x: np.ndarray, s: np.ndarray, settings: dict, n_points: int, rounds: int
) -> tuple[str, str, str]:
    """Importance sampling of ``n_points`` points at 1000 samples, ``rounds`` times, each
    time between two timings of its reference products (the decoder forward at the chunk
    size scoring uses): throughput and share of the reference, medians (range)."""
    device = settings["device"]
    model = CVAE(**settings).fit(x[:1000], s[:1000])
    xt = torch.from_numpy(x[:n_points]).to(device)
    st = torch.from_numpy(s[:n_points]).to(device)
    log_marginal_likelihood(model.module_, xt[:10], st[:10], 10, seed=0)  # warm-up
    points, samples = _chunks(n_points, 1000, X_DIM, DEFAULT_MAX_ELEMENTS)
    assert samples == SAMPLES_PER_CHUNK
    config = OptimalPriorConfig()
    decoder = mlp_layers([config.latent_dim, *config.hidden_sizes, X_DIM])
    products = forward(decoder, points * samples)
    work = flops(products) * n_points * 1000 / (points * samples) / 1e9  # GFLOP
    rates, shares = [], []
    for _ in range(rounds):
        before = reference_rate(products, device)
        start = time.perf_counter()
        log_marginal_likelihood(model.module_, xt, st, 1000, seed=0)  # as score_samples draws
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        reference = (before + reference_rate(products, device)) / 2
        rates.append(n_points * 1000 / elapsed)
        shares.append(work / elapsed / reference)
    return (
        "importance sampling at 1000 samples: (point, sample) pairs per second",
        spread(rates, "{:,.0f}"),
        f"{spread(shares)} x ref",
    )


#: Operation kinds of the profile table, by ``torch.profiler`` op name.
OP_KINDS = {
    "matrix products": ("aten::mm", "aten::addmm", "aten::bmm"),
    "optimiser update": ("aten::_fused_adam_", "Optimizer.step#Adam.step", "Optimizer.zero_grad"),
    "random numbers": ("aten::uniform_", "aten::normal_"),
}


def profile_epoch(x: np.ndarray, s: np.ndarray, device: str) -> list[tuple[str, str, str]]:
    """Share of one CVAE epoch's self CPU time per operation kind (``OP_KINDS``)."""
    from torch.profiler import profile

    model = CVAE(epochs=1, patience=0, progress=False, device=device)
    model.fit(x[:500], s[:500])  # warm-up: one-off costs stay out of the profiled fit
    with profile() as prof:
        model.fit(x, s)
    rest = "element-wise kernels, autograd and Python overhead"
    totals = dict.fromkeys([*OP_KINDS, rest], 0.0)
    for event in prof.key_averages():  # self times: exclusive, so they add up to the whole
        kind = next((k for k, names in OP_KINDS.items() if event.key.startswith(names)), rest)
        totals[kind] += event.self_cpu_time_total
    whole = sum(totals.values())
    return [
        (kind, f"{value / 1e6:.2f} s", f"{value / whole:.0%}") for kind, value in totals.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=60000, help="training points (784 pixels)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds of one epoch per method, and of scoring (medians kept)",
    )
    parser.add_argument("--is-points", type=int, default=500, help="points scored by IS")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--profile", action="store_true", help="also profile a CVAE epoch")
    parser.add_argument(
        "--pairs", type=int, default=30, help="short paired rounds on --pair-points points"
    )
    parser.add_argument("--pair-points", type=int, default=6000)
    parser.add_argument(
        "--bfloat16", action="store_true", help="also time a CVAE epoch's products in bfloat16"
    )
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.pairs < 0 or not 0 < args.pair_points <= args.points:
        parser.error("--pairs must be at least 0 and --pair-points between 1 and --points")

    rng = np.random.default_rng(0)
    x = (rng.random((args.points, X_DIM)) < 0.13).astype(np.float32)
    s = rng.integers(0, 2, args.points)
    config, training = OptimalPriorConfig(), TrainingConfig()
    settings = {"epochs": 1, "patience": 0, "progress": False, "device": args.device}
    rows: list[tuple[str, str, str]] = []

    runs = [
        ("VAE", VAE, {}),
        ("CVAE", CVAE, {}),
        (
            "optimal prior, half pass per epoch (default)",
            OptimalPriorCVAE,
            {"discriminator_schedule": "epoch", "discriminator_fraction": 0.5},
        ),
        (
            "optimal prior, interleaved",
            OptimalPriorCVAE,
            {"discriminator_schedule": "interleaved"},
        ),
        (
            "optimal prior, deferred to epoch end",
            OptimalPriorCVAE,
            {"discriminator_schedule": "deferred"},
        ),
        (
            "optimal prior, full pass per epoch",
            OptimalPriorCVAE,
            {"discriminator_schedule": "epoch", "discriminator_fraction": 1.0},
        ),
    ]
    # Each round times one epoch of every method in turn, with its reference products
    # timed right before and right after it, so each ratio compares measurements seconds
    # apart even if the machine's speed drifts over the run; the table gives medians over
    # rounds (min-max beside). Around each epoch the CVAE's bare products are also timed
    # as a probe of the host's speed; the ratio rows scaled by it compare epochs as if
    # both ran at the same speed.
    cvae_work = epoch_work(config, training, args.points, False)
    seconds = {name: [] for name, _, _ in runs}
    probes = {name: [] for name, _, _ in runs}
    shares = {name: [] for name, _, _ in runs}
    for _ in range(args.rounds):
        for name, method, extra in runs:
            config_of_run = OptimalPriorCVAE(**extra).config
            assert isinstance(config_of_run, OptimalPriorConfig)
            work = epoch_work(config_of_run, training, args.points, method is OptimalPriorCVAE)
            before = reference_and_probe(work, cvae_work, args.device)
            model = method(**settings, **extra).fit(x, s)
            seconds[name].append(model.history_.epochs[0]["seconds"])
            after = reference_and_probe(work, cvae_work, args.device)
            reference, probe = ((b + a) / 2 for b, a in zip(before, after, strict=True))
            probes[name].append(probe)
            total = sum(flops(products) * count for products, count in work) / 1e9
            achieved = total / seconds[name][-1]
            shares[name].append((achieved, total / reference))
    for name, _, _ in runs:
        ratios = [a / r for a, r in shares[name]]
        achieved, reference = shares[name][np.argsort(ratios)[len(ratios) // 2]]
        rows.append(
            (
                f"{name}: seconds per epoch",
                spread(seconds[name]),
                f"{spread(ratios)} x ref (median round: {achieved:.0f} of {reference:.0f} GFLOP/s)",
            )
        )
    for name in [name for name, method, _ in runs if method is OptimalPriorCVAE]:
        ratios = np.array(seconds[name]) / np.array(seconds["CVAE"])
        rows.append((f"{name} / CVAE epoch time", spread(ratios), ""))
    for name in [name for name, method, _ in runs if method is OptimalPriorCVAE]:
        ratios = np.array(seconds[name]) / np.array(seconds["CVAE"])
        drift = np.array(probes["CVAE"]) / np.array(probes[name])
        rows.append(
            (
                f"{name} / CVAE epoch time, host drift removed",
                spread(ratios * drift),
                "each round scaled by the CVAE's bare products timed around either epoch",
            )
        )

    if args.pairs:
        seconds_of_pairs = paired_rounds(x, s, settings, args.pairs, args.pair_points)
        rows += paired_rows(seconds_of_pairs, args.pairs, args.pair_points)

    if args.bfloat16:
        rows.append(bfloat16_row(cvae_work, args.device))
    rows.append(importance_sampling_row(x, s, settings, args.is_points, args.rounds))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append(("peak resident memory", f"{peak:.0f} MiB", ""))

    print(
        f"optprior speed: {platform.machine()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}, device {args.device}, {args.points} x {X_DIM} points, "
        f"batch {training.batch_size}, {time.strftime('%Y-%m-%d')}\n"
    )
    print("| measure | value | achieved / reference |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if args.profile:
        print("\nWhere a CVAE epoch's CPU time goes (torch.profiler, self time):\n")
        print("| operations | time | share |\n|---|---|---|")
        for row in profile_epoch(x[:6000], s[:6000], args.device):
            print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
