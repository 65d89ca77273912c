"""The end of a search: the Pareto front written to local files first, then recorded in MLflow.

Local files come first so that an MLflow outage loses nothing: the front and trial tables are on disk (and every
trial's results in Tune's storage), the report is built from them, and `python -m search.run --resync NAME`
finishes the MLflow part once the server answers again.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from common.atomic import write_text
from experiment.config import ExperimentConfig
from front.objectives import Objective
from front.pareto import hypervolume, hypervolume_curve, knee_point, pareto_ranks
from search.tracking import child_runs, log_front, register_adapter

log = logging.getLogger(__name__)
RESULT_COLUMNS = ("judge_score", "energy_wh", "val_loss", "train_loss", "energy_eval_wh", "train_seconds")
FRONT_CSV = "pareto_front.csv"
TRIALS_CSV = "trials.csv"
BASELINE_JSON = "baseline.json"
TIMINGS_JSON = "timings.json"


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


@dataclass
class Front:
    trials: pd.DataFrame  # every trial, with its status
    done: pd.DataFrame  # the completed ones, with pareto_rank (NaN: excluded for a NaN objective)
    columns: list[str]  # what the CSVs and the MLflow front table show
    hypervolume: float
    curve: list[float]  # hypervolume after each completed trial, in finishing order
    knee: Any  # index label in `done`, or None
    out_dir: Path

    @property
    def rows(self) -> pd.DataFrame:
        return self.done[self.done["pareto_rank"] == 0]

    @property
    def csv(self) -> Path:
        return self.out_dir / FRONT_CSV


def compute_front(config: ExperimentConfig, trials: pd.DataFrame, objectives: list[Objective]) -> Front:
    """Ranks, hypervolume and knee of the completed trials; writes pareto_front.csv, trials.csv and pareto.html."""
    metrics = [o.metric for o in objectives]
    done = trials[trials["status"] == "COMPLETED"].copy() if not trials.empty else trials.copy()
    for m in metrics:
        if m not in done.columns:
            done[m] = math.nan
    done["pareto_rank"] = pareto_ranks(done, objectives)
    ordered = done.sort_values("date") if "date" in done.columns else done
    curve = hypervolume_curve(ordered, objectives, config.search.reference_point)["hypervolume"].tolist()
    columns = [
        "trial_id", "mlflow_run_id", "origin", *config.search.space, *metrics, *RESULT_COLUMNS, "energy_source",
        "pareto_rank",
    ]  # fmt: skip
    front = Front(
        trials=trials,
        done=done,
        columns=[c for c in dict.fromkeys(columns) if c in done.columns],
        hypervolume=hypervolume(done, objectives, config.search.reference_point),
        curve=[float(v) for v in curve],
        knee=knee_point(done, objectives),
        out_dir=_out_dir(config),
    )
    write_tables(front, objectives)
    _write_interactive_pareto(front, objectives, config.experiment.name)
    return front


def front_rows(front: Front, objectives: list[Objective]) -> pd.DataFrame:
    """The front, best first on the first objective, in the columns the tables show."""
    rows = front.rows.sort_values(objectives[0].metric, ascending=objectives[0].mode == "min")
    return rows[front.columns]


def write_tables(front: Front, objectives: list[Objective]) -> None:
    write_text(front.csv, front_rows(front, objectives).to_csv(index=False))
    done = front.done[front.columns]
    write_text(front.out_dir / TRIALS_CSV, done.to_csv(index=False) if not done.empty else "")


def _write_interactive_pareto(front: Front, objectives: list[Objective], name: str) -> None:
    from reports.interactive import pareto_html

    x, y = objectives[1].metric, objectives[0].metric
    estimated = any(s.startswith("estimate") for s in energy_sources(front.done))
    page = pareto_html(
        front.done,
        x,
        y,
        front.done["pareto_rank"] == 0,
        front.columns,
        f"Pareto front of {name}",
        x_label=f"{x} (estimate)" if estimated and x == "energy_wh" else x,
    )
    write_text(front.out_dir / "pareto.html", page)


def energy_sources(trials: pd.DataFrame) -> list[str]:
    return sorted(set(trials.get("energy_source", pd.Series(dtype=str)).dropna().astype(str)))


def record_in_mlflow(config, client, experiment_id: str, parent_run_id: str, front: Front, objectives) -> str | None:
    """The front on the parent run and each trial's rank on its child run; returns the registered knee model."""
    # Run ids come from MLflow itself: a trial that was offline reported none, and --resync created its run later.
    runs = child_runs(client, experiment_id, parent_run_id)
    run_of = dict(zip(runs["trial_id"], runs["run_id"], strict=True)) if not runs.empty else {}
    done = front.done
    done["mlflow_run_id"] = done["trial_id"].map(run_of) if not done.empty else pd.Series(dtype=str)
    if "mlflow_run_id" not in front.columns:
        front.columns.insert(1, "mlflow_run_id")
    write_tables(front, objectives)
    for _, row in done.iterrows():
        if isinstance(row["mlflow_run_id"], str):
            rank = row["pareto_rank"]
            client.set_tag(row["mlflow_run_id"], "pareto_rank", "" if pd.isna(rank) else str(int(rank)))
    log_front(client, parent_run_id, front_rows(front, objectives), front.csv, objectives)
    client.log_artifact(parent_run_id, str(front.out_dir / "pareto.html"), "pareto")
    for step, value in enumerate(front.curve, start=1):
        client.log_metric(parent_run_id, "hypervolume_curve", value, step=step)
    client.log_metric(parent_run_id, "hypervolume", front.hypervolume)
    client.log_metric(parent_run_id, "front_size", len(front.rows))
    client.log_metric(parent_run_id, "total_energy_wh", total_energy_wh(front.trials))
    client.set_tag(parent_run_id, "energy_source", "; ".join(energy_sources(front.trials)) or "none")
    if front.knee is None or not isinstance(done.loc[front.knee, "mlflow_run_id"], str):
        return None
    knee_run = done.loc[front.knee, "mlflow_run_id"]
    client.set_tag(parent_run_id, "knee_run_id", knee_run)
    try:
        version = register_adapter(client, knee_run, f"{config.experiment.name}-knee")
    except Exception as err:  # the front is recorded either way; registration is a convenience
        log.warning("could not register the knee adapter: %s", err)
        return None
    return f"{config.experiment.name}-knee v{version}"


def _out_dir(config: ExperimentConfig) -> Path:
    return (config.paths.reports_dir / config.experiment.name).resolve()


def write_baseline(config: ExperimentConfig, out: dict[str, Any]) -> None:
    """The untuned baseline's scores and answers on disk too: Tune's storage does not hold them, and MLflow may be
    unreachable when the search ends."""
    payload = {"metrics": out["metrics"], "items": out["items"].to_dict(orient="records")}
    write_text(_out_dir(config) / BASELINE_JSON, json.dumps(payload, default=str))


def write_timings(config: ExperimentConfig, stages: dict[str, float]) -> None:
    """Where the search's wall time went (setup, trials, recording) and the driver's CPU, for whoever tunes the
    harness (benchmarks/bench_overhead.py reads it)."""
    write_text(_out_dir(config) / TIMINGS_JSON, json.dumps({f"{k}_seconds": v for k, v in stages.items()}, indent=1))


def read_baseline(config: ExperimentConfig) -> dict[str, Any] | None:
    path = _out_dir(config) / BASELINE_JSON
    if not path.is_file():
        return None
    payload = json.loads(path.read_text())
    return {"metrics": payload["metrics"], "items": pd.DataFrame(payload["items"])}


def record_baseline(client, parent_run_id: str, out: dict[str, Any]) -> None:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = [
        Metric(f"baseline_{k}", float(v), now, 0)
        for k, v in out["metrics"].items()
        if isinstance(v, int | float) and math.isfinite(v)
    ]
    client.log_batch(parent_run_id, metrics=metrics)
    client.log_table(parent_run_id, data=out["items"], artifact_file="baseline/judge_answers.json")


def finish_in_mlflow(
    config, client, tracking_uri: str, experiment_id: str, parent_run_id: str, front: Front, objectives
) -> dict[str, Any]:
    """Front, report and the parent run's end: the MLflow half of a search's end (driver or --resync)."""
    registered = record_in_mlflow(config, client, experiment_id, parent_run_id, front, objectives)
    report = build_search_report(config, tracking_uri, front, objectives)
    client.set_terminated(parent_run_id, "FINISHED")
    return {"registered_model": registered, "report": report}


def total_energy_wh(trials: pd.DataFrame) -> float:
    return float(pd.to_numeric(trials.get("energy_wh", pd.Series(dtype=float)), errors="coerce").sum())


def front_summary(config: ExperimentConfig, front: Front) -> dict[str, Any]:
    trials, done = front.trials, front.done
    best = pd.to_numeric(done.get("judge_score", pd.Series(dtype=float)), errors="coerce").max()
    status = trials["status"] if not trials.empty else pd.Series(dtype=str)
    return {
        "completed": int(len(done)),
        "failed": int((status == "FAILED").sum()),
        "stopped": int((status == "STOPPED").sum()),
        "excluded": int(done["pareto_rank"].isna().sum()),
        "front_size": int(len(front.rows)),
        "hypervolume": front.hypervolume,
        "reference_point": dict(config.search.reference_point),
        "front_csv": str(front.csv),
        "total_energy_wh": total_energy_wh(trials),
        "energy_source": "; ".join(energy_sources(trials)) or "none",
        "best_judge_score": float(best) if pd.notna(best) else math.nan,
        "knee_trial": None if front.knee is None else done.loc[front.knee].get("trial_id"),
        "registered_model": None,
    }


def build_search_report(
    config: ExperimentConfig, tracking_uri: str, front: Front, objectives, baseline_judge_score: float | None = None
) -> str | None:
    """The human-readable report: from MLflow, or from trials.csv when MLflow is unreachable (`--resync` rebuilds
    it from MLflow later). A failure here must not lose the search, which is recorded already."""
    from reports import csv_source
    from reports.build import build_report, write_report

    name = config.experiment.name
    reports_dir = config.paths.reports_dir.resolve()
    try:
        if tracking_uri:
            return str(build_report(name, tracking_uri, reports_dir))
        study = csv_source.load_study(front.out_dir / TRIALS_CSV, objectives, dict(config.search.reference_point))
        study = replace(
            study,
            name=name,
            baseline_judge_score=baseline_judge_score,
            environment={
                "source": f"{TRIALS_CSV} (MLflow was unreachable)",
                "energy_source": "; ".join(energy_sources(front.trials)) or "none",
            },
        )
        return str(write_report(study, reports_dir))
    except Exception as err:
        log.warning("report not built (%s: %s); rerun: python -m reports.build %s", type(err).__name__, err, name)
        return None
