"""Multi-objective asynchronous successive halving (MO-ASHA) as a Ray Tune scheduler.

Ray's ASHA compares trials on one metric and Optuna's pruners are single-objective. Here each rung (an epoch
count) compares the trials that reached it by non-dominated sorting on the rung objectives (by default the
probe-set judge score and the energy spent so far), breaks ties within a front by crowding distance (the
NSGA-II order, as syne-tune's MOASHA does), and stops a trial that lands in the worst `stop_fraction`. As in
ASHA, a trial is judged once per rung, on arrival, against the trials recorded there before it, so no trial
waits for others.

`RungBook` holds the bookkeeping and the decision, free of Ray, so the replay benchmark
(benchmarks/bench_search.py) runs the very same rule; `MultiObjectiveAsha` is the Tune edge.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from common.atomic import write_bytes
from experiment.search_settings import EarlyStoppingConfig
from front.objectives import Objective
from front.pareto import crowding_distance, pareto_ranks

DEFAULT_RUNG_OBJECTIVES: tuple[Objective, ...] = (
    Objective("probe_judge_score", "max"),
    Objective("energy_wh", "min"),
)


def rung_milestones(grace_period: float, reduction_factor: float, max_t: float) -> list[float]:
    """Rung levels grace, grace*rf, grace*rf^2, ... below max_t (a rung at max_t would stop nothing)."""
    if grace_period <= 0 or reduction_factor <= 1 or max_t <= 0:
        raise ValueError(
            f"need grace_period > 0, reduction_factor > 1, max_t > 0; got {grace_period}, {reduction_factor}, {max_t}"
        )
    milestones = []
    level = grace_period
    while level < max_t:
        milestones.append(level)
        level *= reduction_factor
    return milestones


def nsga_order(table: pd.DataFrame, objectives: Sequence[Objective]) -> pd.DataFrame:
    """Pareto rank and crowding distance (computed within each rank) of every row of a finite table."""
    ranks = pareto_ranks(table, objectives)
    crowding = pd.Series(0.0, index=table.index)
    for rank in ranks.dropna().unique():
        members = table[ranks == rank]
        crowding[members.index] = crowding_distance(members, objectives)
    return pd.DataFrame({"rank": ranks, "crowding": crowding})


def keeps(table: pd.DataFrame, trial_id: Any, objectives: Sequence[Objective], stop_fraction: float) -> bool:
    """Whether `trial_id` (a row of `table`, the rung's recorded trials) is outside the worst `stop_fraction`.

    Trials are ordered by Pareto rank, then by crowding distance (larger first). Ties favour the trial being
    judged: it is stopped only if at least ceil(n * (1 - stop_fraction)) trials are strictly ahead of it, so
    two non-dominated trials never stop each other and a lone trial always continues.
    """
    order = nsga_order(table, objectives)
    own = order.loc[trial_id]
    ahead = (order["rank"] < own["rank"]) | ((order["rank"] == own["rank"]) & (order["crowding"] > own["crowding"]))
    keep_count = max(1, math.ceil(len(table) * (1.0 - stop_fraction)))
    return int(ahead.sum()) < keep_count


@dataclass(frozen=True)
class StoppedTrial:
    trial_id: str
    stopped_at: float
    energy_wh: float
    planned_t: float

    @property
    def energy_saved_wh(self) -> float:
        """The energy the remaining epochs would have cost, extrapolated at this trial's own rate so far."""
        if self.stopped_at <= 0 or not math.isfinite(self.energy_wh):
            return 0.0
        return max(0.0, self.energy_wh / self.stopped_at * (self.planned_t - self.stopped_at))


class RungBook:
    """Rung bookkeeping and the stop/continue rule; plain values in and out."""

    def __init__(
        self,
        objectives: Sequence[Objective] = DEFAULT_RUNG_OBJECTIVES,
        grace_period: float = 1,
        reduction_factor: float = 2,
        max_t: float = 3,
        stop_fraction: float | None = None,
    ):
        if len(objectives) < 2:
            raise ValueError(f"multi-objective rungs need at least 2 objectives, got {list(objectives)}")
        # ASHA's default: keep the best 1/reduction_factor of each rung.
        self.stop_fraction = 1.0 - 1.0 / reduction_factor if stop_fraction is None else stop_fraction
        if not 0.0 <= self.stop_fraction < 1.0:
            raise ValueError(f"stop_fraction must be in [0, 1), got {self.stop_fraction}")
        self.objectives = tuple(objectives)
        self.milestones = rung_milestones(grace_period, reduction_factor, max_t)
        self.max_t = max_t
        self.recorded: dict[float, dict[str, tuple[float, ...]]] = {m: {} for m in self.milestones}

    def rung_values(self, metrics: Mapping[str, Any]) -> tuple[float, ...] | None:
        """The rung objectives of a result, or None where any is missing or not finite (never judged on NaN)."""
        values = []
        for objective in self.objectives:
            value = metrics.get(objective.metric)
            if not isinstance(value, int | float) or not math.isfinite(value):
                return None
            values.append(float(value))
        return tuple(values)

    def on_result(self, trial_id: str, t: float, metrics: Mapping[str, Any], final: bool = False) -> bool:
        """Record the trial at the highest rung it has reached and not yet been judged at; True = continue.

        A final result (the trial ends anyway) is recorded, so later trials are compared with it, but never
        stopped. A result without finite rung objectives is neither recorded nor stopped.
        """
        reached = [m for m in self.milestones if m <= t]
        if not reached or trial_id in self.recorded[reached[-1]]:
            return True
        values = self.rung_values(metrics)
        if values is None:
            return True
        rung = self.recorded[reached[-1]]
        rung[trial_id] = values
        if final or len(rung) == 1:
            return True
        table = pd.DataFrame.from_dict(rung, orient="index", columns=[o.metric for o in self.objectives])
        return keeps(table, trial_id, self.objectives, self.stop_fraction)

    def forget(self, trial_id: str) -> None:
        """Drop an errored trial's records: a crash says nothing about its configuration's objectives."""
        for rung in self.recorded.values():
            rung.pop(trial_id, None)


class MultiObjectiveAsha(FIFOScheduler):
    """Ray Tune scheduler: MO-ASHA on the rung objectives, with the energy its stops saved.

    Trials must report `time_attr` (default `epoch`, counting completed epochs) and every rung objective.
    A trial's planned length is its config's `planned_t_key` (default `epochs`) where present, else `max_t`;
    it is used only to estimate the energy saved. Results with `is_final: True` are never stopped.
    """

    def __init__(
        self,
        objectives: Sequence[Objective] = DEFAULT_RUNG_OBJECTIVES,
        time_attr: str = "epoch",
        grace_period: float = 1,
        reduction_factor: float = 2,
        max_t: float = 3,
        stop_fraction: float | None = None,
        energy_metric: str = "energy_wh",
        planned_t_key: str | None = "epochs",
    ):
        super().__init__()
        self.book = RungBook(objectives, grace_period, reduction_factor, max_t, stop_fraction)
        self.time_attr = time_attr
        self.energy_metric = energy_metric
        self.planned_t_key = planned_t_key
        self.stopped: dict[str, StoppedTrial] = {}

    @property
    def energy_saved_wh(self) -> float:
        """Estimated energy not spent thanks to early stops (sum over stopped trials)."""
        return sum(s.energy_saved_wh for s in self.stopped.values())

    def _planned_t(self, trial) -> float:
        config = getattr(trial, "config", None) or {}
        planned = config.get(self.planned_t_key) if self.planned_t_key else None
        return float(planned) if isinstance(planned, int | float) else float(self.book.max_t)

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        t = result.get(self.time_attr)
        if not isinstance(t, int | float):
            return TrialScheduler.CONTINUE
        planned_t = self._planned_t(trial)
        final = bool(result.get("is_final")) or t >= planned_t
        if self.book.on_result(trial.trial_id, t, result, final=final):
            return TrialScheduler.CONTINUE
        energy = result.get(self.energy_metric)
        self.stopped[trial.trial_id] = StoppedTrial(
            trial.trial_id, float(t), float(energy) if isinstance(energy, int | float) else math.nan, planned_t
        )
        return TrialScheduler.STOP

    def on_trial_error(self, tune_controller, trial) -> None:
        self.book.forget(trial.trial_id)

    def debug_string(self) -> str:
        sizes = ", ".join(f"rung {m:g}: {len(r)}" for m, r in self.book.recorded.items())
        return f"MultiObjectiveAsha: {len(self.stopped)} stopped, ~{self.energy_saved_wh:.4g} Wh saved ({sizes})"

    def save(self, checkpoint_path: str) -> None:
        state = {"book": self.book, "stopped": self.stopped}
        write_bytes(Path(checkpoint_path), pickle.dumps(state))

    def restore(self, checkpoint_path: str) -> None:
        state = pickle.loads(Path(checkpoint_path).read_bytes())
        self.book = state["book"]
        self.stopped = state["stopped"]


def rung_settings(stopping: EarlyStoppingConfig, max_t: float) -> dict[str, Any]:
    """The RungBook / MultiObjectiveAsha arguments that a config's `search.early_stopping` means, in one place so
    the search and the replay benchmark build the very same rule."""
    return {
        "objectives": [Objective(o.metric, o.mode) for o in stopping.objectives],
        "grace_period": stopping.grace_period,
        "reduction_factor": stopping.reduction_factor,
        "max_t": max_t,
        "stop_fraction": stopping.stop_fraction,
    }
