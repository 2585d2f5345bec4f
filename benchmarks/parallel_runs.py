"""How to spend a machine's cores on a sweep: one run on all threads, or one run per core.

Run: ``python benchmarks/parallel_runs.py [--points 12000] [--epochs 3]``. Trains the
default CVAE (3 x 500 tanh, batch 100) on random binary 784-pixel data, first as one
process using every core, then as one single-threaded process per core, all at once, and
prints epochs per minute of the whole machine for each. This is the choice between
``optprior reproduce --jobs 1`` and ``--jobs <cores>``; nothing else should run meanwhile.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np
import torch

from optprior import CVAE
from optprior.experiments.executors import usable_cores


def train(points: int, epochs: int, threads: int) -> float:
    """Seconds per epoch of one CVAE fit with ``threads`` torch threads."""
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    x = (rng.random((points, 784)) < 0.2).astype(np.float32)
    s = rng.integers(0, 2, points)
    model = CVAE(epochs=epochs, warmup_epochs=1, patience=0, progress=False)
    start = time.perf_counter()
    model.fit(x, s)
    return (time.perf_counter() - start) / epochs


def worker_command(points: int, epochs: int, threads: int) -> list[str]:
    return [sys.executable, __file__, "--worker", str(threads), "--points", str(points),
            "--epochs", str(epochs)]  # fmt: skip


def run_processes(count: int, threads: int, points: int, epochs: int) -> list[float]:
    """``count`` simultaneous worker processes; their seconds per epoch."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    procs = [
        subprocess.Popen(worker_command(points, epochs, threads), stdout=subprocess.PIPE, env=env)
        for _ in range(count)
    ]
    return [float(p.communicate()[0]) for p in procs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=12_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(train(args.points, args.epochs, args.worker))
        return
    cores = usable_cores()
    rows = []
    for count, threads in ((1, cores), (cores, 1)):
        seconds = run_processes(count, threads, args.points, args.epochs)
        epochs_per_minute = sum(60.0 / s for s in seconds)
        rows.append((count, threads, float(np.mean(seconds)), epochs_per_minute))
    base = rows[0][3]
    print(f"CVAE epochs of {args.points} points on {cores} cores, torch {torch.__version__}\n")
    print("| processes x threads | s per epoch (each) | epochs per minute (machine) | vs 1 x all |")
    print("|---|---|---|---|")
    for count, threads, seconds, rate in rows:
        print(f"| {count} x {threads} | {seconds:.2f} | {rate:.1f} | {rate / base:.2f} |")


if __name__ == "__main__":
    main()
