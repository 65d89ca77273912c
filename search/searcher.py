"""OptunaSearch that records each trial's constraint values for Optuna 5's constrained samplers, and tells Optuna
that trials stopped early by a scheduler were pruned."""

from __future__ import annotations

from optuna.trial import TrialState
from ray.tune.search.optuna import OptunaSearch

from search.space import record_energy_constraint


class ConstrainedOptunaSearch(OptunaSearch):
    def __init__(self, *args, energy_budget_wh: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.energy_budget_wh = energy_budget_wh

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        ot_trial = self._ot_trials.get(trial_id)
        energy = (result or {}).get("energy_wh")
        if ot_trial is not None and isinstance(energy, int | float):
            record_energy_constraint(ot_trial, energy, self.energy_budget_wh)
        if ot_trial is not None and result and not error and result.get("is_final") is False:
            # Stopped early by a scheduler: its objectives are not final values, so Optuna sees it as pruned
            # (multi-objective samplers skip pruned trials instead of learning from partial scores).
            if trial_id not in self._completed_trials:
                self._ot_study.tell(ot_trial, state=TrialState.PRUNED)
                self._completed_trials.add(trial_id)
            return
        super().on_trial_complete(trial_id, result=result, error=error)
