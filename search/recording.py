"""The end of a search, written: the front's files first, then MLflow, then the report.

Local files come first so that an MLflow outage loses nothing: the front and trial tables are on disk (and every
trial's results in Tune's storage), the report is built from them, and `python -m search.run --resync NAME`
finishes the MLflow part once the server answers again. What is written is computed in search/front_table.py.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from common.atomic import write_text
from experiment.config import ExperimentConfig
from front.pareto import RANK_COLUMN
from search.front_table import (
    Front,
    energy_source_label,
    energy_sources,
    knee_run_id,
    total_energy_wh,
    with_run_ids,
)
from search.storage import reports_dir
from search.tracking import child_runs, log_front, register_adapter

log = logging.getLogger(__name__)
FRONT_CSV = "pareto_front.csv"
TRIALS_CSV = "trials.csv"
PARETO_HTML = "pareto.html"
BASELINE_JSON = "baseline.json"
TIMINGS_JSON = "timings.json"


def write_front_files(front: Front, out_dir: Path, name: str) -> Path:
    """pareto_front.csv, trials.csv and the interactive pareto.html; returns the front CSV's path."""
    from reports.interactive import pareto_html

    write_text(out_dir / FRONT_CSV, front.rows.to_csv(index=False))
    write_text(out_dir / TRIALS_CSV, front.table.to_csv(index=False) if not front.done.empty else "")
    y, x = front.objectives[0].metric, front.objectives[1].metric
    estimated = any(s.startswith("estimate") for s in energy_sources(front.done))
    page = pareto_html(
        front.done,
        x,
        y,
        front.done[RANK_COLUMN] == 0,
        list(front.columns),
        f"Pareto front of {name}",
        x_label=f"{x} (estimate)" if estimated and x == "energy_wh" else x,
    )
    write_text(out_dir / PARETO_HTML, page)
    return out_dir / FRONT_CSV


def record_in_mlflow(config: ExperimentConfig, client, experiment_id: str, parent_run_id: str, front: Front):
    """The front on the parent run and each trial's rank on its child run; returns (front with run ids, the
    registered knee model or None)."""
    runs = child_runs(client, experiment_id, parent_run_id)
    front = with_run_ids(front, dict(zip(runs["trial_id"], runs["run_id"], strict=True)) if not runs.empty else {})
    out_dir = reports_dir(config)
    front_csv = write_front_files(front, out_dir, config.experiment.name)
    for _, row in front.done.iterrows():
        if isinstance(row["mlflow_run_id"], str):
            rank = row[RANK_COLUMN]
            client.set_tag(row["mlflow_run_id"], RANK_COLUMN, "" if pd.isna(rank) else str(int(rank)))
    log_front(client, parent_run_id, front.rows, front_csv, front.objectives)
    client.log_artifact(parent_run_id, str(out_dir / PARETO_HTML), "pareto")
    for step, value in enumerate(front.curve, start=1):
        client.log_metric(parent_run_id, "hypervolume_curve", value, step=step)
    client.log_metric(parent_run_id, "hypervolume", front.hypervolume)
    client.log_metric(parent_run_id, "front_size", len(front.rows))
    client.log_metric(parent_run_id, "total_energy_wh", total_energy_wh(front.trials))
    client.set_tag(parent_run_id, "energy_source", energy_source_label(front.trials))
    knee_run = knee_run_id(front)
    if knee_run is None:
        return front, None
    client.set_tag(parent_run_id, "knee_run_id", knee_run)
    try:
        version = register_adapter(client, knee_run, f"{config.experiment.name}-knee")
    except Exception as err:  # the front is recorded either way; registration is a convenience
        log.warning("could not register the knee adapter: %s", err)
        return front, None
    return front, f"{config.experiment.name}-knee v{version}"


def finish_in_mlflow(
    config: ExperimentConfig, client, tracking_uri: str, experiment_id: str, parent_run_id: str, front: Front
) -> tuple[str | None, str | None]:
    """Front, report and the parent run's end: the MLflow half of a search's end (driver or --resync). Returns the
    registered knee model and the report's path (None for what could not be made)."""
    front, registered = record_in_mlflow(config, client, experiment_id, parent_run_id, front)
    report = build_search_report(config, tracking_uri, front)
    client.set_terminated(parent_run_id, "FINISHED")
    return registered, report


def write_baseline(config: ExperimentConfig, out: dict[str, Any]) -> None:
    """The untuned baseline's scores and answers on disk too: Tune's storage does not hold them, and MLflow may be
    unreachable when the search ends."""
    payload = {"metrics": out["metrics"], "items": out["items"].to_dict(orient="records")}
    write_text(reports_dir(config) / BASELINE_JSON, json.dumps(payload, default=str))


def read_baseline(config: ExperimentConfig) -> dict[str, Any] | None:
    path = reports_dir(config) / BASELINE_JSON
    if not path.is_file():
        return None
    payload = json.loads(path.read_text())
    return {"metrics": payload["metrics"], "items": pd.DataFrame(payload["items"])}


def write_timings(config: ExperimentConfig, stages: dict[str, float]) -> None:
    """Where the search's wall time went (setup, trials, recording) and the driver's CPU, for whoever tunes the
    harness (benchmarks/bench_overhead.py reads it)."""
    path = reports_dir(config) / TIMINGS_JSON
    write_text(path, json.dumps({f"{k}_seconds": v for k, v in stages.items()}, indent=1))


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


def build_search_report(
    config: ExperimentConfig, tracking_uri: str | None, front: Front, baseline_judge_score: float | None = None
) -> str | None:
    """The human-readable report: from MLflow, or from trials.csv when MLflow is unreachable (`--resync` rebuilds
    it from MLflow later). A failure here must not lose the search, which is recorded already."""
    from reports import csv_source
    from reports.build import build_report, write_report

    name = config.experiment.name
    out = config.paths.reports_dir.resolve()
    try:
        if tracking_uri:
            return str(build_report(name, tracking_uri, out))
        trials_csv = reports_dir(config) / TRIALS_CSV
        study = csv_source.load_study(trials_csv, list(front.objectives), dict(config.search.reference_point))
        study = replace(
            study,
            name=name,
            baseline_judge_score=baseline_judge_score,
            environment={
                "source": f"{TRIALS_CSV} (MLflow was unreachable)",
                "energy_source": energy_source_label(front.trials),
            },
        )
        return str(write_report(study, out))
    except Exception as err:
        log.warning("report not built (%s: %s); rerun: python -m reports.build %s", type(err).__name__, err, name)
        return None
