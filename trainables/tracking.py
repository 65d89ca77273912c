"""The trial's MLflow child run: found again by trial id after a restore, so a retried trial keeps one run."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from mlflow.tracking import MlflowClient

ROLE_TAG = "lorapareto.role"


class TrialRun:
    def __init__(self, tracking_uri: str, experiment_name: str, parent_run_id: str | None, trial_id: str):
        self.client = MlflowClient(tracking_uri)
        self.tracking_uri = tracking_uri
        experiment = self.client.get_experiment_by_name(experiment_name)
        self.experiment_id = (
            experiment.experiment_id if experiment else self.client.create_experiment(experiment_name)
        )
        existing = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.trial_id = '{trial_id}' and tags.`{ROLE_TAG}` = 'trial'",
            max_results=1,
        )
        if existing:
            self.run_id = existing[0].info.run_id
            self.client.update_run(self.run_id, status="RUNNING")
        else:
            tags = {ROLE_TAG: "trial", "trial_id": trial_id, "mlflow.runName": trial_id}
            if parent_run_id:
                tags["mlflow.parentRunId"] = parent_run_id
            self.run_id = self.client.create_run(self.experiment_id, tags=tags).info.run_id

    def log_params(self, params: Mapping[str, object]) -> None:
        have = self.client.get_run(self.run_id).data.params
        fresh = {k: str(v) for k, v in params.items() if k not in have}
        if fresh:
            from mlflow.entities import Param

            self.client.log_batch(self.run_id, params=[Param(k, v) for k, v in fresh.items()])

    def set_tags(self, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(pd.Timestamp.now().timestamp() * 1000)
        rows = [
            Metric(k, float(v), now, step)
            for k, v in metrics.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and not math.isnan(float(v))
        ]
        if rows:
            self.client.log_batch(self.run_id, metrics=rows)

    def log_artifacts(self, directory: Path, artifact_path: str) -> None:
        self.client.log_artifacts(self.run_id, str(directory), artifact_path)

    def log_table(self, table: pd.DataFrame, artifact_file: str) -> None:
        self.client.log_table(self.run_id, data=table, artifact_file=artifact_file)

    def finish(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status=status)
