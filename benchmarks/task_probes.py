"""How much task information each probe reads, on codes whose answer is known and on a
faces CVAE's codes: the logistic probe, the MLP probe as it is (its L2 penalty chosen per
fold by inner cross-validation, ``evaluation.task_probe``) and the MLP stopped early on a
tenth of each training fold that scored the runs published before 2026-12-05 (the
``task_probe_mlp`` of their result files).

Run: ``python benchmarks/task_probes.py [--faces-epochs 150] [--data-root DIR]``.
Prints one Markdown table: per case and probe, the balanced accuracy (1/K: nothing read)
and the I(S;Z) lower bound of the held-out log-loss (nats; 0: nothing, ln K at most),
and the probe's seconds. Synthetic cases: codes of 40 dimensions, K tasks of n points
each, the task either nowhere, in one coordinate's mean (linear) or in the codes' scale
(radius: no line separates it). The faces row encodes the task-balanced probe set of
the faces setting (80 test points per task, as the published runs' probes had) with a
CVAE trained ``--faces-epochs`` epochs on seed 0's split; skipped where the data are
absent.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.neural_network import MLPClassifier

from optprior.evaluation.metrics import cross_validated_probe, task_probe


def early_stopped_mlp(z: np.ndarray, s: np.ndarray, seed: int = 0) -> dict[str, float]:
    """The MLP probe of the runs published before 2026-12-05: Adam, stopped after 10
    iterations without a better accuracy on a tenth of each training fold."""
    reader = MLPClassifier((64,), max_iter=1000, early_stopping=True, random_state=seed)
    return cross_validated_probe(z, s, reader, seed=seed)


def synthetic(kind: str, per_task: int, tasks: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Codes (tasks * per_task, 40) and their tasks: the task nowhere (``none``), in the mean of
    one coordinate (``linear``, shifted by 1 per task) or in the scale (``radius``, 1.15
    times per task)."""
    rng = np.random.default_rng(seed)
    z, s = rng.normal(size=(tasks * per_task, 40)), np.repeat(np.arange(tasks), per_task)
    if kind == "linear":
        z[:, 0] += s
    elif kind == "radius":
        z *= (1 + 0.15 * s)[:, None]
    return z, s


def faces_codes(epochs: int, root: str | None) -> tuple[np.ndarray, np.ndarray] | None:
    """The faces probe set's codes under a CVAE of seed 0 (None without the data)."""
    from optprior import CVAE
    from optprior.data import load_setting
    from optprior.experiments.evaluate import balanced_subset

    try:
        data = load_setting("faces", root=root, seed=0)
    except FileNotFoundError:
        return None
    model = CVAE(likelihood="gaussian", epochs=epochs, seed=0, progress=False)
    model.fit(data.train.X, data.train.s, data.val.X, data.val.s)
    probe = balanced_subset(data.test, 1000, seed=0)
    return model.transform(probe.X, probe.s), probe.s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--faces-epochs", type=int, default=150)
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args()
    cases = {
        f"{kind}, {tasks} x {n}": synthetic(kind, n, tasks)
        for n, tasks in ((80, 3), (1000, 2))
        for kind in ("none", "linear", "radius")
    }
    faces = faces_codes(args.faces_epochs, args.data_root)
    if faces is not None:
        cases[f"faces CVAE ({args.faces_epochs} epochs), 3 x 80"] = faces
    probes = {
        "logistic": lambda z, s: task_probe(z, s),
        "MLP, penalty by CV (now)": lambda z, s: task_probe(z, s, probe="mlp"),
        "MLP stopped early (before)": early_stopped_mlp,
    }
    print("| codes | probe | balanced accuracy | I(S;μ) >= (nats) | seconds |")
    print("|---|---|---|---|---|")
    for case, (z, s) in cases.items():
        for name, probe in probes.items():
            start = time.perf_counter()
            read = probe(z, s)
            seconds = time.perf_counter() - start
            accuracy, information = read["balanced_accuracy"], read["information"]
            print(f"| {case} | {name} | {accuracy:.3f} | {information:+.3f} | {seconds:.1f} |")
    if faces is None:
        print("\nfaces: skipped, its data are not under the data root")


if __name__ == "__main__":
    main()
