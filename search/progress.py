"""A line after each finished trial with the front's size and the hypervolume so far, beside Tune's own table, and
one for each trial Tune retries (its own line for that says only that the trial "errored")."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
from ray.tune import Callback

from front.objectives import Objective
from front.pareto import hypervolume, pareto_ranks


class FrontProgress(Callback):
    def __init__(self, objectives: Sequence[Objective], reference_point: Mapping[str, float]):
        self.objectives = list(objectives)
        self.reference_point = dict(reference_point)
        self.finished: dict[str, dict] = {}

    def on_trial_complete(self, iteration: int, trials, trial, **info) -> None:
        result = trial.last_result or {}
        self.finished[trial.trial_id] = {o.metric: result.get(o.metric, math.nan) for o in self.objectives}
        table = pd.DataFrame.from_dict(self.finished, orient="index")
        front_size = int((pareto_ranks(table, self.objectives) == 0).sum())
        hv = hypervolume(table, self.objectives, self.reference_point)
        values = ", ".join(f"{o.metric}={result.get(o.metric, math.nan):.4g}" for o in self.objectives)
        print(
            f"[front] trial {trial.trial_id} done ({values}); {len(table)} finished, "
            f"front {front_size}, hypervolume {hv:.6g}",
            flush=True,
        )

    def on_trial_recover(self, iteration: int, trials, trial, **info) -> None:
        """A trial that failed within `search.max_failures` (its worker or the worker's node lost, an error it
        raised) is not lost: Tune runs it again under the same id, from its last checkpoint if it has one."""
        last = trial.last_result or {}
        start = f"from its checkpoint after epoch {last['epoch']}" if trial.checkpoint and "epoch" in last else ""
        where = f" on {last.get('hostname')} ({last.get('node_ip')})" if "node_ip" in last else ""
        error = Path(trial.error_file).read_text(errors="replace") if trial.error_file else ""
        print(
            f"[retry] trial {trial.trial_id} failed{where}: {failure_reason(error)}; Tune runs it again "
            f"{start or 'from the start'} "
            f"(failure {trial.run_metadata.num_failures} of the {trial.max_failures} search.max_failures allows)",
            flush=True,
        )


def failure_reason(error_text: str) -> str:
    """One line from Tune's error file (one `Failure #N` block per failure) saying why the latest failure came:
    Ray's sentence about a node where the worker's node died, else the exception's own last line."""
    block = error_text.rsplit("Failure #", 1)[-1].splitlines()[1:]
    lines = [line.strip() for line in block if line.strip()]
    if not lines:
        return "no reason recorded"
    about_node = [line for line in lines if "node" in line.lower() and "died" in line.lower()]
    return (about_node or lines)[-1][:300]
