"""A line after each finished trial with the front's size and the hypervolume so far, beside Tune's own table."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

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
