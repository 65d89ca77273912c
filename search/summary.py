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

    def lines(self) -> list[str]:
        stages = ", ".join(
            f"{k} {self.stage_seconds[k]:.1f} s" for k in ("setup", "trials", "recording") if k in self.stage_seconds
        )
        lines = [
            "",
            f"Search {self.experiment!r} finished: {self.completed} trials completed, {self.failed} failed, "
            f"{self.stopped} stopped early, {self.excluded} excluded from the front (NaN objectives).",
            f"Pareto front: {self.front_size} trials; hypervolume {self.hypervolume:.6g} "
            f"(reference point {self.reference_point}).",
            f"Baseline (untuned base model) judge score: {self.baseline_judge_score:.3f}; "
            f"best trial: {self.best_judge_score:.3f}.",
            f"Energy spent by all trials: {self.total_energy_wh:.4g} Wh ({self.energy_source}).",
            f"Wall time: {stages}.",
            f"Pareto table:  {self.front_csv}",
            f"MLflow store:  {self.tracking_uri}",
            f"Open the MLflow UI:  {sys.executable} -m mlflow ui --backend-store-uri {self.tracking_uri}",
            f"Open the Optuna study:  optuna-dashboard {self.optuna_storage}  (pip install optuna-dashboard)",
        ]
        if self.report:
            lines.append(f"Report:  {self.report}")
        if self.registered_model:
            lines.append(f"Knee adapter registered as model {self.registered_model}")
        return lines
