"""A sweep stopped by Ctrl+C, for ``test_experiments``: ``python interrupted_sweep.py
OUT`` trains four runs that only sleep, in two worker processes. Each run writes
OUT/started-<method>-<seed> as it starts; the sweep exits with 130 once stopped."""

import sys
import time
from pathlib import Path

from optprior.experiments.executors import local_executor
from optprior.experiments.reproduce import configs_for
from optprior.experiments.runner import Run, plan, run_sweep


class SleepingRun(Run):
    """A run that sleeps for ten minutes where it would load its data."""

    def load_data(self):
        (Path(self.out) / f"started-{self.method}-{self.seed}").touch()
        time.sleep(600)


if __name__ == "__main__":
    out = Path(sys.argv[1])
    (config,) = configs_for(
        "usps-mnist", file_overrides={"seeds": 2, "methods": ["cvae", "optimal"]}
    )
    runs = [SleepingRun(**vars(run)) for run in plan(config, out)]
    print("sweeping", flush=True)
    try:
        run_sweep(runs, local_executor(2))
    except KeyboardInterrupt:
        sys.exit(130)
