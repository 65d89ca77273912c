"""`python -m search.run --resync NAME`: log into MLflow the trials that Ray Tune's storage holds but MLflow
does not (MLflow was down, or its store was restored from an older backup).

Tune's storage is the record of truth for trial results; MLflow is the view. Each trial is matched to its
child run by the `trial_id` tag, and only what is missing is logged (runs, params, per-epoch metrics, the
final adapter), so running it twice logs nothing the second time.
"""

from __future__ import annotations

import logging
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from common.mlflow_names import JUDGE_ANSWERS, ROLE_TAG
from experiment.config import ExperimentConfig, flatten
from front.objectives import Objective
from search.front_table import compute_front, trial_table, with_uncertainty
from search.judged_items import search_items
from search.recording import finish_in_mlflow, read_baseline, record_baseline, write_front_files, write_judged_items
from search.rejudge import PENDING_METRIC, rejudge
from search.storage import check_resumable, experiment_path, reports_dir
from search.tracking import check_reachable, experiment_id, find_parent_run, start_parent_run
from trainables.contract import ADAPTER_DIR, CHECKPOINT_DIR, trial_params, trial_settings

log = logging.getLogger(__name__)

# Tune's own bookkeeping columns in a trial's result rows: not trial metrics.
TUNE_COLUMNS = {
    "timestamp", "time_this_iter_s", "time_total_s", "pid", "training_iteration", "iterations_since_restore",
    "time_since_restore", "done", "checkpoint_dir_name", "date", "hostname", "node_ip", "trial_id",
    "should_checkpoint",
}  # fmt: skip
TEXT_TAGS = ("energy_source", "origin")
FINISHED = {"TERMINATED": "FINISHED", "ERROR": "FAILED"}


@dataclass
class ResyncSummary:
    trials: int = 0
    runs_created: int = 0
    metrics_logged: int = 0
    adapters_logged: int = 0
    statuses_set: int = 0
    front_recorded: bool = False
    baseline_logged: bool = False
    report: str | None = None
    judging: str | None = None  # the judging line of the end it recomputed (search/rejudge.py)

    @property
    def changed(self) -> bool:
        counts = (self.runs_created, self.metrics_logged, self.adapters_logged, self.statuses_set)
        return any(counts) or self.baseline_logged

    def line(self, name: str) -> str:
        text = (
            f"Resynced {name!r}: {self.trials} trials in Tune's storage; created {self.runs_created} MLflow runs, "
            f"logged {self.metrics_logged} metric values and {self.adapters_logged} adapters."
        )
        if self.front_recorded:
            text += " Pareto front recorded on the search's run" + (f"; report: {self.report}" if self.report else ".")
        if self.judging:
            text += " " + self.judging
        return text


def load_analysis(config: ExperimentConfig):
    """Tune's stored record of search `config.experiment.name` (local path or shared storage URI)."""
    from ray.tune import ExperimentAnalysis

    check_resumable(config, "--resync")
    return ExperimentAnalysis(experiment_path(config))


def resync_trials(
    config: ExperimentConfig, client: MlflowClient, exp_id: str, parent_run_id: str, analysis, only=None
) -> ResyncSummary:
    """Log what MLflow lacks of each stored trial (of the trial ids in `only`, if given)."""
    trials = [t for t in analysis.trials if only is None or t.trial_id in only]
    summary = ResyncSummary(trials=len(trials))
    frames = analysis.trial_dataframes
    for trial in trials:
        rows = frames.get(trial.trial_id, pd.DataFrame())
        _resync_trial(client, exp_id, parent_run_id, config, analysis, trial, rows, summary)
    return summary


def resync(config: ExperimentConfig, tracking_uri: str) -> ResyncSummary:
    """`--resync`: every stored trial, then the end of the search (front, report, parent run) if MLflow lacked it."""
    from ray.tune import ResultGrid

    name = config.experiment.name
    analysis = load_analysis(config)
    client = check_reachable(tracking_uri)
    exp_id = experiment_id(client, name)
    parent_run_id = find_parent_run(client, exp_id)
    if parent_run_id is None:
        parent_run_id = start_parent_run(client, exp_id, name, flatten(config), tags={"resynced": "true"})
    summary = resync_trials(config, client, exp_id, parent_run_id, analysis)
    parent = client.get_run(parent_run_id)
    baseline = read_baseline(config)
    if baseline is not None and "baseline_judge_score" not in parent.data.metrics:
        record_baseline(client, parent_run_id, baseline)
        summary.baseline_logged = True
    # An end whose full-panel rejudge was cut short (the driver killed, or every judgement of some trials failed)
    # is finished here: the judgement cache answers what was judged, the rest is asked again (search/rejudge.py).
    rejudge_pending = parent.data.metrics.get(PENDING_METRIC, 0) > 0
    if summary.changed or parent.info.status != "FINISHED" or rejudge_pending:
        objectives = [Objective(o.metric, o.mode) for o in config.search.objectives]
        trials = _with_mlflow_runs(trial_table(ResultGrid(analysis)), client, exp_id)
        front = compute_front(trials, objectives, config.search.reference_point, config.search.space)
        judged = rejudge(config, front, search_items(ResultGrid(analysis), baseline), client, parent_run_id)
        front, items, summary.judging = judged.front, judged.items, judged.line
        front = with_uncertainty(front, items, config.search.reference_point, config.experiment.seed)
        write_judged_items(items, reports_dir(config))
        write_front_files(front, reports_dir(config), name)
        _, summary.report = finish_in_mlflow(config, client, tracking_uri, exp_id, parent_run_id, front)
        summary.front_recorded = True
    return summary


def _resync_trial(client: MlflowClient, exp_id: str, parent_run_id: str, config, analysis, trial, rows, summary):
    run = _find_run(client, exp_id, trial.trial_id)
    if run is None:
        tags = {ROLE_TAG: "trial", "trial_id": trial.trial_id, "mlflow.runName": trial.trial_id,
                "mlflow.parentRunId": parent_run_id, "resynced": "true"}  # fmt: skip
        run = client.create_run(exp_id, tags=tags)
        summary.runs_created += 1
    run_id = run.info.run_id
    have_params = client.get_run(run_id).data.params
    params = {k: str(v) for k, v in trial_params(trial_settings(config.training, trial.config)).items()}
    fresh = [Param(k, v) for k, v in params.items() if k not in have_params]
    metrics = _missing_metrics(client, run_id, rows)
    last = rows.iloc[-1].to_dict() if len(rows) else {}
    tags = [RunTag(k, str(last[k])) for k in TEXT_TAGS if isinstance(last.get(k), str)]
    if fresh or metrics or tags:
        client.log_batch(run_id, metrics=metrics, params=fresh, tags=tags)
    summary.metrics_logged += len(metrics)
    status = FINISHED.get(trial.status)
    if status == "FINISHED" and not client.list_artifacts(run_id, ADAPTER_DIR):
        summary.adapters_logged += _log_adapter(client, run_id, analysis, trial)
    if status and client.get_run(run_id).info.status != status:
        client.set_terminated(run_id, status)
        summary.statuses_set += 1


def _with_mlflow_runs(trials: pd.DataFrame, client: MlflowClient, exp_id: str) -> pd.DataFrame:
    """Each trial's run as MLflow has it now: a trial that reported while MLflow was out (or full) carries the id
    of a run the store never kept, and resync has just logged it under a new one."""
    if trials.empty or "trial_id" not in trials:
        return trials
    runs = [_find_run(client, exp_id, str(t)) for t in trials["trial_id"]]
    return trials.assign(mlflow_run_id=[r.info.run_id if r is not None else "" for r in runs])


def _find_run(client: MlflowClient, exp_id: str, trial_id: str):
    runs = client.search_runs(
        [exp_id], filter_string=f"tags.trial_id = '{trial_id}' and tags.`{ROLE_TAG}` = 'trial'", max_results=1
    )
    return runs[0] if runs else None


def _missing_metrics(client: MlflowClient, run_id: str, rows: pd.DataFrame) -> list[Metric]:
    """Per-epoch values from Tune's result rows that the run does not have yet (by key and step)."""
    if rows.empty or "epoch" not in rows.columns:
        return []
    logged = client.get_run(run_id).data.metrics
    out = []
    for column in rows.columns:
        if column in TUNE_COLUMNS or "/" in column:
            continue
        values = pd.to_numeric(rows[column], errors="coerce")
        if values.isna().all():
            continue
        have = {m.step for m in client.get_metric_history(run_id, column)} if column in logged else set()
        for epoch, value, stamp in zip(rows["epoch"], values, rows.get("timestamp", rows["epoch"]), strict=True):
            if not _finite(value) or int(epoch) in have:
                continue
            out.append(Metric(column, float(value), int(stamp) * 1000, int(epoch)))
    return out


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _log_adapter(client: MlflowClient, run_id: str, analysis, trial) -> int:
    """The final adapter and judge answers, from the trial's last checkpoint (the trainable keeps both there)."""
    checkpoint = analysis.get_last_checkpoint(trial)
    if checkpoint is None:
        log.warning("trial %s has no checkpoint; its adapter cannot be logged", trial.trial_id)
        return 0
    with tempfile.TemporaryDirectory() as folder:
        checkpoint.to_directory(folder)
        adapter = Path(folder) / CHECKPOINT_DIR / ADAPTER_DIR
        answers = Path(folder) / CHECKPOINT_DIR / JUDGE_ANSWERS
        if answers.is_file() and JUDGE_ANSWERS not in {a.path for a in client.list_artifacts(run_id)}:
            client.log_table(run_id, data=pd.read_json(answers, orient="records"), artifact_file=JUDGE_ANSWERS)
        if not adapter.is_dir():
            return 0
        client.log_artifacts(run_id, str(adapter), ADAPTER_DIR)
    return 1
