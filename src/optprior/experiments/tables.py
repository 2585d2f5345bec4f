"""Results tables: mean ± std over seeds per setting and method, beside the paper's numbers."""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from typing import Any

import numpy as np

from optprior.experiments.config import EvaluationConfig
from optprior.experiments.markdown import markdown_row, markdown_rule
from optprior.experiments.paper import PUBLISHED
from optprior.experiments.records import RunResult, failure_line
from optprior.models.methods import METHODS
from optprior.models.selection import WEIGHT

#: Columns of the headline table: (metric key, heading, decimals).
HEADLINE = (
    ("test_log_likelihood", "test ln p(x|s)", 2),
    ("test_log_likelihood_over_points", "test ln p(x|s), mean over test points", 2),
    ("test_log_likelihood_normalized", "ln p(x|s), prior normalised", 2),
    ("val_log_likelihood", "validation ln p(x|s), normalised", 2),
    ("test_elbo", "test ELBO", 2),
    ("accuracy_logistic", "accuracy (logistic)", 3),
    ("accuracy_knn", "accuracy (5-NN)", 3),
    ("task_probe", "task probe bal. acc.", 3),
    ("task_information", "I(S;μ) >= (probe log-loss bound, nats)", 3),
)


#: Printed under each headline table: what its likelihood columns are.
HEADLINE_NOTE = (
    "test ln p(x|s) is the paper's measure: each method's prior as it is (for T, "
    "N(z; 0, I) e^T, not normalised), the mean of the scored tasks' means; \"prior "
    'normalised" divides the prior by its estimated Z, so that methods compare. The test '
    "ELBO takes the prior as it is too: for T it bounds the unnormalised score. missing: "
    "no run finished; n/a: the finished runs have no such score (accuracy without labels, "
    "or a score their version of optprior did not compute). The probes read the posterior "
    "means μ (the codes `transform` returns): their bound is on I(S;μ), not on I(S;Z) of "
    "codes drawn from q(z|x,s)."
)


#: Columns of the discriminator's diagnostics, shown for the methods that have a T.
T_DIAGNOSTICS = (
    ("calibration_error_mean", "T - ln q(z)/N(z), mean on z ~ q (nats)", 2),
    ("calibration_error_std", "its standard deviation", 2),
    ("calibration_error_loo_mean", "the same against q without the code's own posterior", 2),
    ("calibration_error_loo_std", "its standard deviation", 2),
    ("prior_log_normalizer", "ln Z of e^T, as scored (annealed where chains are counted)", 3),
    ("prior_log_normalizer_chains", "its effective chains (of 500)", 0),
    ("prior_log_normalizer_importance", "ln Z, importance-sampled", 3),
    ("prior_log_normalizer_draws", "its effective draws (of 1e5)", 0),
    ("discriminator_accuracy", "T's accuracy, q(z) vs N(0, I)", 3),
)


#: Columns of what a prior other than N(0, I) adds on its own networks (``evaluate``).
PRIOR_GAIN = (
    ("test_log_likelihood_normalized", "test ln p(x|s), prior normalised", 2),
    ("test_log_likelihood_standard_prior", "the same encoder and decoder under N(0, I)", 2),
    ("prior_gain", "the prior's gain (nats)", 2),
)


#: Columns of the task-dependence measures beyond the headline's probe.
INVARIANCE = (
    ("task_probe", "probe (logistic) bal. acc.", 3),
    ("task_probe_mlp_cv", "probe (MLP) bal. acc.", 3),
    ("task_information_mlp_cv", "I(S;μ) >= (MLP probe, nats)", 3),
    ("task_probe_mlp", "probe (MLP stopped early: under-reads) bal. acc.", 3),
    ("task_information_mlp", "I(S;μ) >= (that probe, nats)", 3),
    (
        "task_mutual_information",
        "I(S;Z) of the test posteriors' mixture (nats; ln K once they do not overlap)",
        3,
    ),
    ("task_mmd", "MMD^2(z | s, z)", 4),
    ("task_mmd_p", "its permutation p", 3),
    ("task_hsic", "HSIC(z, s)", 4),
    ("task_hsic_p", "its permutation p", 3),
)


#: Metrics that are a paired difference within each run already: ``seed_differences``
#: takes them as they are (``prior_gain``: the normalised score minus the same networks'
#: under N(0, I), for a post-hoc T its own CVAE stage).
OWN_DIFFERENCES = frozenset({"prior_gain"})


#: Printed under a paired table that has an ``OWN_DIFFERENCES`` column.
OWN_DIFFERENCES_NOTE = (
    'The column "minus its own networks under N(0, I)" compares each run with itself '
    "(the same encoder and decoder scored with the N(0, I) prior: for a post-hoc T, its "
    "own CVAE stage), not with the CVAE run of its seed."
)


#: Metrics compared with the CVAE seed by seed (``paired_table``).
PAIRED = (
    ("val_log_likelihood", "validation ln p(x|s), prior normalised", 2),
    ("test_log_likelihood", "test ln p(x|s)", 2),
    ("test_log_likelihood_normalized", "test ln p(x|s), prior normalised", 2),
    ("prior_gain", "test ln p(x|s), normalised, minus its own networks under N(0, I)", 2),
    ("accuracy_logistic", "accuracy (logistic)", 3),
    ("task_probe", "task probe", 3),
    ("task_probe_mlp_cv", "task probe (MLP)", 3),
    ("task_information_mlp_cv", "I(S;μ) >= (MLP probe, nats)", 3),
    ("task_probe_mlp", "task probe (MLP stopped early: under-reads)", 3),
    ("task_information_mlp", "I(S;μ) >= (that probe, nats)", 3),
    ("task_mmd", "MMD^2(z | s, z)", 4),
)


class NothingToDraw(ValueError):
    """The runs hold nothing a figure of them could show (yet): no finished score, or no
    seed shared with the baseline."""


def method_position(method: str) -> tuple[int, str]:
    """Sort key of a method: the order of ``METHODS``, unknown methods last by name."""
    order = list(METHODS)
    return (order.index(method) if method in order else len(order), method)


def summarize(results: list[RunResult]) -> list[dict[str, Any]]:
    """One row per (setting, method): n ok / failed runs and mean, std and number of runs
    (``_runs``) of every metric, over the finished runs that record it as a finite number.

    Failed runs are counted, never averaged as zeros; nor are scores that are NaN or
    infinite (a diverged estimate: the cell says "k of n runs"; NaN where none is finite);
    the std is the sample std (ddof=1), NaN with a single run.
    """
    groups: dict[tuple[str, str], list[RunResult]] = defaultdict(list)
    for result in results:
        groups[(result.setting, result.method)].append(result)
    rows = []
    ordered = sorted(groups.items(), key=lambda g: (g[0][0], method_position(g[0][1])))
    for (setting, method), group in ordered:
        ok = [r for r in group if r.ok]
        row: dict[str, Any] = {
            "setting": setting,
            "method": method,
            "runs_ok": len(ok),
            "runs_failed": len(group) - len(ok),
        }
        weights = sorted({w for r in ok if (w := _penalty_weight(r)) is not None})
        if weights:
            row[WEIGHT] = ", ".join(f"{w:g}" for w in weights)
        keys = sorted({k for r in ok for k, v in r.metrics.items() if v is not None})
        for key in keys:
            found = np.array([v for r in ok if (v := r.metric(key)) is not None])
            values = found[np.isfinite(found)]  # as the paired table: not a diverged score
            row[f"{key}_mean"] = float(values.mean()) if len(values) else math.nan
            row[f"{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
            row[f"{key}_runs"] = len(values)
        rows.append(row)
    return rows


def _penalty_weight(result: RunResult) -> float | None:
    """The ``invariance_weight`` a run of a penalised method trained at (None for other
    methods, and for runs whose config does not record it)."""
    method = METHODS.get(result.method)
    if method is None or not method.reads_setting(WEIGHT):
        return None
    weight = result.config.get("model", {}).get(WEIGHT)
    return None if weight is None else float(weight)


def _cell(row: dict[str, Any], key: str, decimals: int) -> str:
    """``mean ± std`` of ``key`` over a row's runs; "missing" where no run finished, "n/a"
    where the finished ones have no such score (accuracy of data without labels, a score
    of a later version)."""
    if f"{key}_mean" not in row:
        return "missing" if row["runs_ok"] == 0 else "n/a"
    mean, std = row[f"{key}_mean"], row[f"{key}_std"]
    spread = "" if math.isnan(std) else f" ± {std:.{decimals}f}"
    runs = row[f"{key}_runs"]
    fewer = f" ({runs} of {row['runs_ok']} runs)" if runs < row["runs_ok"] else ""
    return f"{mean:.{decimals}f}{spread}{fewer}"


def budgets(results: list[RunResult]) -> dict[str, str]:
    """Per setting, one line giving the budget its finished runs trained and were scored
    at (each value the runs used, / between several; a value no run recorded is left
    out): the epoch cap, the test points and the importance samples a point, the source
    training points; and, where the paper published numbers of the setting and the runs
    scored fewer samples or points or trained on fewer source points, that its column
    is no like-for-like reference."""
    lines = {}
    for setting in sorted({r.setting for r in results}):
        configs = [r.config for r in results if r.setting == setting and r.ok]

        def values(section: str, key: str, configs: list[dict[str, Any]] = configs) -> list[Any]:
            found = {(c.get(section) or {}).get(key, "unrecorded") for c in configs}
            found.discard("unrecorded")
            return sorted(found, key=lambda v: (v is None, v if v is not None else 0))

        epochs, samples = values("training", "epochs"), values("evaluation", "n_samples")
        points, source = values("evaluation", "test_points"), values("data", "n_source")
        joined = "/".join
        parts = [f"up to {joined(map(str, epochs))} epochs"] if epochs else []
        if points and samples:
            parts.append(
                "scored on "
                + joined("every test point" if not p else f"{p} test points a task" for p in points)
                + f" with {joined(map(str, samples))} importance samples each"
            )
        if any(s is not None for s in source):
            parts.append(joined("all" if s is None else str(s) for s in source))
            parts[-1] += " source training points"
        if not parts:
            continue
        line = "Budget of these runs: " + "; ".join(parts)
        full = EvaluationConfig().n_samples  # the paper's, as the built-in protocols score
        reduced = any(isinstance(s, int) and s < full for s in samples) or any(points)
        reduced |= any(s is not None for s in source)
        published = any(setting in PUBLISHED.get(key, {}) for key, _, _ in HEADLINE)
        if reduced and published:
            line += (
                f" (below the paper's, e.g. `--quick`: its column, of {full} samples on every "
                "test point, is no like-for-like reference)"
            )
        lines[setting] = line + "."
    return lines


def markdown_table(rows: list[dict[str, Any]], budget: dict[str, str] | None = None) -> str:
    """Per setting: our mean ± std and, where published, the paper's number beside it;
    under it the setting's line of ``budget`` (``budgets``) where given."""
    out = []
    settings = sorted({r["setting"] for r in rows})
    for setting in settings:
        out.append(f"### {setting}\n")
        heading = ["method", "runs (ok/failed)"]
        for key, title, _ in HEADLINE:
            heading.append(title)
            if setting in PUBLISHED.get(key, {}):
                heading.append("paper")
        out += [markdown_row(heading), markdown_rule(len(heading))]
        for row in (r for r in rows if r["setting"] == setting):
            cells = [row["method"], f"{row['runs_ok']}/{row['runs_failed']}"]
            for key, _, decimals in HEADLINE:
                cells.append(_cell(row, key, decimals))
                if setting in PUBLISHED.get(key, {}):
                    cells.append(PUBLISHED[key][setting].get(row["method"], ""))
            out.append(markdown_row(cells))
        out += ["", HEADLINE_NOTE, ""]
        if budget and setting in budget:
            out += [budget[setting], ""]
        here = [r for r in rows if r["setting"] == setting]
        weighted = [f"{r['method']} {r[WEIGHT]}" for r in here if WEIGHT in r]
        if weighted:
            out += [f"Penalty weights (`{WEIGHT}`) the runs trained at: {'; '.join(weighted)}.", ""]
        out += _extra_table(
            [r for r in here if "task_mmd_mean" in r],
            "How much z depends on the task (test points, tasks balanced; a probe at chance "
            "reads 1/K, K tasks): the probes read the posterior means, the mixture's "
            "I(S;Z) sampled z, which can carry less of the task, so it may lie below a probe's "
            "bound; a permutation p is at least 1/(permutations + 1), so its floor (0.005 at "
            "the default 200) reads as at most that:",
            INVARIANCE,
        )
        out += _extra_table(
            [r for r in here if "prior_gain_mean" in r],
            "What the prior adds: its own encoder and decoder scored under N(0, I) instead "
            "(for a post-hoc T, its CVAE stage):",
            PRIOR_GAIN,
        )
        out += _extra_table(
            [r for r in here if "calibration_error_mean_mean" in r],
            "The discriminator T against the exact mixture of the training posteriors:",
            T_DIAGNOSTICS,
        )
    if any(setting in PUBLISHED.get(key, {}) for key, _, _ in HEADLINE for setting in settings):
        out.append("Paper numbers marked ≈ are only partly legible in the public transcript.")
    return "\n".join(out) + "\n"


def _extra_table(
    rows: list[dict[str, Any]], caption: str, columns: tuple[tuple[str, str, int], ...]
) -> list[str]:
    """Lines of a table of ``columns`` for ``rows`` under ``caption`` (none if no rows),
    without the columns no row has (metrics of other versions)."""
    columns = tuple(c for c in columns if any(f"{c[0]}_mean" in row for row in rows))
    if not rows:
        return []
    lines = [caption + "\n", markdown_row(["method", *(t for _, t, _ in columns)])]
    lines.append(markdown_rule(len(columns) + 1))
    for row in rows:
        cells = [row["method"], *(_cell(row, key, digits) for key, _, digits in columns)]
        lines.append(markdown_row(cells))
    return [*lines, ""]


def csv_table(rows: list[dict[str, Any]]) -> str:
    """Every summary column as CSV text."""
    columns = ["setting", "method", "runs_ok", "runs_failed"]
    columns += sorted({k for r in rows for k in r} - set(columns))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _minutes(seconds: float) -> str:
    """``seconds`` in minutes, to a tenth under ten (a quick run is not 0)."""
    minutes = seconds / 60
    return f"{minutes:.1f}" if round(minutes, 1) < 10 else f"{minutes:.0f}"


def runs_table(results: list[RunResult]) -> str:
    """One Markdown row per run: where (device, and thread count where recorded) and how
    long it trained, and its test ln p(x|s).

    Training minutes are ``training_seconds`` (every epoch's wall time, across resumes,
    pauses of the process included) where recorded, else ``wall_seconds`` (marked * when
    the run was resumed: then only the part after the last resume).
    """
    partial, capped_runs = False, 0
    heading = ("run", "status", "device", "epochs run (best, from 0)", "training minutes")
    lines = [markdown_row([*heading, "test ln p(x|s)"]), markdown_rule(len(heading) + 1)]
    for r in sorted(results, key=lambda r: (r.setting, method_position(r.method), r.run)):
        seconds = r.training_seconds
        minutes = "" if seconds is None else _minutes(seconds)
        if seconds is None and r.wall_seconds is not None:
            partial |= r.resumed_from_checkpoint
            minutes = _minutes(r.wall_seconds) + ("*" if r.resumed_from_checkpoint else "")
        epochs = "" if r.epochs_run is None else f"{r.epochs_run} ({r.best_epoch})"
        capped_runs += r.capped
        epochs += ", cap" if r.capped else ""
        score = r.metric("test_log_likelihood")
        where = r.device
        if r.threads is not None:
            where += f", {r.threads} thread{'s' * (r.threads != 1)}"
        cells = [r.run, r.status, where, epochs, minutes]
        cells.append("" if score is None else f"{score:.2f}")
        lines.append(markdown_row(cells))
    finished = sum(r.epochs_run is not None for r in results)
    if finished:  # none yet where every run failed or stopped
        lines.append(
            f"\n{capped_runs} of {finished} trained runs reached the epoch cap (marked cap) "
            "instead of stopping early."
        )
    caps: dict[str, set[int]] = defaultdict(set)  # of each setting and method's capped runs
    for r in results:
        if r.capped and (cap := r.config.get("training", {}).get("epochs")) is not None:
            caps[f"{r.setting}/{r.method}"].add(cap)
    mixed = [f"{name} ({', '.join(map(str, sorted(c)))})" for name, c in caps.items() if len(c) > 1]
    if mixed:
        lines.append(
            f"\nRuns of one method reached different epoch caps: {'; '.join(mixed)}; those "
            "below the highest are still to go on (`--keep-checkpoints`)."
        )
    if partial:
        lines.append("\n\\* wall time after the last resume only (no `training_seconds` recorded).")
    failures = [r for r in sorted(results, key=lambda r: r.run) if r.status == "failed"]
    if failures:
        lines.append("\nWhy runs failed (`result.json` holds the traceback):\n")
        lines += [f"- {r.run}: {failure_line(r)}" for r in failures]
    return "\n".join(lines) + "\n"


def paired_difference(
    results: list[RunResult], setting: str, method: str, key: str, baseline: str = "cvae"
) -> tuple[float, float, int, int, int] | None:
    """``method`` - ``baseline`` in metric ``key`` over the seeds of ``setting`` where both
    finished with a finite score (one seed shares one data split): the mean difference,
    its standard error (nan with one seed), the number of seeds and how many lie above
    and below zero. None where no seed is shared."""

    differences = seed_differences(results, setting, method, key, baseline)
    if not differences:
        return None
    return summarise_differences(np.array(list(differences.values())))


def seed_differences(
    results: list[RunResult], setting: str, method: str, key: str, baseline: str = "cvae"
) -> dict[int, float]:
    """``method`` - ``baseline`` in metric ``key``, by seed, over the seeds of ``setting``
    where both finished with a finite score (in seed order); for a key of
    ``OWN_DIFFERENCES``, ``method``'s own values (each a difference already) on the seeds
    ``baseline`` finished too, so that every column pairs the same seeds."""

    def scores(name: str) -> dict[int, float]:
        found = (
            (r.seed, r.metric(key))
            for r in results
            if r.ok and (r.setting, r.method) == (setting, name)
        )
        return {seed: value for seed, value in found if value is not None and math.isfinite(value)}

    ours = scores(method)
    if key in OWN_DIFFERENCES:
        shared = {r.seed for r in results if r.ok and (r.setting, r.method) == (setting, baseline)}
        return {seed: ours[seed] for seed in sorted(set(ours) & shared)}
    theirs = scores(baseline)
    return {k: ours[k] - theirs[k] for k in sorted(set(ours) & set(theirs))}


def summarise_differences(differences: np.ndarray) -> tuple[float, float, int, int, int]:
    """Paired differences, shape (seeds,): their mean, its standard error (nan with one
    seed), the number of seeds and how many lie above and below zero."""
    n = len(differences)
    error = differences.std(ddof=1) / math.sqrt(n) if n > 1 else math.nan
    above, below = int((differences > 0).sum()), int((differences < 0).sum())
    return float(differences.mean()), float(error), n, above, below


def difference_cell(summary: tuple[float, float, int, int, int], decimals: int = 2) -> str:
    """``+mean ± error (above/below of n)`` of a ``summarise_differences`` summary."""
    mean, error, n, above, below = summary
    spread = "" if math.isnan(error) else f" ± {error:.{decimals}f}"
    return f"{mean:+.{decimals}f}{spread} ({above}/{below} of {n})"


def paired_table(results: list[RunResult], baseline: str = "cvae", headings: bool = True) -> str:
    """Per setting, each method against ``baseline`` seed by seed (``PAIRED`` metrics):
    mean difference ± standard error, then (seeds above / below); each setting's table
    under a ``### SETTING`` heading unless ``headings`` is false. Empty where no method
    shares a seed with the baseline."""
    out = []
    for setting in sorted({r.setting for r in results}):
        methods = sorted(
            {r.method for r in results if r.setting == setting} - {baseline}, key=method_position
        )
        rows = {}
        for method in methods:
            cells = []
            for key, _, decimals in PAIRED:
                found = paired_difference(results, setting, method, key, baseline)
                cells.append("" if found is None else difference_cell(found, decimals))
            if any(cells):
                rows[method] = cells
        if rows:  # without the columns no method has (metrics of other versions)
            kept = [i for i in range(len(PAIRED)) if any(c[i] for c in rows.values())]
            heading = markdown_row(["method", *(PAIRED[i][1] for i in kept)])
            out += [f"### {setting}\n"] if headings else []
            out += [heading, markdown_rule(len(kept) + 1)]
            out += [markdown_row([m, *(c[i] for i in kept)]) for m, c in rows.items()]
            out += [""]
            if any(PAIRED[i][0] in OWN_DIFFERENCES for i in kept):
                out += [OWN_DIFFERENCES_NOTE, ""]
    return "\n".join(out) + "\n" if out else ""
