"""A trial's MLflow run when the tracking server is gone: the trial goes on offline instead of failing; a request
MLflow refuses (a bug, not an outage) still raises."""

from __future__ import annotations

import pytest
from mlflow.exceptions import MlflowException

from tests.helpers import free_port
from trainables.tracking import TrialRun, is_unreachable, limit_http_retries


@pytest.fixture
def quick_http(monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
    limit_http_retries(0, 2)
    yield


def test_a_dead_server_turns_the_trial_offline_and_every_call_into_a_no_op(quick_http, tmp_path):
    run = TrialRun(f"http://127.0.0.1:{free_port()}", "gone", None, "trial_0001")
    assert run.offline and run.run_id is None
    assert "MlflowException" in run.offline_reason
    run.log_params({"rank": 8})
    run.log_metrics({"val_loss": 1.0}, step=1)
    run.set_tags({"origin": "sampler"})
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    run.log_artifacts(adapter, "adapter")
    run.finish()
    assert run.offline


def test_limit_http_retries_sets_what_mlflow_reads_per_request(quick_http):
    from mlflow.environment_variables import MLFLOW_HTTP_REQUEST_MAX_RETRIES, MLFLOW_HTTP_REQUEST_TIMEOUT

    assert MLFLOW_HTTP_REQUEST_MAX_RETRIES.get() == 0 and MLFLOW_HTTP_REQUEST_TIMEOUT.get() == 2


def test_a_refused_request_still_raises(tmp_path):
    run = TrialRun(f"sqlite:///{tmp_path / 'mlflow.db'}", "refusing", None, "trial_0002")
    assert not run.offline and run.run_id
    with pytest.raises(MlflowException) as raised:
        run.log_metrics({"bad name?*": 1.0}, step=1)
    assert not is_unreachable(raised.value)
    assert not run.offline
    run.log_metrics({"val_loss": 0.5}, step=1)
    assert run.client.get_run(run.run_id).data.metrics == {"val_loss": 0.5}


def test_outage_errors_are_told_apart_from_refusals():
    import requests
    from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, INVALID_PARAMETER_VALUE

    assert is_unreachable(MlflowException("API request to http://x failed", error_code=INTERNAL_ERROR))
    assert is_unreachable(requests.ConnectionError("refused"))
    assert is_unreachable(ConnectionRefusedError())
    assert not is_unreachable(MlflowException("bad key", error_code=INVALID_PARAMETER_VALUE))
    assert not is_unreachable(ValueError("a bug"))
