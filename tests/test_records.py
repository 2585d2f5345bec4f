"""The run record: every field ``result.json`` has held reads back, and damage is named."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from pathlib import Path

import pytest

from optprior.experiments.demo import format_table
from optprior.experiments.records import (
    ResultFileError,
    RunResult,
    read_result_file,
    write_result_file,
)
from optprior.experiments.status import status_table
from optprior.experiments.tables import markdown_table, paired_table, runs_table, summarize

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"


def test_every_published_result_reads_and_writes_back_unchanged():
    paths = sorted(RESULTS.glob("*/*/*/seed-*/result.json"))
    assert len(paths) > 100
    for path in paths:
        stored = json.loads(path.read_text())
        result = read_result_file(path)
        assert result.to_dict() == stored, path
        assert result.run == f"{result.setting}/{result.method}/seed-{result.seed}"


def test_every_published_figure_is_listed_in_its_runs_result():
    """results.md links the figures a run's result lists: one drawn later (``optprior
    figures``) and copied without its result would be published unlinked."""
    paths = sorted(RESULTS.glob("*/*/*/seed-*/result.json"))
    assert len(paths) > 100  # the published runs were found: the check is not empty
    for path in paths:
        drawn = {figure.name for figure in path.parent.glob("*.png")}
        assert drawn == set(read_result_file(path).figures), path


def test_fields_of_a_newer_version_are_kept_and_unset_fields_are_not_written(tmp_path):
    result = RunResult("faces/cvae/seed-0", "faces", "cvae", 0, "ok", extra={"new": [1, 2]})
    result.stopped_early = False  # recorded: not the default None
    write_result_file(tmp_path, result)
    written = json.loads((tmp_path / "result.json").read_text())
    assert written["new"] == [1, 2] and written["stopped_early"] is False
    assert not {"error", "metrics", "hit_epoch_cap", "resumed_from_checkpoint"} & set(written)
    assert read_result_file(tmp_path / "result.json") == result


#: A result file as the tables read it.
_RUN = '{"run": "a", "setting": "faces", "method": "cvae", "seed": 1, "config": {}, "metrics": {}}'


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("{not json", "Expecting property name"),
        ("[1, 2]", "not a JSON object"),
        ('{"run": "a", "setting": "faces", "status": "ok"}', "no method, seed"),
        (b'{"run": "\xff"}', "can't decode byte 0xff"),
        (_RUN.replace('"seed": 1', '"seed": "1"'), "its seed is '1', not int"),
        (_RUN.replace('"seed": 1', '"seed": true'), "its seed is True, not int"),
        (_RUN.replace('"metrics": {}', '"metrics": null'), "its metrics is None, not dict"),
        (_RUN.replace('"config": {}', '"config": []'), "its config is \\[\\], not dict"),
        (_RUN.replace('"metrics": {}', '"metrics": {"acc": "0.9"}'), "metric acc is '0.9', not"),
    ],
)
def test_a_damaged_result_is_named(tmp_path, text, named):
    path = tmp_path / "result.json"
    if isinstance(text, bytes):  # not UTF-8
        path.write_bytes(text)
    else:
        path.write_text(text)
    with pytest.raises(ResultFileError, match=f"{path} is not a run's result: .*{named}"):
        read_result_file(path)


def test_the_thread_count_is_kept_and_shown_beside_the_device(tmp_path):
    cpu = {"training": {"device": "cpu"}}
    result = RunResult("usps-mnist/cvae/seed-0", "usps-mnist", "cvae", 0, config=cpu, threads=2)
    write_result_file(tmp_path, result)
    assert read_result_file(tmp_path / "result.json").threads == 2
    assert "| usps-mnist/cvae/seed-0 | failed | cpu, 2 threads |" in runs_table([result])
    one = RunResult("r", "s", "m", 0, config=cpu, threads=1)
    assert "| r | failed | cpu, 1 thread |" in runs_table([one])
    unrecorded = RunResult("r", "s", "m", 0, config=cpu)  # written before it was kept
    assert "| r | failed | cpu |" in runs_table([unrecorded])


def test_training_minutes_of_a_quick_run_are_not_shown_as_none():
    quick = RunResult("r", "s", "m", 0, config={"training": {"device": "cpu"}})
    times = {"training_seconds": 24.0, "epochs_run": 3, "best_epoch": 2}
    assert "| r | failed | cpu | 3 (2) | 0.4 |" in runs_table([replace(quick, **times)])
    long = replace(quick, training_seconds=1500.0)
    assert "| r | failed | cpu |  | 25 |" in runs_table([long])
    assert "| r | failed | cpu |  | 10 |" in runs_table([replace(quick, training_seconds=598.0)])


def test_a_metric_some_runs_lack_says_how_many_runs_it_averages():
    """A metric added after some runs were made is averaged over the runs that have it,
    and the table says over how many."""
    from optprior.experiments.tables import markdown_table, summarize

    def run(seed: int, metrics: dict[str, float]) -> RunResult:
        return RunResult(f"s/m/seed-{seed}", "s", "m", seed, status="ok", metrics=metrics)

    old = {"test_log_likelihood": -140.0, "calibration_error_mean": -7.0}
    new = {**old, "calibration_error_loo_mean": 20.0}
    (row,) = summarize([run(0, old), run(1, old), run(2, new)])
    assert row["calibration_error_loo_mean_runs"] == 1 and row["calibration_error_mean_runs"] == 3
    table = markdown_table([row])
    assert "| 20.00 (1 of 3 runs) |" in table and "| -7.00 ± 0.00 |" in table
    assert "What the prior adds" not in table  # no run scored its networks under N(0, I)
    gain = {"test_log_likelihood_normalized": -99.0, "test_log_likelihood_standard_prior": -100.0}
    (row,) = summarize([run(0, {**gain, "prior_gain": 1.0})])
    assert "What the prior adds" in markdown_table([row])
    assert "| m | -99.00 | -100.00 | 1.00 |" in markdown_table([row])


def test_a_score_that_is_not_finite_is_left_out_of_its_mean_and_counted():
    """As the paired table leaves it out: a diverged estimate (NaN, or an infinite ln Z)
    would make the mean say nothing of the other runs."""
    from optprior.experiments.tables import markdown_table, summarize

    def run(seed: int, score: float) -> RunResult:
        metrics = {"test_log_likelihood": score, "test_elbo": math.nan}
        return RunResult(f"s/m/seed-{seed}", "s", "m", seed, status="ok", metrics=metrics)

    (row,) = summarize([run(0, -100.0), run(1, -102.0), run(2, -math.inf)])
    assert row["test_log_likelihood_mean"] == -101.0 and row["test_log_likelihood_runs"] == 2
    table = markdown_table([row])
    assert "| -101.00 ± 1.41 (2 of 3 runs) |" in table
    assert "| nan (0 of 3 runs) |" in table  # none finite


def table_widths(text: str) -> list[list[int]]:
    """The column count of each line of each Markdown table in ``text`` (a ``|`` escaped
    as ``\\|`` is inside a cell)."""
    tables, current = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            current.append(len(re.split(r"(?<!\\)\|", line.strip())) - 2)
        elif current:
            tables, current = [*tables, current], []
    return tables


def test_every_table_keeps_its_columns_where_a_heading_holds_a_bar():
    results = [
        read_result_file(p) for p in sorted(RESULTS.glob("converged-*/*/*/seed-*/result.json"))
    ]
    text = "\n".join(
        [markdown_table(summarize(results)), paired_table(results), runs_table(results)]
    )
    status = status_table([{"run": "a/b/seed-0", "state": "failed", "error": "x|y"}])
    demo = {"method": "cvae", "epochs": 3, "best_epoch": 2}
    demo |= dict.fromkeys(["test_log_likelihood", "test_log_likelihood_normalized"], -1.0)
    demo |= dict.fromkeys(["accuracy", "task_probe", "task_information", "seconds"], 0.5)
    widths = table_widths(text + "\n\n" + status + "\n\n" + format_table([demo]))
    assert len(widths) >= 8 and "ln p(x\\|s)" in text
    for table in widths:
        assert len(set(table)) == 1, table
