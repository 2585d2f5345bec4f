"""The paired figure draws each method minus the CVAE on the seeds both finished."""

from __future__ import annotations

from dataclasses import replace

import pytest

from optprior.experiments.paired_figure import paired_figure
from optprior.experiments.records import RunResult
from optprior.experiments.reproduce import write_tables
from optprior.experiments.tables import paired_table


def _result(method: str, seed: int, nats: float, accuracy: float, status: str = "ok") -> RunResult:
    metrics = {"test_log_likelihood_normalized": nats, "accuracy_logistic": accuracy}
    return RunResult(f"faces/{method}/seed-{seed}", "faces", method, seed, status, metrics=metrics)


def _drawn(ax) -> dict[float, list[float]]:
    """The x values drawn on each method row y of ``ax``: seed dots, means and arrows."""
    rows: dict[float, list[float]] = {}
    for line in ax.get_lines():
        if line.get_marker() not in ("o", "s", "<", ">"):  # error bar caps, the zero line
            continue
        for x, y in zip(line.get_xdata(), line.get_ydata(), strict=True):
            rows.setdefault(round(float(y)), []).append(float(x))
    return rows


def test_each_method_minus_the_cvae_on_shared_seeds_far_off_nats_at_the_edge():
    results = [_result("cvae", seed, 100.0 + seed, 0.8) for seed in range(3)]
    results += [_result("optimal", seed, 103.0 + seed + seed / 10, 0.9) for seed in range(3)]
    results += [_result("mixture", seed, -300.0, 0.3) for seed in range(2)]  # -400 and -401
    results += [_result("vae", 0, 98.0, 0.7), _result("vae", 1, 1e9, 0.7, status="failed")]
    figure = paired_figure(results)
    nats, accuracy = figure.axes  # one setting; only the metrics its runs have
    assert [t.get_text() for t in nats.get_yticklabels()] == ["vae", "optimal", "mixture"]
    rows = _drawn(nats)
    assert sorted(rows[1]) == pytest.approx([3.0, 3.1, 3.1, 3.2])  # the seeds and their mean
    assert sorted(set(rows[0])) == [-2.0]  # vae's one finished seed; the failed one left out
    low, high = nats.get_xlim()
    assert low < -2.0 and high > 3.2 and low > -400  # the mixture does not set the scale
    assert rows[2] == [low]  # ... it is an arrow at the edge
    assert "-400" in [t.get_text() for t in nats.texts]
    assert min(_drawn(accuracy)[2]) == pytest.approx(-0.5)  # accuracies drawn whole
    with pytest.raises(ValueError, match="no method shares a finished seed with cvae"):
        paired_figure([_result("optimal", 0, 1.0, 0.5), _result("cvae", 1, 1.0, 0.5)])


def test_tables_draw_and_link_the_paired_figure(tmp_path):
    results = [_result(m, seed, 100.0 + seed, 0.8) for m in ("cvae", "vae") for seed in (0, 1)]
    write_tables(results, tmp_path)
    assert (tmp_path / "paired.png").is_file()
    assert "![each method minus the CVAE](paired.png)" in (tmp_path / "results.md").read_text()
    write_tables(results[:2], tmp_path / "cvae-only")  # nothing to pair: no figure
    assert not (tmp_path / "cvae-only" / "paired.png").exists()
    # Its CVAE runs failed since (rescored, say): the figure of the old pairing goes.
    failed = [replace(r, status="failed") if r.method == "cvae" else r for r in results]
    write_tables(failed, tmp_path)
    assert not (tmp_path / "paired.png").exists()
    assert "paired.png" not in (tmp_path / "results.md").read_text()


def test_a_gain_within_each_run_is_drawn_and_tabled_as_it_is():
    """``prior_gain`` is a paired difference within each run (the normalised score minus
    the same networks' under N(0, I)): the figure and the paired table take each seed's
    value as it is, not minus the CVAE's, on the seeds the CVAE finished too."""
    results = [_result("cvae", seed, 100.0, 0.8) for seed in range(3)]
    for seed, gain in enumerate((1.0, 2.0, 3.0, 50.0)):  # the CVAE has no seed 3
        run = _result("posthoc", seed, 90.0, 0.8)
        results.append(RunResult(**{**vars(run), "metrics": {**run.metrics, "prior_gain": gain}}))
    nats, gain_panel, _ = paired_figure(results).axes
    assert "own" in gain_panel.get_title()
    assert sorted(_drawn(gain_panel)[0]) == pytest.approx([1.0, 2.0, 2.0, 3.0])
    assert sorted(set(_drawn(nats)[0])) == [-10.0]
    table = paired_table(results)
    assert "| posthoc | -10.00 ± 0.00 (0/3 of 3) | +2.00 ± 0.58 (3/0 of 3) |" in table
    assert paired_table([r for r in results if r.method == "posthoc"]) == ""


def test_a_figure_failing_otherwise_than_on_nothing_to_draw_is_not_hidden(tmp_path, monkeypatch):
    """``write_tables`` leaves a figure out where its runs hold nothing to draw
    (``NothingToDraw``), but any other error of a figure reaches the caller."""
    from optprior.experiments import reproduce

    def broken(*args, **kwargs):
        raise ValueError("a bug in the figure")

    results = [_result(m, seed, 100.0 + seed, 0.8) for m in ("cvae", "vae") for seed in (0, 1)]
    monkeypatch.setattr(reproduce, "paired_figure", broken)
    with pytest.raises(ValueError, match="a bug in the figure"):
        write_tables(results, tmp_path)
