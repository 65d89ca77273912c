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
from front.uncertainty import (
    JUDGE_METRIC,
    VAL_LOSS,
    FrontUncertainty,
    compute_front_uncertainty,
    describe,
    interval_metrics,
    search_metrics,
)
from reports.judged_items import score_matrix
from search.judged_items import BASELINE_ROW

# Trial metrics shown beside the objectives in the front and trial tables.
RESULT_COLUMNS = (
    "judge_score", "judge_score_ci_low", "judge_score_ci_high", "front_probability", "judge_rank_ci_low",
    "judge_rank_ci_high", "energy_wh", "val_loss", "train_loss", "energy_eval_wh", "train_seconds", "train_tokens",
    "answer_repetition", "answer_truncated_share", "answer_distinct_2",
)  # fmt: skip


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
    # The paired bootstrap over judge items (front/uncertainty.py): every trial's score interval and chance of
    # being on the front, the knee's stability and ties, the hypervolume's interval; None without judged items.
    uncertainty: FrontUncertainty | None = None

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


def with_uncertainty(
    front: Front, items: pd.DataFrame, reference_point: Mapping[str, float] | None, seed: int = 0
) -> Front:
    """The front with its paired bootstrap over the judged items (`search/judged_items.py`'s long table): the
    completed trials' rows and the baseline's (as a row that is compared but not ranked). Unchanged where the
    objectives have no judge score or no completed trial has judged items."""
    metrics = [o.metric for o in front.objectives]
    if JUDGE_METRIC not in metrics or items.empty or front.done.empty:
        return front
    done_ids = set(front.done["trial_id"].astype(str))
    scores, scenarios = score_matrix(items, done_ids | {BASELINE_ROW})
    if not done_ids & set(scores.index):
        return front
    table = front.done.assign(trial_id=front.done["trial_id"].astype(str)).set_index("trial_id")
    columns = [c for c in (*metrics, VAL_LOSS) if c in table.columns and c != JUDGE_METRIC]
    uncertainty = compute_front_uncertainty(
        scores,
        scenarios,
        table.reindex(scores.index)[columns],
        front.objectives,
        reference_point,
        baseline=BASELINE_ROW if BASELINE_ROW in scores.index else None,
        seed=seed,
    )
    front = dataclasses.replace(front, uncertainty=uncertainty)
    intervals = pd.DataFrame.from_dict(trial_intervals(front), orient="index")
    done = front.done.copy()
    for column in intervals.columns:  # the paired figures replace what a trial computed alone (equal but rounding)
        done[column] = done["trial_id"].astype(str).map(intervals[column])
    columns = [*front.columns[: front.columns.index(RANK_COLUMN)], *RESULT_COLUMNS, RANK_COLUMN]
    return dataclasses.replace(
        front, done=done, columns=tuple(c for c in dict.fromkeys(columns) if c in done.columns)
    )


def trial_intervals(front: Front) -> dict[str, dict[str, float]]:
    """Per completed trial (by trial id), the interval metrics its MLflow run gets: `judge_score_ci_low/high`,
    `judge_rank_ci_low/high`, `front_probability` (the point `judge_score` is the trial's own)."""
    if front.uncertainty is None:
        return {}
    out = {}
    for row in front.uncertainty.trials:
        if row.trial != front.uncertainty.baseline:
            metrics = interval_metrics(front.uncertainty, row.trial)
            metrics.pop(JUDGE_METRIC)
            out[str(row.trial)] = metrics
    return out



def best_trial(front: Front) -> str | None:
    """The completed trial with the highest judge score (None when none was scored)."""
    scores = pd.to_numeric(front.done.get(JUDGE_METRIC, pd.Series(dtype=float)), errors="coerce")
    return None if scores.notna().sum() == 0 else str(front.done.loc[scores.idxmax(), "trial_id"])


def _triple(interval) -> list[float]:
    return [interval.estimate, interval.low, interval.high]


def uncertainty_record(front: Front) -> dict | None:
    """The bootstrap's findings as plain JSON-ready values for the parent run and the report: the sentences that say
    which differences are resolved, the knee's ties (alternatives, cheaper flagged), the items needed to resolve the
    knee against its nearest rival (an estimate), the best trial against the baseline, and the parent's metrics."""
    u = front.uncertainty
    if u is None:
        return None
    best = best_trial(front)
    record: dict = {
        "confidence": u.confidence,
        "n_replicates": u.n_replicates,
        "n_items": u.n_items,
        "n_scenarios": u.n_scenarios,
        "sentences": describe(u),
        "metrics": search_metrics(u),
        "knee": None,
        "best_vs_baseline": None,
    }
    if u.knee is not None:
        resolve = u.knee.items_to_resolve
        record["knee"] = {
            "trial": str(u.knee.trial),
            "stability": u.knee.stability,
            "alternatives": [
                {"trial": str(a.trial), "cheaper": a.cheaper, "difference": _triple(a.difference.difference)}
                for a in u.knee.alternatives
            ],
            "items_to_resolve_estimate": None
            if resolve is None
            else {"rival": str(resolve.rival), "n_items": resolve.n_items_needed, "n_items_now": resolve.n_items_now},
        }
    if best is not None and u.baseline is not None and best in {str(t.trial) for t in u.trials}:
        pair = u.difference(best, u.baseline)
        record["best_vs_baseline"] = {
            "trial": best,
            "difference": _triple(pair.difference),
            "resolved": pair.resolved,
            "n_items": pair.n_items,
        }
        record["metrics"].update(
            best_minus_baseline_judge_score=pair.difference.estimate,
            best_minus_baseline_judge_score_ci_low=pair.difference.low,
            best_minus_baseline_judge_score_ci_high=pair.difference.high,
        )
    return record


def power_limit_savings_of(front: Front, space: Iterable[str]) -> list:
    """Energy each completed trial at a lowered GPU power limit saved against default-limit trials (per training
    token, trainables/energy.py); empty unless the search space has a `gpu_power_limit_w` dimension."""
    from trainables.energy import power_limit_savings

    space = list(space)
    if "gpu_power_limit_w" not in space or front.done.empty:
        return []
    rows = front.done.astype(object).where(front.done.notna(), None).to_dict("records")
    return power_limit_savings(rows, tuple(k for k in space if k != "gpu_power_limit_w"))
