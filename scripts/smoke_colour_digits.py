"""Run ``optprior reproduce synth-svhn`` and ``svhn-synth`` with ``--quick`` on small files in
the official formats, to show the pipeline works where the real SVHN / SynthDigits files
are not available.

Run: ``python scripts/smoke_colour_digits.py OUT``. Writes ``OUT/data/svhn/{train,test}_32x32.mat``
and ``OUT/data/synth/synth_{train,test}_32x32.mat`` (MATLAB 5: ``X`` uint8 32 x 32 x 3 x N,
``y`` uint8 N x 1 with 10 for the digit 0) holding random images, then the two sweeps under
``OUT/runs``. The images are noise: the numbers in the tables mean nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import scipy.io

from optprior.cli import main as cli

SIZES = {"train": 3000, "test": 600}


def write_mat(path: Path, n: int, rng: np.random.Generator) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    images = rng.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8)
    labels = rng.integers(1, 11, size=(n, 1)).astype(np.uint8)
    scipy.io.savemat(path, {"X": images, "y": labels})


def run(out: Path) -> int:
    rng = np.random.default_rng(0)
    data = out / "data"
    for split, n in SIZES.items():
        write_mat(data / "svhn" / f"{split}_32x32.mat", n, rng)
        write_mat(data / "synth" / f"synth_{split}_32x32.mat", n, rng)
    config = out / "unverified.toml"
    config.write_text("[data]\nverify = false  # these files are not the official ones\n")
    codes = [
        cli(
            [
                "reproduce",
                setting,
                "--quick",
                "--quiet",
                "--config",
                str(config),
                "--data-root",
                str(data),
                "--out",
                str(out / "runs"),
            ]
        )
        for setting in ("synth-svhn", "svhn-synth")
    ]
    return max(codes)


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/colour-smoke")))
