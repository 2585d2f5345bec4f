"""experiments.convergence and scripts/compare_curves.py: noise, slope and equal-epoch
differences of validation curves, checked against curves of known trend and noise."""

import json
import subprocess
import sys

import numpy as np
import pytest
from helpers import REPO, fast

from optprior import CVAE
from optprior.experiments.convergence import (
    estimate_noise_std,
    noise_std,
    slope,
    trailing_mean,
)
from optprior.experiments.curves_figure import curves_figure


def test_trailing_mean_averages_the_window_ending_at_each_index():
    values = np.arange(10.0)
    means = trailing_mean(values, 4)
    assert means.shape == (7,)
    assert means[0] == pytest.approx(1.5)  # epochs 0..3
    assert means[-1] == pytest.approx(7.5)  # epochs 6..9
    with pytest.raises(ValueError, match="window 11"):
        trailing_mean(values, 11)


@pytest.mark.parametrize("trend", [0.0, 0.5])
def test_noise_std_recovers_white_noise_on_a_linear_trend(trend):
    # 20,000 epochs: the estimate of sigma = 3 is within 2 % (its s.e. is about 0.5 %).
    # A steep trend (0.5 nats an epoch) leaves it unchanged only if the mean is centred.
    rng = np.random.default_rng(0)
    curve = trend * np.arange(20_000) + rng.normal(0.0, 3.0, 20_000)
    assert noise_std(curve, 51) == pytest.approx(3.0, rel=0.02)
    # with only 5 epochs a window the correction sqrt(1 - 1/5) matters: 11 % without it
    assert noise_std(curve, 5) == pytest.approx(3.0, rel=0.02)
    with pytest.raises(ValueError, match="odd"):
        noise_std(curve, 50)


def test_slope_of_a_noisy_line():
    rng = np.random.default_rng(1)
    assert slope(0.1 * np.arange(5000) + rng.normal(0, 1, 5000)) == pytest.approx(0.1, abs=1e-3)


def write_run(folder, seed, curve, best_epoch):
    run = folder / f"seed-{seed}"
    run.mkdir(parents=True)
    lines = ["epoch,val_elbo", *(f"{epoch},{value}" for epoch, value in enumerate(curve))]
    (run / "curves.csv").write_text("\n".join(lines) + "\n")
    result = {"run": f"faces/m/seed-{seed}", "setting": "faces", "method": "m", "seed": seed}
    result.update(status="ok", best_epoch=best_epoch, epochs_run=len(curve))
    (run / "result.json").write_text(json.dumps(result))


def test_compare_curves_pairs_seeds_at_equal_epochs(tmp_path):
    # B is A plus 3 nats at every epoch, and trains 100 epochs longer (+0.01 nats/epoch)
    rng = np.random.default_rng(2)
    a, b = tmp_path / "a", tmp_path / "b"
    for seed in (0, 1):
        curve = 0.01 * np.arange(400) + rng.normal(0, 1, 400)
        write_run(a, seed, curve, best_epoch=350)
        longer = np.concatenate([curve, curve[-1] + 0.01 * np.arange(1, 101)])
        write_run(b, seed, longer + 3.0, best_epoch=450)
    write_run(a, 2, np.zeros(400), best_epoch=0)  # only in A: left out
    command = [sys.executable, str(REPO / "scripts/compare_curves.py"), f"A={a}", f"B={b}"]
    command += ["--figure", str(tmp_path / "curves.png")]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert (tmp_path / "curves.png").read_bytes().startswith(b"\x89PNG")
    assert "seeds 0, 1\n" in out
    assert "| A | 400 (400-400) | 350 |" in out
    assert "| B | 500 (500-500) | 450 |" in out
    for epoch in (200, 300):
        assert f"| {epoch} | +3.00 ± 0.00 (2/0 of 2) |" in out
    assert "| 400 |" not in out  # A logged epochs 0..399 only
    assert "| best single epoch, 100-399 | +3.00 ± 0.00 (2/0 of 2) |" in out
    # B's highest mean is 100 epochs later: 3 nats plus about 1 nat of trend
    highest = next(line for line in out.splitlines() if line.startswith("| each at its highest"))
    assert float(highest.split("|")[2].split("±")[0]) == pytest.approx(4.0, abs=0.5)


def test_the_estimates_noise_is_that_of_independent_draws_per_point(two_tasks):
    # The mean of N independent per-point ELBOs varies as sqrt(mean variance / N): draws
    # shared between points or repeated between calls would break this.
    x, s = two_tasks
    model = fast(CVAE).fit(x[:60], s[:60])
    draws = np.stack([model.elbo(x[:60], s[:60], random_state=k) for k in range(200)])
    expected = np.sqrt(draws.var(axis=0, ddof=1).mean() / draws.shape[1])
    assert expected > 0
    assert estimate_noise_std(model, x[:60], s[:60], draws=200) == pytest.approx(expected, rel=0.25)
    with pytest.raises(ValueError, match="draws must be at least 2"):
        estimate_noise_std(model, x, s, draws=1)


def test_the_curves_figure_draws_each_seed_with_its_trend_and_kept_epoch():
    rng = np.random.default_rng(0)
    curves = [[np.linspace(0, 10, 300) + rng.normal(0, 1, 300) for _ in range(4)] for _ in "ab"]
    curves[1][2][150] = 500.0  # one spike: the axis follows the trends, not it
    best = [[250, 260, 270, 280], [200, 210, 150, 230]]
    figure = curves_figure(["a", "b"], curves, best, [0, 1, 2, 3], window=50, from_epoch=20)
    panels = [ax for ax in figure.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["seed 0", "seed 1", "seed 2", "seed 3"]
    for k, ax in enumerate(panels):
        faint_a, mean_a, dot_a, faint_b, mean_b, dot_b = ax.get_lines()
        assert faint_a.get_xdata()[0] == 20 and mean_a.get_xdata()[0] == 49
        np.testing.assert_allclose(mean_a.get_ydata(), trailing_mean(curves[0][k], 50))
        kept = best[1][k]
        assert (dot_b.get_xdata()[0], dot_b.get_ydata()[0]) == (kept, curves[1][k][kept])
        assert ax.get_ylim()[1] < 100
    with pytest.raises(ValueError, match="no seed"):
        curves_figure(["a"], [[]], [[]], [], window=50)
