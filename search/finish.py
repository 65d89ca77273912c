"""Stage 4 of a search: the front computed from the trials, written to disk, then recorded in MLflow with the
report; an MLflow outage here loses nothing (the summary says `--resync` will finish it)."""

from __future__ import annotations

import dataclasses
import logging

import pandas as pd

from experiment.config import ExperimentConfig
from front.objectives import Objective
from search.front_table import (
    Front,
    best_judge_score,
    best_trial,
    compute_front,
    energy_source_label,
    power_limit_savings_of,
    status_counts,
    total_energy_wh,
    trial_table,
    uncertainty_record,
    with_uncertainty,
)
from search.judge_checks import record_judge_checks
from search.judged_items import agreement_interval, search_items
from search.parent_run import ParentRun
from search.prepare import Prepared
from search.recording import (
    build_search_report,
    finish_in_mlflow,
    read_baseline,
    record_baseline,
    write_front_files,
    write_judged_items,
)
from search.rejudge import rejudge
from search.resync import load_analysis, resync_trials
from search.storage import reports_dir
from search.summary import SearchSummary
from search.tracking import close_orphans
from search.tuning import Tuned
from trainables.tracking import tolerating_mlflow_outage

log = logging.getLogger(__name__)


def finish(
    config: ExperimentConfig, prepared: Prepared, parent: ParentRun, tuned: Tuned, objectives: list[Objective]
) -> SearchSummary:
    trials = trial_table(tuned.results)
    front = compute_front(trials, objectives, config.search.reference_point, config.search.space)
    scenario_of = {str(r["id"]): str(r["scenario_id"]) for r in prepared.splits["judge"] if "scenario_id" in r}
    items = search_items(tuned.results, read_baseline(config), scenario_of)
    judged = rejudge(config, front, items, prepared.client, parent.run_id, prepared.calibration)
    front, items = judged.front, judged.items
    front = with_uncertainty(front, items, config.search.reference_point, config.experiment.seed)
    write_judged_items(items, reports_dir(config))
    front_csv = write_front_files(front, reports_dir(config), config.experiment.name)
    summary = summarise(config, front, str(front_csv), prepared, tuned)
    summary.experiment_id = parent.experiment_id
    summary.judging = judged.line
    if judged.baseline_judge_score is not None:  # the full panel's, the scale the front is on
        summary.baseline_judge_score = judged.baseline_judge_score
    with tolerating_mlflow_outage() as outage:
        _record(config, prepared.client, parent, tuned, trials)
        record_judge_checks(
            prepared.client, parent.run_id, prepared.calibration, agreement_interval(items, config.experiment.seed)
        )
        _record_power_limit_savings(config, prepared.client, parent.run_id, front)
        summary.registered_model, summary.report = finish_in_mlflow(
            config, prepared.client, prepared.tracking_uri, parent.experiment_id, parent.run_id, front
        )
    if outage.reason:
        # Nothing is lost: the front is on disk, every trial in Tune's storage; --resync finishes the MLflow part.
        summary.mlflow_pending = outage.reason
        summary.report = build_search_report(config, None, front, baseline_judge_score=summary.baseline_judge_score)
    return summary


def _record_power_limit_savings(config: ExperimentConfig, client, parent_run_id: str, front: Front) -> None:
    savings = power_limit_savings_of(front, config.search.space)
    if savings:
        client.log_metric(parent_run_id, "power_limit_energy_saved_wh", sum(s.saved_wh for s in savings))
        table = pd.DataFrame([dataclasses.asdict(s) for s in savings])
        client.log_table(parent_run_id, data=table, artifact_file="energy/power_limit_savings.json")


def _record(config: ExperimentConfig, client, parent: ParentRun, tuned: Tuned, trials: pd.DataFrame) -> None:
    """What MLflow may still lack when the trials end: a baseline kept during an outage, early-stopping savings,
    trials that ran offline, and child runs a killed driver left open."""
    if tuned.baseline.pending is not None:
        record_baseline(client, parent.run_id, tuned.baseline.pending)
    if tuned.scheduler is not None:
        client.log_metric(parent.run_id, "early_stopping_energy_saved_wh", tuned.scheduler.energy_saved_wh)
        client.log_metric(parent.run_id, "early_stopped_trials", len(tuned.scheduler.stopped))
    offline = set()
    if "mlflow_offline" in trials:
        offline = set(trials.loc[trials["mlflow_offline"].eq(True), "trial_id"])
    if offline:
        log.warning("%d trials ran while MLflow was unreachable; logging them now", len(offline))
        resync_trials(config, client, parent.experiment_id, parent.run_id, load_analysis(config), only=offline)
    trial_ids = set(trials.get("trial_id", pd.Series(dtype=str)).astype(str))
    close_orphans(client, parent.experiment_id, parent.run_id, trial_ids)


def summarise(config: ExperimentConfig, front: Front, front_csv: str, prepared: Prepared, tuned: Tuned):
    knee = None if front.knee is None else front.done.loc[front.knee].get("trial_id")
    calibration = prepared.calibration
    summary = SearchSummary(
        experiment=config.experiment.name,
        **status_counts(front),
        front_size=int(len(front.rows)),
        hypervolume=front.hypervolume,
        reference_point=dict(config.search.reference_point),
        front_csv=front_csv,
        total_energy_wh=total_energy_wh(front.trials),
        energy_source=energy_source_label(front.trials),
        best_judge_score=best_judge_score(front),
        knee_trial=knee,
        tracking_uri=prepared.tracking_uri,
        optuna_storage=tuned.optuna_storage,
        baseline_judge_score=tuned.baseline.judge_score,
        best_trial=best_trial(front),
        calibration_accuracy=dict(calibration.accuracy) if calibration else {},
        warnings=list(calibration.warnings) if calibration else [],
    )
    return with_intervals(summary, front)


def with_intervals(summary: SearchSummary, front: Front) -> SearchSummary:
    """The summary's interval fields from the front's bootstrap (left empty without one)."""
    u, record = front.uncertainty, uncertainty_record(front)
    if u is None or record is None:
        return summary
    scored = {str(t.trial): t.score for t in u.trials}
    if u.baseline is not None:
        summary.baseline_judge_score_ci = (scored[str(u.baseline)].low, scored[str(u.baseline)].high)
    if summary.best_trial in scored:
        summary.best_judge_score_ci = (scored[summary.best_trial].low, scored[summary.best_trial].high)
    if record["best_vs_baseline"] is not None:
        summary.best_minus_baseline = tuple(record["best_vs_baseline"]["difference"])
    if u.hypervolume is not None:
        summary.hypervolume_ci = (u.hypervolume.low, u.hypervolume.high)
    if u.knee is not None:
        summary.knee_stability = u.knee.stability
        summary.knee_alternatives = tuple(str(a.trial) for a in u.knee.alternatives)
    summary.judge_items = u.n_items
    return summary
