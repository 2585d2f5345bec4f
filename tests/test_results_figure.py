"""The results figure draws exactly the finished runs' scores and the paper's legible means."""

from __future__ import annotations

import numpy as np
import pytest

from optprior.experiments.records import RunResult
from optprior.experiments.reproduce import write_tables
from optprior.experiments.results_figure import (
    FIGURE_METRICS,
    paper_range,
    paper_value,
    results_figure,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-163.25 ± 2.15", (-163.25, True)),
        ("0.52", (0.52, True)),
        ("≈ -211.1 ± x.x", (-211.1, False)),
        ("≈ -212.11 ± 1.48", (-212.11, False)),
        ("≈ 91x ± x.x", None),
        ("≈ 0.6x (best)", None),
        ("≈ 8xx (> 814) ± 11.41", None),
        ("", None),
        (None, None),
    ],
)
def test_paper_value_reads_only_legible_means(text, expected):
    assert paper_value(text) == expected


def _result(setting, method, seed, likelihood, status="ok"):
    metrics = {
        "test_log_likelihood": likelihood,
        "accuracy_logistic": 0.5 + seed / 10,
        "task_probe": None,  # not scored: no task-probe row
    }
    return RunResult(
        f"{setting}/{method}/seed-{seed}", setting, method, seed, status, metrics=metrics
    )


def _seed_lines(ax):
    return [line for line in ax.get_lines() if line.get_linestyle() == "-"]


def test_figure_shows_each_finished_seed_joined_across_methods():
    results = [
        _result("usps-mnist", method, seed, -150.0 - 10 * i - seed)
        for i, method in enumerate(("optimal", "vae", "cvae"))  # drawn in METHODS order
        for seed in (0, 1)
    ]
    results.append(_result("usps-mnist", "vae", 2, 1e6, status="failed"))
    results.append(_result("faces", "cvae", 0, 670.0))
    figure = results_figure(results)
    axes = np.array(figure.axes).reshape(2, 2)  # task probe has no scores: two metric rows
    assert [ax.get_title() for ax in axes[0]] == ["faces", "usps-mnist"]
    assert axes[0, 0].get_ylabel() == FIGURE_METRICS[0][1]

    panel = axes[0, 1]
    assert [t.get_text() for t in panel.get_xticklabels()] == ["vae", "cvae", "optimal"]
    lines = _seed_lines(panel)
    assert len(lines) == 2  # the failed seed 2 is not drawn
    for seed, line in enumerate(lines):
        expected = [-150.0 - 10 * i - seed for i in (1, 2, 0)]  # vae, cvae, optimal
        np.testing.assert_allclose(line.get_ydata(), expected)

    paper_markers = [line for line in panel.get_lines() if line.get_marker() == "D"]
    np.testing.assert_allclose(  # vae and cvae are legible in the paper, optimal is not
        sorted(y for line in paper_markers for y in line.get_ydata()), [-163.25, -152.32]
    )


def test_a_missing_seed_breaks_its_line_and_non_finite_scores_are_counted():
    results = [
        _result("faces", "vae", 0, 650.0),
        _result("faces", "vae", 1, 655.0),
        _result("faces", "cvae", 0, 660.0),  # no seed 1
        _result("faces", "optimal", 0, float("nan")),
        _result("faces", "optimal", 1, 670.0),
    ]
    figure = results_figure(results)
    lines = _seed_lines(figure.axes[0])
    np.testing.assert_array_equal(lines[0].get_ydata(), [650.0, 660.0, np.nan])
    np.testing.assert_array_equal(lines[1].get_ydata(), [655.0, np.nan, 670.0])
    assert [t.get_text() for t in figure.texts] == ["1 non-finite score(s) not drawn"]


def test_figure_without_finished_runs_is_refused():
    with pytest.raises(ValueError, match="no finished run"):
        results_figure([_result("faces", "vae", 0, 1.0, status="failed")])


def test_tables_link_the_figure_once_a_run_has_finished(tmp_path):
    write_tables([_result("faces", "vae", 0, 1.0, status="failed")], tmp_path)
    assert not (tmp_path / "results.png").exists() and (tmp_path / "results.csv").is_file()
    assert "results.png" not in (tmp_path / "results.md").read_text()

    write_tables([_result("faces", "vae", 0, 660.0)], tmp_path)
    assert (tmp_path / "results.png").read_bytes().startswith(b"\x89PNG")
    assert "](results.png)" in (tmp_path / "results.md").read_text()


@pytest.mark.slow
def test_figures_leave_the_users_matplotlib_backend_alone():
    import subprocess
    import sys

    code = (
        "import matplotlib; matplotlib.use('svg')\n"
        "import optprior.experiments.figures, optprior.experiments.results_figure\n"
        "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_calibration_of_t_gets_a_row_where_runs_have_it():
    results = [_result("usps-mnist", m, 0, -150.0) for m in ("cvae", "optimal")]
    assert len(results_figure(results).axes) == 2  # likelihood and accuracy rows
    results[1].metrics["calibration_error_mean"] = -8.5
    figure = results_figure(results)
    assert len(figure.axes) == 3
    assert figure.axes[2].get_ylabel().startswith("T - exact ln q/N")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("≈ 91x ± x.x", (910.0, 919.0)),
        ("≈ -149.x ± x.x", (-149.9, -149.0)),
        ("≈ 8xx (> 814) ± 11.41", (814.0, 899.0)),
        ("≈ 0.6x (best)", (0.6, 0.69)),
        ("≈ -212.11 ± 1.48", None),  # the mean is legible: paper_value
        ("-163.25 ± 2.15", None),
        (None, None),
    ],
)
def test_paper_range_spans_the_illegible_digits(text, expected):
    assert paper_range(text) == (None if expected is None else pytest.approx(expected))


def test_scale_is_ours_and_the_paper_beyond_it_is_an_labelled_arrow():
    """faces: ours near 660, the paper's VAE 895 (legible) and optimal 91x (a range)."""
    results = [
        _result("faces", m, k, 650.0 + 10 * i + k)
        for i, m in enumerate(("vae", "cvae", "optimal"))
        for k in (0, 1)
    ]
    panel = results_figure(results).axes[0]
    low, high = panel.get_ylim()
    assert 640 < low < 650 and 671 < high < 690  # our values, not the paper's, set it
    arrows = [line for line in panel.get_lines() if line.get_marker() == "^"]
    assert len(arrows) == 3  # vae, cvae and optimal all lie above
    labels = sorted(text.get_text() for text in panel.texts)
    assert labels == ["paper\n895.4", "paper\n903", "paper\n910 to 919"]


def test_a_range_within_our_scale_is_a_bar_and_chance_is_marked():
    results = [_result("usps-mnist", m, 0, -150.0 + i) for i, m in enumerate(("cvae", "optimal"))]
    for result, probe in zip(results, (0.48, 0.9), strict=True):
        result.metrics["task_probe"] = probe
    figure = results_figure(results)
    likelihood, probe = figure.axes[0], figure.axes[2]
    (bar,) = likelihood.collections[-1:]  # the paper's optimal: -149.x
    np.testing.assert_allclose(bar.get_segments()[0][:, 1], [-149.9, -149.0])
    assert any(list(line.get_ydata()) == [0.5, 0.5] for line in probe.get_lines())

    results[0].metrics["task_probe"] = 0.9
    probe = results_figure(results).axes[2]
    assert [text.get_text() for text in probe.texts] == ["chance 0.5 (below)"]


def test_titles_name_the_folder_the_epoch_cap_and_the_runs_at_it():
    results = [_result("faces", "vae", k, 650.0) for k in (0, 1)]
    for result, capped in zip(results, (True, False), strict=True):
        result.config = {"training": {"epochs": 300}}
        result.hit_epoch_cap = capped
    figure = results_figure(results, title="paper")
    assert figure.get_suptitle() == "paper"
    assert figure.axes[0].get_title() == "faces\nat most 300 epochs; 1 of 2 runs at the cap"


def test_methods_are_paired_with_the_cvae_seed_by_seed(tmp_path):
    from optprior.experiments.tables import paired_difference

    results = [_result("usps-mnist", "cvae", k, -150.0 - k) for k in range(3)]
    results += [_result("usps-mnist", "optimal", k, v) for k, v in ((0, -149.0), (1, -152.0))]
    results.append(_result("usps-mnist", "optimal", 2, -100.0, status="failed"))
    mean, error, n, above, below = paired_difference(
        results, "usps-mnist", "optimal", "test_log_likelihood"
    )
    differences = np.array([1.0, -1.0])  # seed 0: -149 - (-150); seed 1: -152 - (-151)
    assert (n, above, below) == (2, 1, 1) and mean == pytest.approx(differences.mean())
    assert error == pytest.approx(differences.std(ddof=1) / np.sqrt(2))
    assert paired_difference(results, "usps-mnist", "vae", "test_log_likelihood") is None
    write_tables(results, tmp_path)
    text = (tmp_path / "results.md").read_text()
    assert "| optimal | " in text and "+0.00 ± 1.00 (1/1 of 2)" in text
