"""Read one search (parent run + trial child runs) from MLflow through its client into a `Study`.

Only the tracking API is used (runs, params, tags, latest metric values, artifacts), never the store's
files, so the report works against a local SQLite store and a remote tracking server alike.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.entities import Run, ViewType
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from common.errors import InputError
from common.mlflow_names import BASELINE_ANSWERS, BASELINE_ANSWERS_FULL, JUDGE_ANSWERS, JUDGE_ANSWERS_FULL, ROLE_TAG
from front.objectives import DEFAULT_OBJECTIVES, objectives_from_json
from reports.study import BASELINE, Study

MANIFEST_ARTIFACT = "corpus/manifest.json"
UNCERTAINTY_ARTIFACT = "uncertainty/uncertainty.json"  # search/recording.py writes it at the search's end
BASELINE_PREFIX = "baseline_"
REFERENCE_PARAM_PREFIX = "reference_point."
ENVIRONMENT_TAGS = ("gpu_type", "energy_source", "corpus_hash")
TRIAL_TAGS = ("origin", "energy_source")
_PAGE_SIZE = 1000


def _all_runs(client: MlflowClient, experiment_id: str, filter_string: str) -> list[Run]:
    runs: list[Run] = []
    token: str | None = None
    while True:
        page = client.search_runs(
            [experiment_id],
            filter_string=filter_string,
            run_view_type=ViewType.ACTIVE_ONLY,
            max_results=_PAGE_SIZE,
            order_by=["attributes.start_time ASC"],
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _optional_float(values: dict[str, Any], key: str, source: str) -> float | None:
    if key not in values or values[key] in ("", "None", None):
        return None
    try:
        value = float(values[key])
    except ValueError:
        raise InputError(source, key, f"not a number: {values[key]!r}") from None
    return value if math.isfinite(value) else None


def _trial_row(run: Run) -> dict[str, Any]:
    tags = run.data.tags
    row: dict[str, Any] = {
        "trial_id": tags.get("trial_id") or run.info.run_id,
        "run_id": run.info.run_id,
        "status": run.info.status,
        "end_time": run.info.end_time,
    }
    row.update({tag: tags.get(tag, "") for tag in TRIAL_TAGS})
    row.update(run.data.params)
    # run.data.metrics holds each metric's latest value: the final epoch, as the layout specifies.
    row.update(run.data.metrics)
    return row


def _trials_table(children: list[Run]) -> pd.DataFrame:
    table = pd.DataFrame(
        [_trial_row(run) for run in children], columns=None if children else ["trial_id", "run_id"]
    )
    # A resumed search can log the same trial id twice; the run id keeps the rows apart.
    repeated = table["trial_id"].duplicated(keep=False)
    table.loc[repeated, "trial_id"] = table["trial_id"][repeated] + "@" + table["run_id"][repeated].str[:8]
    for column in table.columns:
        if column in ("trial_id", "run_id", "status", "origin", "energy_source"):
            continue
        converted = pd.to_numeric(table[column], errors="coerce")
        # Params arrive as strings; keep a column textual unless every present value is numeric.
        if converted.notna().sum() == table[column].notna().sum():
            table[column] = converted
    return table.set_index("trial_id", drop=False)


def _json_artifact(client: MlflowClient, run_id: str, path: str) -> Any:
    """A JSON artifact of a run, or None where it is missing or unreadable."""
    with tempfile.TemporaryDirectory() as scratch:
        try:
            local = client.download_artifacts(run_id, path, scratch)
            return json.loads(Path(local).read_text(encoding="utf-8"))
        except (MlflowException, OSError, json.JSONDecodeError):
            return None


def _manifest(client: MlflowClient, run_id: str) -> dict[str, Any] | None:
    loaded = _json_artifact(client, run_id, MANIFEST_ARTIFACT)
    if loaded is None:
        return None
    return loaded if isinstance(loaded, dict) else {"manifest": loaded}


class RunAnswers(Mapping):
    """Judged answers per item (MLflow's `log_table` JSON) by trial id, `BASELINE` for the parent's: downloaded on
    first use, since a report shows three models' answers, not every trial's. Where the full panel re-judged a
    model at the search's end (`judging.full_panel_policy: front`, search/rejudge.py), its table is the one read,
    so each answer's score is on the scale the front and the summary use."""

    def __init__(self, client: MlflowClient, parent_run_id: str, trial_runs: Mapping[str, str]):
        self._client = client
        # (run, the full panel's table, the table the trial or the search logged): the first one there is read.
        self._where = {BASELINE: (parent_run_id, BASELINE_ANSWERS_FULL, BASELINE_ANSWERS)}
        self._where.update({t: (run_id, JUDGE_ANSWERS_FULL, JUDGE_ANSWERS) for t, run_id in trial_runs.items()})
        self._loaded: dict[str, pd.DataFrame | None] = {}

    def __getitem__(self, key: str) -> pd.DataFrame:
        if key not in self._where:
            raise KeyError(key)
        if key not in self._loaded:
            run_id, full, own = self._where[key]
            table = _json_artifact(self._client, run_id, full)
            if table is None:
                table = _json_artifact(self._client, run_id, own)
            ok = isinstance(table, dict) and "columns" in table and "data" in table
            self._loaded[key] = pd.DataFrame(table["data"], columns=table["columns"]) if ok else None
        if self._loaded[key] is None:
            raise KeyError(key)
        return self._loaded[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)


def load_study(experiment_name: str, tracking_uri: str | None = None) -> Study:
    """The latest search (parent run tagged `lorapareto.role=search`) of `experiment_name` and its trials."""
    client = MlflowClient(tracking_uri=tracking_uri)
    source = tracking_uri or "mlflow"
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise InputError(source, "experiment", f"no MLflow experiment named {experiment_name!r}")
    parents = _all_runs(client, experiment.experiment_id, f"tags.`{ROLE_TAG}` = 'search'")
    if not parents:
        raise InputError(
            source, "experiment", f"{experiment_name!r} has no search run (tag {ROLE_TAG}=search)"
        )
    parent = parents[-1]
    params, tags, metrics = parent.data.params, parent.data.tags, parent.data.metrics
    children = _all_runs(
        client, experiment.experiment_id, f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    objectives = (
        objectives_from_json(tags["objectives"], f"{source} run {parent.info.run_id}")
        if tags.get("objectives")
        else DEFAULT_OBJECTIVES
    )
    trials = _trials_table(children)
    reference = {
        key.removeprefix(REFERENCE_PARAM_PREFIX): float(value)
        for key, value in params.items()
        if key.startswith(REFERENCE_PARAM_PREFIX)
    }
    return Study(
        name=experiment_name,
        source=source,
        trials=trials,
        objectives=objectives,
        reference_point=reference or None,
        energy_budget_wh=_optional_float(params, "search.energy_budget_wh", source),
        judge_threshold=_optional_float(params, "report.judge_threshold", source),
        baseline_judge_score=_optional_float(metrics, "baseline_judge_score", source),
        environment={tag: tags[tag] for tag in ENVIRONMENT_TAGS if tags.get(tag)},
        manifest=_manifest(client, parent.info.run_id),
        search_params=dict(params),
        parent_run_id=parent.info.run_id,
        baseline={k.removeprefix(BASELINE_PREFIX): v for k, v in metrics.items() if k.startswith(BASELINE_PREFIX)},
        search_metrics={k: v for k, v in metrics.items() if not k.startswith(BASELINE_PREFIX)},
        uncertainty=_json_artifact(client, parent.info.run_id, UNCERTAINTY_ARTIFACT),
        answers=RunAnswers(client, parent.info.run_id, dict(zip(trials["trial_id"], trials["run_id"], strict=True))),
    )


def log_report(tracking_uri: str | None, run_id: str, report_dir: Path) -> None:
    """Attach the report files to the search's parent run, under `report/`."""
    MlflowClient(tracking_uri=tracking_uri).log_artifacts(run_id, str(report_dir), artifact_path="report")
