"""OptunaSearch that also records each trial's constraint values, so Optuna 5's constrained samplers can use them."""

from __future__ import annotations

import math

from ray.tune.search.optuna import OptunaSearch

from search.space import CONSTRAINT_ATTR


class ConstrainedOptunaSearch(OptunaSearch):
    def __init__(self, *args, energy_budget_wh: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.energy_budget_wh = energy_budget_wh

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is not None and result and self.energy_budget_wh is not None:
            energy = result.get("energy_wh")
            if isinstance(energy, int | float) and math.isfinite(energy):
                ot_trial.set_user_attr(CONSTRAINT_ATTR, [float(energy) - self.energy_budget_wh])
        super().on_trial_complete(trial_id, result=result, error=error)
