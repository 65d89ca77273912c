"""The search on a two-node Ray cluster (issue 8, item 4).

A `ray.cluster_utils.Cluster` with two nodes of two logical GPUs each; the product's own entry point joins it and
runs four one-GPU trials of the tiny model. The logical GPUs are only Ray resources (torch sees no CUDA device, so
the trainable falls back to the CPU), but they force the placement a real cluster would get: two trials per node,
four at once. Tune's storage is a `file://` URI and MLflow a real `mlflow server` on loopback with proxied
artifacts. Both nodes share this machine's filesystem, so a driver-side path that a real worker could not read
would go unnoticed here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import ROOT, MlflowServer

pytestmark = pytest.mark.e2e  # every test here needs the two-node cluster and the MLflow server (about 1 minute)

NAME = "multinode"
NODES = 2
GPUS_PER_NODE = 2
TRIALS = NODES * GPUS_PER_NODE
SEARCH_TIMEOUT_S = 900
QUIET_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "RAY_AUTH_MODE": "disabled",
    "HF_HUB_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}
SMALL = [
    "--set", f"experiment.name={NAME}",
    "--set", "search.gpus_per_trial=1",
    "--set", "search.cpus_per_trial=0.5",
    "--set", f"search.max_concurrent_trials={TRIALS}",
    "--set", f"search.num_samples={TRIALS}",
    "--set", "search.seed_grid=none",
    "--set", "search.space.epochs.choices=[1]",
    "--set", "corpus.max_scenarios=60",
    "--set", "corpus.max_judge_items=8",
]  # fmt: skip


@pytest.fixture(scope="module")
def ray_tmpdir():
    """Ray's session directory; short, because Ray's unix sockets live in it (path length limit)."""
    path = tempfile.mkdtemp(prefix="lp-mn-", dir="/tmp")
    previous = os.environ.get("RAY_TMPDIR")
    os.environ["RAY_TMPDIR"] = path  # ray.cluster_utils.Cluster ignores a temp_dir argument
    yield path
    if previous is None:
        os.environ.pop("RAY_TMPDIR", None)
    else:
        os.environ["RAY_TMPDIR"] = previous
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real tracking server on a free loopback port: SQLite store, artifacts proxied to a local folder."""
    server = MlflowServer(tmp_path_factory.mktemp("mlflow")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cluster(ray_tmpdir, mlflow_server):
    """Two nodes of two CPUs and two logical GPUs: the GPUs, not the CPUs, limit each node to two trials."""
    from ray.cluster_utils import Cluster

    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    ray_cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 2, "num_gpus": GPUS_PER_NODE, "include_dashboard": False},
    )
    try:
        for _ in range(NODES - 1):
            ray_cluster.add_node(num_cpus=2, num_gpus=GPUS_PER_NODE)
        ray_cluster.wait_for_nodes()
        # The server was started first: it takes about as long to answer as the cluster takes to come up.
        mlflow_server.wait_healthy()
        yield ray_cluster
    finally:
        ray_cluster.shutdown()


def _search(cluster, mlflow_url: str, cwd: Path, *extra: str, timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, **QUIET_ENV, "PYTHONPATH": str(ROOT)}
    for key in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS"):
        env.pop(key, None)
    command = [
        sys.executable, "-m", "search.run", "--preset", "tiny", "--address", cluster.address, *SMALL,
        "--set", f"tracking.uri={mlflow_url}", *extra,
    ]  # fmt: skip
    return subprocess.run(
        command,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_local_storage_path_is_refused_on_two_nodes(cluster, mlflow_server, tmp_path):
    plain = tmp_path / "not-shared"
    proc = _search(
        cluster,
        mlflow_server.url,
        tmp_path,
        "--set", "experiment.name=refused",
        "--set", f"search.storage_path={plain}",
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    assert errors[0].startswith("error: search.storage_path:")
    assert str(plain) in errors[0] and f"{NODES} nodes" in errors[0]
    assert errors[0] == proc.stderr.strip().splitlines()[-1]
    # Refused before any work: not one file written (no corpus, no model, no Tune results), no MLflow experiment.
    assert [p for p in tmp_path.rglob("*") if not p.is_dir()] == []
    assert MlflowClient(mlflow_server.url).get_experiment_by_name("refused") is None


@pytest.fixture(scope="module")
def search(cluster, mlflow_server, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("search")
    shared = workdir / "shared"
    proc = _search(
        cluster,
        mlflow_server.url,
        workdir,
        "--set", f"search.storage_path=file://{shared}",
        timeout=SEARCH_TIMEOUT_S,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    # Read while the cluster is up: the GCS actor table is where Ray records each trial actor's node.
    actors = cluster.global_state.actor_table(None)
    node_ids = {node.node_id for node in (cluster.head_node, *cluster.worker_nodes)}
    return {"shared": shared / NAME, "stdout": proc.stdout, "actors": actors, "node_ids": node_ids}


def _trial_results(experiment_dir: Path) -> dict[Path, dict]:
    """Each trial's directory in the shared storage and the last result it reported there (Tune's result.json)."""
    results = {}
    for path in experiment_dir.glob("*/result.json"):
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        assert lines, f"{path} is empty"
        results[path.parent] = lines[-1]
    return results


def test_four_trials_ran_at_once_across_both_nodes(search, mlflow_server):
    results = _trial_results(search["shared"])
    assert len(results) == TRIALS
    actor_by_pid = {actor["Pid"]: actor for actor in search["actors"].values()}
    trial_actors = [actor_by_pid[result["pid"]] for result in results.values()]
    assert len({actor["ActorID"] for actor in trial_actors}) == TRIALS, "each trial had its own actor"
    trials_per_node: dict[str, int] = {}
    for actor in trial_actors:
        trials_per_node[actor["Address"]["NodeID"]] = trials_per_node.get(actor["Address"]["NodeID"], 0) + 1
    assert set(trials_per_node) == search["node_ids"] and len(search["node_ids"]) == NODES
    assert sorted(trials_per_node.values()) == [GPUS_PER_NODE] * NODES, trials_per_node

    # Each trial's body runs between its child run's creation and its termination: all four intervals overlap.
    client = MlflowClient(mlflow_server.url)
    experiment = client.get_experiment_by_name(NAME)
    children = client.search_runs([experiment.experiment_id], filter_string="tags.`lorapareto.role` = 'trial'")
    assert {c.data.tags["trial_id"] for c in children} == {r["trial_id"] for r in results.values()}
    latest_start = max(c.info.start_time for c in children)
    earliest_end = min(c.info.end_time for c in children)
    assert latest_start < earliest_end, f"no instant with all {TRIALS} trials running"
    # The trial actors' own lifetimes, as the GCS recorded them, agree.
    assert max(a["StartTime"] for a in trial_actors) < min(a["EndTime"] for a in trial_actors)


def test_checkpoints_land_in_the_shared_storage_path(search):
    assert f"{TRIALS} trials completed, 0 failed" in search["stdout"]
    trial_dirs = list(_trial_results(search["shared"]))
    assert len(trial_dirs) == TRIALS
    for trial_dir in trial_dirs:
        checkpoints = sorted(trial_dir.glob("checkpoint_*"))
        assert checkpoints, f"no checkpoint under {trial_dir}"
        adapter = checkpoints[-1] / "trial" / "adapter"
        assert (adapter / "adapter_config.json").is_file()
        assert (adapter / "adapter_model.safetensors").stat().st_size > 0


def test_every_child_run_reached_the_tracking_server(search, mlflow_server):
    client = MlflowClient(mlflow_server.url)
    experiment = client.get_experiment_by_name(NAME)
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("lorapareto.role") == "search"]
    children = [r for r in runs if r.data.tags.get("lorapareto.role") == "trial"]
    assert len(parents) == 1 and len(children) == TRIALS
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert "baseline_judge_score" in parent.data.metrics and parent.data.metrics["hypervolume"] >= 0
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.data.params["target_modules"] and 1.0 <= child.data.metrics["judge_score"] <= 5.0
        # Proxied artifacts: the trial uploaded over HTTP, the server wrote them to its own folder.
        assert child.info.artifact_uri.startswith("mlflow-artifacts:")
        names = {Path(f.path).name for f in client.list_artifacts(child.info.run_id, "adapter")}
        assert {"adapter_config.json", "adapter_model.safetensors"} <= names
        stored = list(mlflow_server.artifacts.rglob(f"{child.info.run_id}/artifacts/adapter/adapter_config.json"))
        assert len(stored) == 1
