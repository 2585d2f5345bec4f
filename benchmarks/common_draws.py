"""How much Monte Carlo noise the prior's gain carries when both scores share their
importance draws (``score_samples(..., priors=[own, N(0, I)])``, what ``evaluate``'s
``prior_gain`` uses) against two separate estimates (the post-hoc model's score minus
its CVAE's, each with draws of its own).

Run: ``python benchmarks/common_draws.py [--repeats 10] [--epochs 100]``.
Trains a CVAE on the demo's two-task digits (scikit-learn's bundled 8 x 8 digits, no
download), fits a post-hoc T to it, then scores the demo's test points ``--repeats``
times with different random states at each number of importance samples. Prints one
Markdown table: per number of samples, the standard deviation over repeats of the mean
gain ln p_T(x|s) - ln p_N(0, I)(x|s) (nats; unnormalised: ln Z is the same constant in
every repeat) both ways, and their ratio.
"""

from __future__ import annotations

import argparse

import numpy as np

from optprior import CVAE, PostHocOptimalPriorCVAE
from optprior.experiments.demo import DEMO_SETTINGS, demo_splits
from optprior.experiments.markdown import markdown_row, markdown_rule
from optprior.priors import StandardNormalPrior


def gains(
    posthoc: PostHocOptimalPriorCVAE,
    cvae: CVAE,
    x: np.ndarray,
    s: np.ndarray,
    samples: int,
    repeats: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The mean gain over the points, (repeats,), from shared draws and from separate ones."""
    own = posthoc.fitted_module().prior
    standard = StandardNormalPrior(own.latent_dim)
    shared, separate = [], []
    for r in range(repeats):
        both = posthoc.score_samples(x, s, samples, random_state=r, priors=[own, standard])
        shared.append(float((both[0] - both[1]).mean()))
        apart = cvae.score_samples(x, s, samples, random_state=repeats + r)
        separate.append(float((both[0] - apart).mean()))
    return np.array(shared), np.array(separate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--samples", type=int, nargs="+", default=[10, 100, 1000])
    args = parser.parse_args()
    splits = demo_splits(seed=0)
    train, val, test = splits["train"], splits["val"], splits["test"]
    settings = {**DEMO_SETTINGS, "epochs": args.epochs, "seed": 0, "progress": False}
    cvae = CVAE(**settings).fit(train.x, train.s, val.x, val.s)
    posthoc = PostHocOptimalPriorCVAE.from_cvae(
        cvae, train.x, train.s, val.x, val.s, progress=False
    )
    heading = [
        "importance samples",
        "std of the mean gain, shared draws (nats)",
        "separate draws (nats)",
        "separate / shared",
        "mean gain (nats)",
    ]
    lines = [markdown_row(heading), markdown_rule(len(heading))]
    for samples in args.samples:
        shared, separate = gains(posthoc, cvae, test.x, test.s, samples, args.repeats)
        spread = shared.std(ddof=1), separate.std(ddof=1)
        cells = [samples, f"{spread[0]:.5f}", f"{spread[1]:.5f}", f"{spread[1] / spread[0]:.0f}"]
        lines.append(markdown_row([*cells, f"{shared.mean():+.3f}"]))
    print(f"{len(test.x)} test points of the demo's two tasks, {args.repeats} repeats\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
