"""What a finished search returns and prints: one typed record instead of a dict of ~20 keys."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field


@dataclass
class SearchSummary:
    experiment: str
    completed: int
    failed: int
    stopped: int  # stopped early by the scheduler
    excluded: int  # completed but left out of the front for a NaN objective (a failed judge)
    front_size: int
    hypervolume: float  # in the product of the objectives' units, bounded by `reference_point`
    reference_point: dict[str, float]
    front_csv: str
    total_energy_wh: float  # every trial's training energy
    energy_source: str  # `measured:<counter>` or `estimate:<how>`, joined when trials differ
    best_judge_score: float  # 1-5 rubric scale
    knee_trial: str | None
    tracking_uri: str
    optuna_storage: str
    baseline_judge_score: float  # the untuned base model on the same judge set; NaN if it could not be scored
    registered_model: str | None = None
    report: str | None = None
    # MLflow stopped answering before the end was recorded: `--resync NAME` finishes it; None when all is there.
    mlflow_pending: str | None = None
    # Wall seconds per stage (setup, trials, recording) and the driver's CPU seconds.
    stage_seconds: dict[str, float] = field(default_factory=dict)
    experiment_id: str | None = None  # the MLflow experiment's id, for the link to its runs table
    # 95% intervals from the paired bootstrap over judge items, resampled by scenario (front/uncertainty.py via
    # search/front_table.py); None where there were no judged items to resample.
    baseline_judge_score_ci: tuple[float, float] | None = None
    best_trial: str | None = None  # the completed trial with the highest judge score
    best_judge_score_ci: tuple[float, float] | None = None
    best_minus_baseline: tuple[float, float, float] | None = None  # paired difference: estimate, low, high
    hypervolume_ci: tuple[float, float] | None = None
    knee_stability: float | None = None  # share of bootstrap replicates whose knee is `knee_trial`
    knee_alternatives: tuple[str, ...] = ()  # trials tied with the knee (difference not resolved, not dominated)
    judge_items: int = 0  # judge items behind every interval
    # Each judge's share of calibration pairs ranked right at the start (judging/calibration.py), and warnings.
    calibration_accuracy: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # Judge calls, tokens and USD per search, by tier and for the calibration (search/rejudge.py's summary line).
    judging: str | None = None

    def lines(self) -> list[str]:
        stages = ", ".join(
            f"{k} {self.stage_seconds[k]:.1f} s" for k in ("setup", "trials", "recording") if k in self.stage_seconds
        )
        lines = [
            "",
            f"Search {self.experiment!r} finished: {self.completed} trials completed, {self.failed} failed, "
            f"{self.stopped} stopped early, {self.excluded} excluded from the front (NaN objectives).",
            f"Pareto front: {self.front_size} trials; hypervolume {self.hypervolume:.6g}"
            + ("" if self.hypervolume_ci is None else f" [{self.hypervolume_ci[0]:.6g}, {self.hypervolume_ci[1]:.6g}]")
            + f" (reference point {self.reference_point}).",
            *self.knee_lines(),
            self.quality_line(),
            *([self.judging] if self.judging else []),
            f"Energy spent by all trials: {self.total_energy_wh:.4g} Wh ({self.energy_source}).",
            f"Wall time: {stages}.",
            f"Pareto table:  {self.front_csv}",
            f"MLflow store:  {self.tracking_uri}",
            f"Open the MLflow UI:  {sys.executable} -m mlflow ui --backend-store-uri {self.tracking_uri}",
            *self.runs_link(),
            f"Open the Optuna study:  optuna-dashboard {self.optuna_storage}  (pip install optuna-dashboard)",
        ]
        if self.report:
            lines.append(f"Report:  {self.report}")
        if self.registered_model:
            lines.append(f"Knee adapter registered as model {self.registered_model}")
        return lines + self.warnings

    def runs_link(self) -> list[str]:
        """MLflow 3.17's UI opens an experiment on its GenAI overview whatever the experiment's kind tag says; this
        address opens the runs table (docs/mlflow.md)."""
        if self.experiment_id is None:
            return []
        ui = self.tracking_uri.rstrip("/") if self.tracking_uri.startswith("http") else "http://127.0.0.1:5000"
        return [f"  then the runs:  {ui}/#/experiments/{self.experiment_id}/runs?workflowType=machine_learning"]

    def knee_lines(self) -> list[str]:
        if self.knee_trial is None or self.knee_stability is None:
            return []
        line = f"Knee: trial {self.knee_trial}, the knee in {self.knee_stability:.0%} of bootstrap replicates"
        if self.knee_alternatives:
            line += "; tied with it (difference not resolved): " + ", ".join(self.knee_alternatives)
        return [line + "."]

    def quality_line(self) -> str:
        """The baseline against the best trial, each with its interval, and their paired difference."""
        baseline = f"{self.baseline_judge_score:.3f}{_interval(self.baseline_judge_score_ci)}"
        best = f"{self.best_judge_score:.3f}{_interval(self.best_judge_score_ci)}"
        line = f"Baseline (untuned base model) judge score: {baseline}; best trial"
        line += f" {self.best_trial}: {best}" if self.best_trial else f": {best}"
        if self.best_minus_baseline is not None:
            estimate, low, high = self.best_minus_baseline
            verdict = "resolved" if low > 0 or high < 0 else "not resolved: within the judge items' noise"
            line += f"; best minus baseline {estimate:+.3f} [{low:+.3f}, {high:+.3f}], {verdict}"
        if self.judge_items:
            line += f" (95% intervals, paired bootstrap over {self.judge_items} judge items by scenario)"
        return line + "."


def _interval(bounds: tuple[float, float] | None) -> str:
    return "" if bounds is None else f" [{bounds[0]:.3f}, {bounds[1]:.3f}]"
