"""The trial's MLflow child run: found again by trial id after a restore, so a retried trial keeps one run.

MLflow is the view, Tune's storage the record: a trial that loses its tracking server keeps training and
reporting to Tune (metrics, checkpoints with the adapter and the judge answers), marks itself offline, and the
driver or `python -m search.run --resync NAME` logs what MLflow missed once it answers again.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from common.mlflow_names import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG, ROLE_TAG, RUN_NAME_TAG, trial_run_name

log = logging.getLogger(__name__)

# MLflow's error codes for "the store did not answer" (as opposed to a request it refused, which is a bug).
UNREACHABLE_CODES = {"INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED", "ENDPOINT_NOT_FOUND"}


def is_unreachable(err: BaseException) -> bool:
    """A lost connection, a timeout, a 5xx after retries or a locked/absent store file: MLflow is down."""
    import requests
    import sqlalchemy.exc

    if isinstance(err, MlflowException):
        return err.error_code in UNREACHABLE_CODES
    return isinstance(err, requests.RequestException | OSError | sqlalchemy.exc.OperationalError)


@dataclass
class Outage:
    """Why MLflow did not answer inside a `tolerating_mlflow_outage` block; None while it did."""

    reason: str | None = None


@contextmanager
def tolerating_mlflow_outage() -> Iterator[Outage]:
    """The one rule for MLflow calls: an unreachable store is recorded (the caller goes on, its results safe in
    Tune's storage or on disk for --resync); any other error is a bug and propagates."""
    outage = Outage()
    try:
        yield outage
    except Exception as err:
        if not is_unreachable(err):
            raise
        outage.reason = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"


def limit_http_retries(retries: int, timeout_s: int) -> None:
    """MLflow's client retries a dead server with backoff for about 4 minutes per call by default; a trial that
    keeps training meanwhile should give up sooner. Read by MLflow at each request, so setting it here works."""
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(retries)
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(timeout_s)


class TrialRun:
    def __init__(self, tracking_uri: str, experiment_name: str, parent_run_id: str | None, trial_id: str):
        self.client = MlflowClient(tracking_uri)
        self.tracking_uri = tracking_uri
        self.trial_id = trial_id
        self.run_id: str | None = None
        self.offline_reason: str | None = None
        self._call(self._open, experiment_name, parent_run_id)

    @property
    def offline(self) -> bool:
        return self.offline_reason is not None

    def _open(self, experiment_name: str, parent_run_id: str | None) -> None:
        experiment = self.client.get_experiment_by_name(experiment_name)
        if experiment:
            experiment_id = experiment.experiment_id
        else:  # the search's driver creates it first; this is for a trial started on its own
            experiment_id = self.client.create_experiment(experiment_name, tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
        existing = self.client.search_runs(
            [experiment_id],
            filter_string=f"tags.trial_id = '{self.trial_id}' and tags.`{ROLE_TAG}` = 'trial'",
            max_results=1,
        )
        if existing:
            self.run_id = existing[0].info.run_id
            self.client.update_run(self.run_id, status="RUNNING")
        else:
            tags = {ROLE_TAG: "trial", "trial_id": self.trial_id, RUN_NAME_TAG: self.trial_id}
            if parent_run_id:
                tags["mlflow.parentRunId"] = parent_run_id
            self.run_id = self.client.create_run(experiment_id, tags=tags).info.run_id

    def _call(self, action: Callable[..., Any], *args: Any) -> None:
        """Run one MLflow call unless offline; the first unreachable error turns the rest of the trial offline."""
        if self.offline:
            return
        with tolerating_mlflow_outage() as outage:
            action(*args)
        if outage.reason:
            self.offline_reason = outage.reason
            log.warning(
                "trial %s: MLflow at %s did not answer (%s); the trial goes on and its results stay in Tune's "
                "storage for --resync",
                self.trial_id,
                self.tracking_uri,
                self.offline_reason,
            )

    def log_params(self, params: Mapping[str, object], tags: Mapping[str, str] | None = None) -> None:
        """Params not logged yet (a restored trial has them; MLflow refuses a param logged twice) and tags. The run
        is named after them (its LoRA settings and the `origin` tag) instead of its trial id."""

        def log_fresh() -> None:
            from mlflow.entities import Param, RunTag

            have = self.client.get_run(self.run_id).data.params
            fresh = [Param(k, str(v)) for k, v in params.items() if k not in have]
            named = {**(tags or {}), RUN_NAME_TAG: trial_run_name(params, (tags or {}).get("origin"), self.trial_id)}
            labels = [RunTag(k, str(v)) for k, v in named.items()]
            if fresh or labels:
                self.client.log_batch(self.run_id, params=fresh, tags=labels)

        self._call(log_fresh)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        self._call(lambda: self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()]))

    def log_metrics(self, metrics: Mapping[str, float], step: int, tags: Mapping[str, str] | None = None) -> None:
        """Numbers (NaN skipped) and tags in one request."""
        from mlflow.entities import Metric, RunTag

        now = int(pd.Timestamp.now().timestamp() * 1000)
        rows = [
            Metric(k, float(v), now, step)
            for k, v in metrics.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and not math.isnan(float(v))
        ]
        labels = [RunTag(k, str(v)) for k, v in (tags or {}).items()]
        if rows or labels:
            self._call(lambda: self.client.log_batch(self.run_id, metrics=rows, tags=labels))

    def log_artifacts(self, directory: Path, artifact_path: str) -> None:
        self._call(lambda: self.client.log_artifacts(self.run_id, str(directory), artifact_path))

    def log_table(self, table: pd.DataFrame, artifact_file: str) -> None:
        self._call(lambda: self.client.log_table(self.run_id, data=table, artifact_file=artifact_file))

    def finish(self, status: str = "FINISHED") -> None:
        self._call(lambda: self.client.set_terminated(self.run_id, status=status))
