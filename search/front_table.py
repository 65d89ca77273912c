"""The search's trials as a table and its Pareto front, computed: pure functions over DataFrames, nothing written.

`search/recording.py` writes what these compute (files, MLflow, the report).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from front.objectives import Objective
from front.pareto import RANK_COLUMN, hypervolume, hypervolume_curve, knee_point, pareto_ranks

# Trial metrics shown beside the objectives in the front and trial tables.
RESULT_COLUMNS = ("judge_score", "energy_wh", "val_loss", "train_loss", "energy_eval_wh", "train_seconds")


def _status(result, metrics: dict) -> str:
    if result.error:
        return "FAILED"
    # A trial an early-stopping scheduler stopped reported intermediate epochs only: no final judge score.
    return "STOPPED" if metrics.get("is_final") is False else "COMPLETED"


def trial_table(results) -> pd.DataFrame:
    """One row per trial of a Tune ResultGrid (from a finished Tuner or read back from Tune's storage)."""
    rows = []
    for result in results:
        metrics = dict(result.metrics or {})
        rows.append(
            {
                "trial_id": metrics.get("trial_id") or (result.path and Path(result.path).name),
                "status": _status(result, metrics),
                "error": f"{type(result.error).__name__}: {result.error}"[:300] if result.error else "",
                **dict(result.config or {}),
                **{k: v for k, v in metrics.items() if not isinstance(v, dict) and k != "config"},
            }
        )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Front:
    trials: pd.DataFrame  # every trial, with its status
    done: pd.DataFrame  # the completed ones, with pareto_rank (NaN: excluded for a NaN objective)
    columns: tuple[str, ...]  # what the CSVs and the MLflow front table show
    objectives: tuple[Objective, ...]
    hypervolume: float
    curve: tuple[float, ...]  # hypervolume after each completed trial, in finishing order
    knee: Hashable | None  # index label in `done`

    @property
    def rows(self) -> pd.DataFrame:
        """The front, best first on the first objective, in the columns the tables show."""
        first = self.objectives[0]
        members = self.done[self.done[RANK_COLUMN] == 0]
        return members.sort_values(first.metric, ascending=first.mode == "min")[list(self.columns)]

    @property
    def table(self) -> pd.DataFrame:
        """Every completed trial in the columns the tables show."""
        return self.done[list(self.columns)]


def compute_front(
    trials: pd.DataFrame,
    objectives: Sequence[Objective],
    reference_point: Mapping[str, float],
    space: Iterable[str] = (),
) -> Front:
    """Ranks, hypervolume (and its curve over finishing order) and knee of the completed trials."""
    metrics = [o.metric for o in objectives]
    done = trials[trials["status"] == "COMPLETED"].copy() if not trials.empty else trials.copy()
    for m in metrics:
        if m not in done.columns:
            done[m] = math.nan
    done[RANK_COLUMN] = pareto_ranks(done, objectives)
    ordered = done.sort_values("date") if "date" in done.columns else done
    curve = hypervolume_curve(ordered, objectives, reference_point)["hypervolume"]
    columns = ["trial_id", "mlflow_run_id", "origin", *space, *metrics, *RESULT_COLUMNS, "energy_source", RANK_COLUMN]
    return Front(
        trials=trials,
        done=done,
        columns=tuple(c for c in dict.fromkeys(columns) if c in done.columns),
        objectives=tuple(objectives),
        hypervolume=hypervolume(done, objectives, reference_point),
        curve=tuple(float(v) for v in curve),
        knee=knee_point(done, objectives),
    )


def with_run_ids(front: Front, run_of: Mapping[str, str]) -> Front:
    """The same front with each trial's MLflow run id (from MLflow itself: an offline trial reported none)."""
    done = front.done.copy()
    done["mlflow_run_id"] = done["trial_id"].map(run_of) if not done.empty else pd.Series(dtype=str)
    columns = front.columns
    if "mlflow_run_id" not in columns:
        columns = (columns[0], "mlflow_run_id", *columns[1:])
    return dataclasses.replace(front, done=done, columns=columns)


def knee_run_id(front: Front) -> str | None:
    if front.knee is None or "mlflow_run_id" not in front.done.columns:
        return None
    run_id = front.done.loc[front.knee, "mlflow_run_id"]
    return run_id if isinstance(run_id, str) else None


def energy_sources(trials: pd.DataFrame) -> list[str]:
    return sorted(set(trials.get("energy_source", pd.Series(dtype=str)).dropna().astype(str)))


def energy_source_label(trials: pd.DataFrame) -> str:
    return "; ".join(energy_sources(trials)) or "none"


def total_energy_wh(trials: pd.DataFrame) -> float:
    return float(pd.to_numeric(trials.get("energy_wh", pd.Series(dtype=float)), errors="coerce").sum())


def status_counts(front: Front) -> dict[str, int]:
    status = front.trials["status"] if not front.trials.empty else pd.Series(dtype=str)
    return {
        "completed": int(len(front.done)),
        "failed": int((status == "FAILED").sum()),
        "stopped": int((status == "STOPPED").sum()),
        "excluded": int(front.done[RANK_COLUMN].isna().sum()),
    }


def best_judge_score(front: Front) -> float:
    best = pd.to_numeric(front.done.get("judge_score", pd.Series(dtype=float)), errors="coerce").max()
    return float(best) if pd.notna(best) else math.nan
