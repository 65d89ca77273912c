"""The end of a search, written: the front's files first, then MLflow, then the report.

Local files come first so that an MLflow outage loses nothing: the front and trial tables are on disk (and every
trial's results in Tune's storage), the report is built from them, and `python -m search.run --resync NAME`
finishes the MLflow part once the server answers again. What is written is computed in search/front_table.py.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from common.atomic import write_text
from common.mlflow_names import BASELINE_ANSWERS, NOTE_TAG, RUN_NAME_TAG
from experiment.config import ExperimentConfig
from front.pareto import RANK_COLUMN
from search.front_table import (
    Front,
    energy_source_label,
    energy_sources,
    knee_run_id,
    total_energy_wh,
    trial_intervals,
    uncertainty_record,
    with_run_ids,
)
from search.mlflow_note import NoteContext, knee_version_description, parent_note, search_commands, trial_run_tags
from search.storage import reports_dir
from search.tracking import child_runs, log_front, register_adapter, tag_runs

log = logging.getLogger(__name__)
FRONT_CSV = "pareto_front.csv"
TRIALS_CSV = "trials.csv"
PARETO_HTML = "pareto.html"
BASELINE_JSON = "baseline.json"
TIMINGS_JSON = "timings.json"
JUDGED_ITEMS_CSV = "judged_items.csv"
SEARCH_CONFIG_JSON = "search_config.json"  # the config the parent run's commands name (kept by reports.build)
UNCERTAINTY_JSON = "uncertainty.json"  # the bootstrap's findings (search/front_table.py: uncertainty_record)


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
    record = uncertainty_record(front)
    if record is not None:
        write_text(out_dir / UNCERTAINTY_JSON, json.dumps(record, indent=1, default=str))
    return out_dir / FRONT_CSV


def record_in_mlflow(config: ExperimentConfig, client, experiment_id: str, parent_run_id: str, front: Front):
    """The front on the parent run and each trial's rank on its child run; returns (front with run ids, the
    registered knee model or None)."""
    runs = child_runs(client, experiment_id, parent_run_id)
    front = with_run_ids(front, dict(zip(runs["trial_id"], runs["run_id"], strict=True)) if not runs.empty else {})
    out_dir = reports_dir(config)
    front_csv = write_front_files(front, out_dir, config.experiment.name)
    intervals = trial_intervals(front)
    for _, row in front.done.iterrows():
        if isinstance(row["mlflow_run_id"], str):
            rank = row[RANK_COLUMN]
            client.set_tag(row["mlflow_run_id"], RANK_COLUMN, "" if pd.isna(rank) else str(int(rank)))
            step = int(row["epoch"]) if pd.notna(row.get("epoch")) else 0
            _log_metrics(client, row["mlflow_run_id"], intervals.get(str(row["trial_id"]), {}), step)
    log_front(client, parent_run_id, front.rows, front_csv, front.objectives)
    record = uncertainty_record(front)
    if record is not None:
        # The front's own hypervolume is logged below; the bootstrap adds its interval.
        _log_metrics(client, parent_run_id, {k: v for k, v in record["metrics"].items() if k != "hypervolume"})
        client.log_artifact(parent_run_id, str(out_dir / UNCERTAINTY_JSON), "uncertainty")
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
    description = knee_version_description(front, _note_context(config, client, parent_run_id, front, runs))
    try:
        version = register_adapter(client, knee_run, f"{config.experiment.name}-knee", description)
    except Exception as err:  # the front is recorded either way; registration is a convenience
        log.warning("could not register the knee adapter: %s", err)
        return front, None
    return front, f"{config.experiment.name}-knee v{version}"


def _log_metrics(client, run_id: str, metrics: dict[str, float], step: int = 0) -> None:
    """Finite values in one request (NaN is "not measured", never logged as a number)."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    rows = [Metric(k, float(v), now, step) for k, v in metrics.items() if math.isfinite(float(v))]
    if rows:
        client.log_batch(run_id, metrics=rows)


def finish_in_mlflow(
    config: ExperimentConfig, client, tracking_uri: str, experiment_id: str, parent_run_id: str, front: Front
) -> tuple[str | None, str | None]:
    """Front, report and the parent run's end: the MLflow half of a search's end (driver or --resync). Returns the
    registered knee model and the report's path (None for what could not be made)."""
    front, registered = record_in_mlflow(config, client, experiment_id, parent_run_id, front)
    describe_in_mlflow(config, client, tracking_uri, experiment_id, parent_run_id, front, registered)
    report = build_search_report(config, tracking_uri, front)
    client.set_terminated(parent_run_id, "FINISHED")
    return registered, report


def describe_in_mlflow(
    config: ExperimentConfig,
    client,
    tracking_uri: str,
    experiment_id: str,
    parent_run_id: str,
    front: Front,
    registered: str | None,
) -> None:
    """What the MLflow UI shows without opening an artifact (search/mlflow_note.py): the trial runs named with the
    front's and the knee's markers, and the parent run's description, whose commands name a config file written
    here (the search's config with its tracking URI resolved)."""
    from reports.build import HTML_NAME, report_dir_name

    runs = child_runs(client, experiment_id, parent_run_id)
    tag_runs(client, trial_run_tags(front, runs))
    settings = config.model_dump(mode="json")
    if urlsplit(tracking_uri).password is None:  # a URI with a password is left to the environment
        settings["tracking"]["uri"] = tracking_uri
    config_file = reports_dir(config) / SEARCH_CONFIG_JSON
    write_text(config_file, json.dumps(settings, indent=1))
    report_html = config.paths.reports_dir.resolve() / report_dir_name(config.experiment.name) / HTML_NAME
    commands = search_commands(
        config.experiment.name, sys.executable, Path.cwd(), config_file, tracking_uri, experiment_id, report_html
    )
    context = _note_context(config, client, parent_run_id, front, runs, registered, commands)
    client.set_tag(parent_run_id, NOTE_TAG, parent_note(front, context))


def _note_context(
    config: ExperimentConfig,
    client,
    parent_run_id: str,
    front: Front,
    runs: pd.DataFrame,
    registered: str | None = None,
    commands: dict[str, str] | None = None,
) -> NoteContext:
    tags = trial_run_tags(front, runs)
    return NoteContext(
        search=config.experiment.name,
        base_model=config.model.base,
        reference_point=dict(config.search.reference_point),
        run_names={trial: tags[run][RUN_NAME_TAG] for run, trial in zip(runs["run_id"], runs["trial_id"], strict=True)},
        baseline_judge_score=client.get_run(parent_run_id).data.metrics.get("baseline_judge_score", math.nan),
        registered_model=registered,
        commands=commands or {},
    )


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
    numbers = {f"baseline_{k}": v for k, v in out["metrics"].items() if isinstance(v, int | float)}
    _log_metrics(client, parent_run_id, numbers)
    client.log_table(parent_run_id, data=out["items"], artifact_file=BASELINE_ANSWERS)


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
        baseline = read_baseline(config)
        study = replace(
            study,
            name=name,
            baseline_judge_score=baseline_judge_score,
            environment={
                "source": f"{TRIALS_CSV} (MLflow was unreachable)",
                "energy_source": energy_source_label(front.trials),
            },
            baseline=dict(baseline["metrics"]) if baseline else {},
            uncertainty=uncertainty_record(front),
            answers=_answers_on_disk(reports_dir(config) / JUDGED_ITEMS_CSV),
        )
        return str(write_report(study, out))
    except Exception as err:
        log.warning("report not built (%s: %s); rerun: python -m reports.build %s", type(err).__name__, err, name)
        return None


def _answers_on_disk(path: Path) -> dict[str, pd.DataFrame]:
    """Judged answers per trial (and the baseline's) from judged_items.csv, for a report built without MLflow."""
    if not path.is_file():
        return {}
    items = pd.read_csv(path, dtype={"id": str, "trial_id": str})
    return {str(trial): rows for trial, rows in items.groupby("trial_id", sort=False)}


def write_judged_items(items: pd.DataFrame, out_dir: Path) -> None:
    """Every judged (trial, item) row of the search: what its intervals were computed from."""
    if not items.empty:
        write_text(out_dir / JUDGED_ITEMS_CSV, items.to_csv(index=False))
