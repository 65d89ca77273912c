"""MLflow lost mid-search (issue 10, item 1): a real `mlflow server` is killed while the first trial trains and
stays down until the search ends; the search finishes, keeps every result in Tune's storage and on disk, and says
how to finish. Started again on the same port and store, `--resync` logs what it missed, exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import MlflowServer, shared_corpus, subprocess_env

pytestmark = pytest.mark.e2e

NAME = "outage"
TRIALS = 3
EPOCHS = 2


NO_RETRIES_ENV = subprocess_env(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0")


def _options(url: str) -> list[str]:
    return [
        "--preset", "tiny",
        "--set", f"experiment.name={NAME}",
        "--set", f"tracking.uri={url}",
        "--set", "tracking.http_retries=0",
        "--set", "tracking.http_timeout_seconds=5",
        "--set", f"search.num_samples={TRIALS}",
        "--set", "search.seed_grid=none",
        "--set", "search.sampler=random",
        "--set", "search.max_concurrent_trials=1",
        "--set", f"search.space={{rank: {{choices: [4, 8]}}, epochs: {{choices: [{EPOCHS}]}}}}",
        "--set", "corpus.max_scenarios=40",
        "--set", "corpus.max_judge_items=6",
    ]  # fmt: skip


def _first_epoch_logged(client: MlflowClient) -> bool:
    experiment = client.get_experiment_by_name(NAME)
    if experiment is None:
        return False
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.`lorapareto.role` = 'trial'")
    return any("val_loss" in run.data.metrics for run in runs)


def _trial_runs(client: MlflowClient) -> dict[str, object]:
    experiment = client.get_experiment_by_name(NAME)
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.`lorapareto.role` = 'trial'")
    return {run.data.tags["trial_id"]: run for run in runs}


@pytest.fixture(scope="module")
def outage(tmp_path_factory):
    """The search with its server killed once the first trial logged epoch 1; the server restarted after."""
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"  # this process's own polling must not wait minutes
    workdir = tmp_path_factory.mktemp("outage")
    server = MlflowServer(workdir / "server")
    (workdir / "server").mkdir()
    server.start().wait_healthy()
    client = MlflowClient(server.url)
    search = subprocess.Popen(
        [sys.executable, "-m", "search.run", *_options(server.url), *shared_corpus()],
        cwd=workdir, env=NO_RETRIES_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 600
        while not _first_epoch_logged(client):
            assert search.poll() is None, search.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the first trial never logged an epoch"
            time.sleep(0.5)
        server.stop(signal.SIGKILL)
        stdout, stderr = search.communicate(timeout=900)
        server.start().wait_healthy()
        yield workdir, server, search.returncode, stdout, stderr
    finally:
        if search.poll() is None:
            search.kill()
        server.stop()


def test_search_finishes_without_mlflow_and_keeps_every_result(outage):
    workdir, _, returncode, stdout, stderr = outage
    assert returncode == 3, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert f"--resync {NAME}" in stderr and "Tune's storage" in stderr
    assert f"{TRIALS} trials completed, 0 failed" in stdout
    trials = pd.read_csv(workdir / "reports" / NAME / "trials.csv")
    assert len(trials) == TRIALS and trials["judge_score"].notna().all()
    # The report is built from the trials table while MLflow is away.
    assert (workdir / "reports" / NAME / "report.html").is_file()
    # The untuned baseline, scored before the trials, is kept on disk too: Tune's storage does not hold it.
    assert (workdir / "reports" / NAME / "baseline.json").is_file()
    stored = list((workdir / "ray_results" / NAME).glob("*/checkpoint_*/trial/adapter/adapter_config.json"))
    assert len(stored) == TRIALS


def test_resync_logs_what_mlflow_missed_exactly_once(outage):
    workdir, server, _, _, _ = outage

    def resync() -> str:
        out = subprocess.run(
            [sys.executable, "-m", "search.run", "--resync", NAME, *_options(server.url), *shared_corpus()],
            cwd=workdir, env=NO_RETRIES_ENV, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr[-3000:]
        return out.stdout

    first = resync()
    # The first trial's run was created before the kill; the others never reached MLflow.
    assert f"{TRIALS} trials in Tune's storage; created {TRIALS - 1} MLflow runs" in first
    assert "Pareto front recorded" in first
    client = MlflowClient(server.url)
    runs = _trial_runs(client)
    assert len(runs) == TRIALS
    for run in runs.values():
        assert run.info.status == "FINISHED"
        assert [m.step for m in client.get_metric_history(run.info.run_id, "val_loss")] == list(range(1, EPOCHS + 1))
        assert "judge_score" in run.data.metrics and run.data.tags.get("pareto_rank") is not None
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"adapter", "judge_answers.json"} <= artifacts
    parent = client.get_run(next(iter(runs.values())).data.tags["mlflow.parentRunId"])
    assert parent.info.status == "FINISHED" and "hypervolume" in parent.data.metrics
    assert "baseline_judge_score" in parent.data.metrics
    front = pd.read_csv(workdir / "reports" / NAME / "pareto_front.csv")
    assert set(front["mlflow_run_id"]) <= {run.info.run_id for run in runs.values()}

    again = resync()
    assert "created 0 MLflow runs, logged 0 metric values and 0 adapters" in again
    assert "Pareto front recorded" not in again
    assert len(_trial_runs(client)) == TRIALS
