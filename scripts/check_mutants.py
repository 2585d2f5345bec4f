"""Break each mechanism of the optimal prior (and a few of the library around it) once
and check that the tests catch it.

Every mutant is a copy of ``src/`` with one line changed, tested in a temporary folder
(the working tree is not touched). Prints one row per mutant with the tests that failed;
exits 1 if a mutant survives. Run from the repository root:

    python scripts/check_mutants.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: (what is broken, file under src/optprior, text, replacement, test files)
MUTANTS = [
    (
        "a method reads every setting (other methods' settings tell its checkpoints apart)",
        "models/base.py",
        "        return name in cls.setting_names()",
        "        return True",
        ["test_checkpoint.py"],
    ),
    (
        "encoder cut off from T's gradient (z detached inside T)",
        "priors/optimal.py",
        "self.log_ratio(z).reshape",
        "self.log_ratio(z.detach()).reshape",
        ["test_fidelity.py"],
    ),
    (
        "CVAE ignores s (no task input)",
        "nn/mlp.py",
        "        if self.task_bias is not None:\n            if s is None:",
        "        if False:\n            if s is None:",
        ["test_fidelity.py"],
    ),
    (
        "T's weights in the model's optimiser",
        "training/plans.py",
        "            *module.prior.elbo_parameters(),",
        "            *module.prior.parameters(),",
        ["test_fidelity.py"],
    ),
    (
        "a prior's parameters left out of the ELBO's optimiser",
        "training/plans.py",
        "            *module.prior.elbo_parameters(),\n",
        "",
        ["test_architecture.py"],
    ),
    (
        "T left in dropout mode while scoring",
        "evaluation/bounds.py",
        "    for part in (module, *chosen):\n        part.eval()\n",
        "",
        ["test_fidelity.py"],
    ),
    (
        "ln Z of T estimated with dropout on",
        "priors/optimal.py",
        "        self.eval()\n        with seeded_torch",
        "        with seeded_torch",
        ["test_fidelity.py"],
    ),
    (
        "annealed ln Z of T with dropout on",
        "priors/optimal.py",
        "        self.eval()\n        dtype = self.discriminator.input.linear.weight.dtype\n\n",
        "        dtype = self.discriminator.input.linear.weight.dtype\n\n",
        ["test_fidelity.py"],
    ),
    (
        "annealed ln Z: every Langevin move accepted (no Metropolis correction)",
        "priors/normalizer.py",
        "accept = torch.rand_like(log_accept).log() < log_accept",
        "accept = torch.ones_like(log_accept, dtype=torch.bool)",
        ["test_normalizer.py"],
    ),
    (
        "annealed ln Z: a step's weight taken at the chains after its move",
        "priors/normalizer.py",
        "        point, accepted = _mala_move(path, point, float(betas[t]), step)\n",
        "        point, accepted = _mala_move(path, point, float(betas[t]), step)\n"
        "        log_weights += (betas[t] - betas[t - 1]).item() * point.ratio.to(torch.float64)\n",
        ["test_normalizer.py"],
    ),
    (
        "ln Z's importance weights without the proposal's density",
        "priors/optimal.py",
        "standard_normal_log_prob(z) + t - proposal.log_prob(z)",
        "standard_normal_log_prob(z) + t - standard_normal_log_prob(z)",
        ["test_discriminator.py"],
    ),
    (
        "a point held twice in the mixture prior's recent subset",
        "training/mixture.py",
        "        log_weights[older], owners[older] = -math.inf, -1\n",
        "",
        ["test_mixture_prior.py"],
    ),
    (
        "importance sampling ignores T",
        "module/vae.py",
        'without_prior + checked_shape(p.log_prob(z), z.shape[:-1], p, "log_prob")',
        "without_prior - 0.5 * (z.pow(2).sum(-1) + z.shape[-1] * 1.8379)",
        ["test_fidelity.py"],
    ),
    (
        "the mixture prior's own posterior not left out",
        "training/mixture.py",
        "self.own = owners[None, :] == batch[:, None]",
        "self.own = owners[None, :] < 0",
        ["test_mixture_prior.py"],
    ),
    (
        "the point's own posterior left out where it should be included",
        "training/mixture.py",
        "            log_p = torch.logaddexp(self.own_log_weights + log_q, rest + log_p)",
        "            log_p = rest + log_p",
        ["test_mixture_prior.py"],
    ),
    (
        "the mixture prior's weights ignored",
        "priors/mixture.py",
        "constant = log_weights - 0.5",
        "constant = -math.log(mu.shape[0]) - 0.5",
        ["test_mixture_prior.py"],
    ),
    (
        "the HSIC penalty blind to the task",
        "evaluation/invariance.py",
        "same_task = (s[:, None] == s[None, :]).to(gram.dtype)",
        "same_task = torch.ones_like(gram)",
        ["test_penalties.py"],
    ),
    (
        "the post-hoc T's checkpoint resumed from another CVAE's",
        "models/methods.py",
        "saving = self._checkpoint(checkpoint, cvae=cvae_weights)",
        "saving = self._checkpoint(checkpoint)",
        ["test_checkpoint.py"],
    ),
    (
        "a fit finished at a lower epoch cap not gone on under a higher one",
        "training/trainer.py",
        "            progress.finished = progress.next_epoch >= cap",
        "            pass",
        ["test_checkpoint.py"],
    ),
    (
        "a sweep under a higher epoch cap scores the lower cap's model.pt",
        "experiments/runner.py",
        '        (folder / "model.pt").unlink(missing_ok=True)\n',
        "        pass\n",
        [
            "test_experiments.py::"
            "test_a_higher_cap_trains_the_runs_that_reached_theirs_on_from_kept_checkpoints"
        ],
    ),
    (
        "the prior's gain not moved with a new ln Z",
        "experiments/evaluate.py",
        '"val_log_likelihood", "prior_gain")',
        '"val_log_likelihood")',
        ["test_own_data.py::test_compare_trains_scores_tabulates_skips_and_rescores_finished_runs"],
    ),
    (
        "the N(0, I) score of the same networks drawn apart from the prior's own",
        "experiments/evaluate.py",
        "            standard_score = float(scored[1].mean())",
        "            standard_score = float(\n"
        "                model.score_samples(x_score, test.s, config.n_samples, None, priors)"
        "[1].mean()\n"
        "            )",
        ["test_posthoc_prior.py"],
    ),
    (
        "a within-run difference paired with the CVAE's",
        "experiments/tables.py",
        'OWN_DIFFERENCES = frozenset({"prior_gain"})',
        "OWN_DIFFERENCES: frozenset[str] = frozenset()",
        ["test_paired_figure.py"],
    ),
    (
        "T never trained (its passes skipped)",
        "training/density_ratio.py",
        "            for _ in range(passes):",
        "            for _ in range(0):",
        ["test_theorems.py"],
    ),
    (
        "a point's importance samples drawn with the points beside it (no stream of its own)",
        "evaluation/bounds.py",
        "        streams = None if seed is None else point_streams(xb, sb, seed)\n"
        "        for noise",
        "        streams = None\n        for noise",
        ["test_estimators.py::test_a_points_score_does_not_depend_on_the_points_scored_with_it"],
    ),
    (
        "the median heuristic of a one-point batch (HSIC, MMD penalties): no pair, nan",
        "evaluation/invariance.py",
        "pairs.median().clamp_min(1e-12) if pairs.numel() else distances.new_ones(())",
        "pairs.median().clamp_min(1e-12)",
        ["test_penalties.py"],
    ),
    (
        "a sweep that lost its run's lock to another process trains on",
        "training/trainer.py",
        "            if reason := abandoned():",
        "            if (reason := abandoned()) and False:",
        ["test_run_lock.py"],
    ),
    (
        "SIGTERM does not stop a fit (only a time limit does)",
        "training/stopping.py",
        "    return _asked or (deadline is not None and time.time() >= deadline)",
        "    return deadline is not None and time.time() >= deadline",
        ["test_stopping.py"],
    ),
    (
        "scoring goes on to its end after SIGTERM",
        "experiments/runner.py",
        '        with interruptible("trained, not scored"):',
        "        if True:",
        [
            "test_own_data.py::test_sigterm_stops_a_sweep_as_a_time_limit_passing_then_and_the_same_command_goes_on"
        ],
    ),
    (
        "the kept epoch's weights copied by reference (the model ends at its last epoch)",
        "training/trainer.py",
        "progress.best_state = copy.deepcopy(self.module.state_dict())",
        "progress.best_state = self.module.state_dict()",
        ["test_estimators.py::test_the_kept_epochs_weights_are_restored"],
    ),
    (
        "balanced task weights never reach T's loss",
        "training/density_ratio.py",
        "        self.task_weights = task_weights(s, self.settings.task_weights)",
        "        self.task_weights = None",
        ["test_estimators.py::test_balanced_task_weights_reach_the_prior_fit"],
    ),
    (
        "a probe's predicted task weighs the larger tasks (argmax p(s | z))",
        "evaluation/metrics.py",
        "classes[(probabilities / frequencies).argmax(1)]",
        "classes[probabilities.argmax(1)]",
        ["test_metrics.py"],
    ),
    (
        "HSIC's Gram matrix centred on one side only",
        "evaluation/invariance.py",
        " - gram.mean(1, keepdim=True) + gram.mean()",
        "",
        ["test_penalties.py"],
    ),
    (
        "Theorem 1's I(S;Z) and within-task information swapped",
        "evaluation/information.py",
        '"task_information": float((log_q_task - log_q).mean()),\n        "aggregate_kl"',
        '"task_information": float((log_q_point - log_q_task).mean()),\n        "aggregate_kl"',
        ["test_theorems.py"],
    ),
    (
        "seeded importance draws read from each point's stream in pieces the memory budget sets",
        "evaluation/bounds.py",
        "    block = piece if streams is None else SAMPLES_PER_CHUNK",
        "    block = piece",
        ["test_linear_gaussian.py"],
    ),
    (
        "a finished run reused whatever dataset files it was scored on",
        "experiments/runner.py",
        "                other_files(run, finished, read_now)",
        "                pass",
        [
            "test_experiments.py::test_a_finished_run_scored_on_other_dataset_files_is_refused_not_reused",
            "test_experiments.py::test_a_grid_run_scored_on_other_dataset_files_is_refused_by_tune",
        ],
    ),
    (
        "--tune reused its grid runs whatever configuration or dataset files made them",
        "experiments/tuning.py",
        "    refuse_any(\n        stored_results(",
        "    (\n        stored_results(",
        ["test_experiments.py::test_a_grid_run_scored_on_other_dataset_files_is_refused_by_tune"],
    ),
    (
        "a dataset's training and test splits read from two variants where one is incomplete",
        "data/datasets.py",
        "    for splits in (SPLITS, (split,)):",
        "    for splits in ((split,),):",
        ["data/test_data_load.py"],
    ),
    (
        "a worker found dead when given its next run ends the sweep (not replaced)",
        "experiments/executors.py",
        "                except BrokenProcessPool:\n                    workers.remove(worker)",
        "                except ZeroDivisionError:\n                    workers.remove(worker)",
        ["test_experiments.py::test_a_worker_found_dead_when_given_its_next_run_is_replaced"],
    ),
    (
        "the sweep's own stop counts as a worker's first SIGTERM (the job's then interrupts)",
        "experiments/executors.py",
        "    if _TERMINATED or (_STOPPING is not None",
        "    if stop_asked() or _TERMINATED or (_STOPPING is not None",
        ["test_experiments.py::test_a_batch_jobs_sigterm_after_the_sweeps_own_stop_is_the_first"],
    ),
    (
        "the tasks a Pipeline routes by keyword are dropped",
        "models/base.py",
        '    by_name = routed.pop("s", None)\n',
        '    by_name = routed.pop("s", None) and None\n',
        ["test_estimators.py::test_a_pipeline_passes_the_tasks_to_fit_score_and_routed_transform"],
    ),
    (
        "the resource tracker started inside the block holding signals as workers start",
        "experiments/executors.py",
        '        if os.name == "posix":  # started outside',
        "        if False:  # started outside",
        [
            "test_experiments.py::"
            "test_workers_start_with_the_signals_held_though_a_queue_starts_the_resource_tracker"
        ],
    ),
]


def run(mutant: tuple[str, str, str, str, list[str]], folder: Path) -> list[str]:
    """The tests that fail with ``mutant`` applied to a copy of src/ in ``folder``."""
    _, path, text, replacement, tests = mutant
    source = folder / "src"
    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(REPO / "src", source)
    target = source / "optprior" / path
    code = target.read_text()
    if code.count(text) != 1:
        raise SystemExit(f"{path}: the text to mutate is not there once; update {__file__}")
    target.write_text(code.replace(text, replacement))
    env = {**os.environ, "PYTHONPATH": str(source)}
    # -m "": the slow tests too, which the default run leaves out
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", "-m", ""]
    command += tests
    out = subprocess.run(
        command, cwd=REPO / "tests", env=env, capture_output=True, text=True, check=False
    ).stdout
    return [
        line.split()[1].split("::")[-1] for line in out.splitlines() if line.startswith("FAILED")
    ]


def main() -> int:
    survivors = 0
    print("| mutant | tests that fail |\n|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for mutant in MUTANTS:
            failed = run(mutant, Path(folder))
            survivors += not failed
            print(f"| {mutant[0]} | {', '.join(failed) or 'NONE: the mutant survives'} |")
    return 1 if survivors else 0


if __name__ == "__main__":
    raise SystemExit(main())
