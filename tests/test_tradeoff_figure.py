"""The trade-off figure: each method's likelihood against its task dependence (the
logistic probe), both minus the CVAE on the same seed."""

from __future__ import annotations

import pytest

from optprior.experiments.records import RunResult
from optprior.experiments.reproduce import write_tables
from optprior.experiments.tradeoff_figure import tradeoff_figure, tradeoff_points


def _result(method: str, seed: int, nats: float, probe: float | None) -> RunResult:
    metrics = {"test_log_likelihood_normalized": nats}
    if probe is not None:
        metrics["task_probe"] = probe
    return RunResult(f"faces/{method}/seed-{seed}", "faces", method, seed, "ok", metrics=metrics)


def _results() -> list[RunResult]:
    results = [_result("cvae", seed, 100.0 + seed, 0.8) for seed in range(3)]
    # invariant: probe -0.3 on every seed, nats -20, -21, -22 (mean -21, s.e. 1/sqrt(3))
    results += [_result("invariant", s, 80.0, 0.5) for s in range(3)]
    results += [_result("hsic", s, 98.0 + s, 0.8 - 0.01 * s) for s in range(2)]
    results += [_result("mixture", s, -300.0 + s, 0.9) for s in range(3)]  # 400 nats below
    return [*results, _result("vae", 0, 99.0, None)]  # no probe: no point


def test_each_method_is_a_point_at_its_mean_differences_far_off_nats_at_the_edge():
    results = _results()
    points = tradeoff_points(results, "faces")
    assert list(points) == ["mixture", "invariant", "hsic"]  # table order; vae has no probe
    x, x_error, y, y_error = points["invariant"]
    assert (x, x_error) == pytest.approx((-0.3, 0.0)) and y == pytest.approx(-21.0)
    assert y_error == pytest.approx(1 / 3**0.5)
    assert points["hsic"][:3] == pytest.approx((-0.005, 0.005, -2.0))
    (ax,) = tradeoff_figure(results).axes
    labels = {t.get_text(): t.xy for t in ax.texts}
    assert labels["invariant"] == pytest.approx((-0.3, -21.0))
    assert labels["cvae"] == (0.0, 0.0)
    low, high = ax.get_ylim()
    assert -400 < low < -21.0 - y_error and high > 0.0  # the mixture does not set the scale
    assert labels["mixture (-400)"] == pytest.approx((0.1, low))  # ... it is at the edge
    with pytest.raises(ValueError, match="no method shares a seed with both"):
        tradeoff_figure([r for r in results if r.method in ("cvae", "vae")])


def test_tables_draw_the_tradeoff_figure_where_runs_have_the_probe(tmp_path):
    write_tables(_results(), tmp_path)
    assert (
        "![likelihood against task dependence](tradeoff.png)"
        in (tmp_path / "results.md").read_text()
    )
    assert (tmp_path / "tradeoff.png").is_file()
    no_probe = [_result(m, s, 1.0 + s, None) for m in ("cvae", "hsic") for s in (0, 1)]
    write_tables(no_probe, tmp_path / "no-probe")
    assert not (tmp_path / "no-probe" / "tradeoff.png").exists()


def test_labels_of_methods_close_together_do_not_overlap():
    """Methods at nearly the same point get labels side by side, not on top of each
    other, and inside the axes."""
    results = [_result("cvae", seed, 100.0 + seed, 0.8) for seed in range(3)]
    for method, shift in (("adversarial", 0.0), ("mmd", 0.001), ("hsic", 0.002)):
        results += [_result(method, s, 101.0 + s, 0.79 + shift) for s in range(3)]
    figure = tradeoff_figure(results)
    (ax,) = figure.axes
    renderer = figure.canvas.get_renderer()
    boxes = {t.get_text(): t.get_window_extent(renderer) for t in ax.texts}
    assert set(boxes) == {"cvae", "adversarial", "mmd", "hsic"}
    for a in boxes:
        assert ax.bbox.contains(boxes[a].x0, boxes[a].y0)
        assert ax.bbox.contains(boxes[a].x1, boxes[a].y1)
        for b in boxes:
            assert a == b or not boxes[a].overlaps(boxes[b]), (a, b)
