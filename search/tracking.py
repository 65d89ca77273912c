"""The search's MLflow parent run: where it is, that it answers, and what the search records on it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from mlflow.entities import Param, RunTag
from mlflow.tracking import MlflowClient

from common.errors import InputError
from common.mlflow_names import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG, NOTE_TAG, ROLE_TAG, RUN_NAME_TAG, trial_run_name
from front.objectives import objectives_to_json
from search.mlflow_note import experiment_note
from trainables.contract import ADAPTER_DIR

PROBE_TIMEOUT_SECONDS = 10.0


def resolve_tracking_uri(configured: str | None) -> str:
    """Config, then MLFLOW_TRACKING_URI, then MLflow's own default made absolute (workers run elsewhere)."""
    uri = configured or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def sqlite_path(uri: str) -> Path | None:
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def default_optuna_storage(tracking_uri: str, configured: str | None) -> str:
    """SQLite optuna.db beside mlflow.db, so optuna-dashboard can open it."""
    if configured:
        return configured
    db = sqlite_path(tracking_uri)
    folder = db.parent if db else Path.cwd()
    return f"sqlite:///{folder / 'optuna.db'}"


def check_reachable(uri: str) -> MlflowClient:
    client = MlflowClient(uri)
    try:
        if uri.startswith(("http://", "https://")):
            _probe_server(uri)
        client.search_experiments(max_results=1)
    except Exception as err:
        raise InputError(
            "tracking.uri",
            None,
            f"MLflow at {uri!r} does not answer ({type(err).__name__}); start it or fix the URI",
        ) from None
    return client


def _probe_server(uri: str) -> None:
    """One short request: MLflow's client would retry a dead server with backoff for minutes first."""
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    response = http_request(
        get_default_host_creds(uri),
        "/api/2.0/mlflow/experiments/search",
        "POST",
        max_retries=0,
        timeout=PROBE_TIMEOUT_SECONDS,
        json={"max_results": 1},
    )
    response.raise_for_status()


def experiment_id(client: MlflowClient, name: str) -> str:
    """The search's experiment, created (or completed, for one an older version made) with the kind that makes
    the MLflow UI treat it as model training and a description that says where the results are."""
    tags = {EXPERIMENT_KIND_TAG: EXPERIMENT_KIND, NOTE_TAG: experiment_note(name)}
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return client.create_experiment(name, tags=tags)
    for key, value in tags.items():
        if key not in experiment.tags:
            client.set_experiment_tag(experiment.experiment_id, key, value)
    return experiment.experiment_id


def find_parent_run(client: MlflowClient, experiment: str) -> str | None:
    runs = client.search_runs(
        [experiment], filter_string=f"tags.`{ROLE_TAG}` = 'search'", order_by=["attributes.start_time DESC"]
    )
    return runs[0].info.run_id if runs else None


def start_parent_run(
    client: MlflowClient, experiment: str, name: str, params: dict[str, str], tags: dict
) -> str:
    run_id = client.create_run(experiment, tags={ROLE_TAG: "search", RUN_NAME_TAG: name}).info.run_id
    # MLflow params are limited to 6000 characters and cannot be logged twice.
    client.log_batch(
        run_id,
        params=[Param(k, v[:6000]) for k, v in params.items()],
        tags=[RunTag(k, str(v)) for k, v in tags.items()],
    )
    return run_id


def close_orphans(client: MlflowClient, experiment: str, parent_run_id: str, tune_trial_ids: set[str]) -> int:
    """Child runs left RUNNING by a killed driver for trials its last saved state did not yet know (Tune relaunched
    that work as new trials): mark them KILLED so each trial the search kept has exactly one finished run."""
    orphans = child_runs(client, experiment, parent_run_id)
    if orphans.empty:
        return 0
    orphans = orphans[(orphans["status"] == "RUNNING") & ~orphans["trial_id"].isin(tune_trial_ids)]
    for run_id in orphans["run_id"]:
        client.set_tag(run_id, "lorapareto.orphan", "interrupted before the driver saved its state; relaunched")
        client.set_terminated(run_id, "KILLED")
    return len(orphans)


def child_runs(client: MlflowClient, experiment: str, parent_run_id: str) -> pd.DataFrame:
    """The search's trial runs: run id, trial id, status and the name their params and origin give them."""
    runs = client.search_runs(
        [experiment],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}' and tags.`{ROLE_TAG}` = 'trial'",
    )
    rows = []
    for r in runs:
        trial_id = r.data.tags.get("trial_id")
        name = trial_run_name(r.data.params, r.data.tags.get("origin"), trial_id or r.info.run_id)
        rows.append({"run_id": r.info.run_id, "trial_id": trial_id, "status": r.info.status, "name": name})
    return pd.DataFrame(rows, columns=["run_id", "trial_id", "status", "name"])


def tag_runs(client: MlflowClient, tags_by_run: Mapping[str, Mapping[str, str]]) -> None:
    """Tags on many runs, one request per run."""
    for run_id, tags in tags_by_run.items():
        client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])


def log_front(client: MlflowClient, run_id: str, trials: pd.DataFrame, front_csv: Path, objectives) -> None:
    client.log_table(run_id, data=trials.reset_index(drop=True), artifact_file="pareto/trials.json")
    client.log_artifact(run_id, str(front_csv), "pareto")
    client.set_tag(run_id, "objectives", objectives_to_json(objectives))


def register_adapter(client: MlflowClient, run_id: str, model_name: str, description: str) -> str:
    """Register the knee trial's peft adapter directory as a model version described by `description`; returns
    the version. A knee registered before (the front recorded again by --resync or --resume) keeps its version,
    with the description brought up to date."""
    from mlflow.exceptions import MlflowException

    for known in client.search_model_versions(f"name = '{model_name}' and run_id = '{run_id}'"):
        client.update_model_version(model_name, known.version, description=description)
        return str(known.version)

    try:
        client.create_registered_model(
            model_name, description="Knee of the search's Pareto front (peft adapter)"
        )
    except MlflowException as err:
        if err.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    source = f"{client.get_run(run_id).info.artifact_uri}/{ADAPTER_DIR}"
    version = client.create_model_version(model_name, source=source, run_id=run_id, description=description)
    return str(version.version)
