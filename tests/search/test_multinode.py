"""The search on a two-node Ray cluster (issue 8, item 4).

A `ray.cluster_utils.Cluster` with two nodes of two logical GPUs each; the product's own entry point joins it and
runs four one-GPU trials of the tiny model. The logical GPUs are only Ray resources (torch sees no CUDA device, so
the trainable falls back to the CPU), but they force the placement a real cluster would get: two trials per node,
four at once. Tune's storage is a `file://` URI and MLflow a real `mlflow server` on loopback with proxied
artifacts. Both nodes share this machine's filesystem, so a driver-side path that a real worker could not read
would go unnoticed here.

Last, a second search on the same cluster loses the worker node mid-trial (every process of it SIGKILLed): the trial
goes on from its checkpoint on the head node, once in Tune, Optuna and MLflow (docs/reliability.md, F17).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import ROOT, MlflowServer, shared_corpus

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


def _driver(cluster, mlflow_url: str, *extra: str) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of a search driver joining the cluster; `extra` overrides SMALL."""
    env = {**os.environ, **QUIET_ENV, "PYTHONPATH": str(ROOT)}
    for key in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS"):
        env.pop(key, None)
    command = [
        sys.executable, "-m", "search.run", "--preset", "tiny", "--address", cluster.address, *SMALL, *shared_corpus(),
        "--set", f"tracking.uri={mlflow_url}", *extra,
    ]  # fmt: skip
    return command, env


def _search(cluster, mlflow_url: str, cwd: Path, *extra: str, timeout: float) -> subprocess.CompletedProcess:
    command, env = _driver(cluster, mlflow_url, *extra)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


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
    return {
        "workdir": workdir,
        "shared": shared / NAME,
        "stdout": proc.stdout,
        "actors": actors,
        "node_ids": node_ids,
    }


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


# --- A worker node lost mid-trial --------------------------------------------------------------------------------
# Last in this module: it removes the worker node, and runs after `search`, which needs both nodes.

LOST = "nodeloss"
LOST_EPOCHS = 3  # the kill lands after epoch 1's checkpoint with two epochs and the judging still to go


def _result_rows(experiment_dir: Path) -> dict[Path, list[dict]]:
    """Each trial directory's result rows so far; a line Tune is still writing is left for the next look."""
    rows: dict[Path, list[dict]] = {}
    for path in experiment_dir.glob("*/result.json"):
        complete = path.read_text().split("\n")[:-1]
        try:
            rows[path.parent] = [json.loads(line) for line in complete if line.strip()]
        except json.JSONDecodeError:
            continue
    return rows


def _kill_the_node_under_a_checkpointed_trial(cluster, victim, experiment_dir: Path, driver, log: Path) -> dict:
    """Wait until a trial running on `victim` has reported an epoch (and stored its checkpoint), then kill every
    process of that node, its raylet first, without a graceful stop: the node is lost, not drained."""
    deadline = time.monotonic() + SEARCH_TIMEOUT_S
    while True:
        assert driver.poll() is None, log.read_text()[-4000:]
        assert time.monotonic() < deadline, "no trial on the worker node reported an epoch in time"
        on_victim = {
            actor["Pid"]
            for actor in cluster.global_state.actor_table(None).values()
            if actor["Address"]["NodeID"] == victim.node_id and actor["State"] == "ALIVE"
        }
        for trial_dir, rows in _result_rows(experiment_dir).items():
            if rows and rows[-1]["pid"] in on_victim and list(trial_dir.glob("checkpoint_*")):
                cluster.remove_node(victim, allow_graceful=False)
                return {"trial_dir": trial_dir, "rows": rows, "node_id": victim.node_id}
        time.sleep(0.2)


@pytest.fixture(scope="module")
def node_lost(search, cluster, mlflow_server):
    """A second search on the same cluster: two trials of two GPUs each, so each node runs one of them. Once the
    worker node's trial has checkpointed its first epoch, that node is killed; the search must go on by itself."""
    workdir = search["workdir"]  # the first search's corpus and tiny model serve this one too
    command, env = _driver(
        cluster,
        mlflow_server.url,
        "--set", f"experiment.name={LOST}",
        "--set", f"search.storage_path=file://{workdir / 'shared'}",
        "--set", f"search.gpus_per_trial={GPUS_PER_NODE}",
        "--set", "search.num_samples=2",
        "--set", "search.max_concurrent_trials=2",
        "--set", f"search.space.epochs.choices=[{LOST_EPOCHS}]",
    )  # fmt: skip
    experiment_dir = workdir / "shared" / LOST
    log = workdir / f"{LOST}.log"
    with log.open("w") as out:
        driver = subprocess.Popen(command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            killed = _kill_the_node_under_a_checkpointed_trial(
                cluster, next(iter(cluster.worker_nodes)), experiment_dir, driver, log
            )
            assert driver.wait(timeout=SEARCH_TIMEOUT_S) == 0, log.read_text()[-4000:]
        finally:
            if driver.poll() is None:
                driver.kill()
                driver.wait()
    return {
        **killed,
        "workdir": workdir,
        "experiment_dir": experiment_dir,
        "log": log.read_text(),
        "actors": cluster.global_state.actor_table(None),
        "head_id": cluster.head_node.node_id,
    }


def test_a_worker_node_lost_mid_trial_is_retried_from_its_checkpoint_and_kept_once(node_lost, mlflow_server):
    import optuna

    killed_dir, rows_at_kill = node_lost["trial_dir"], node_lost["rows"]
    assert not rows_at_kill[-1]["is_final"], "the kill must land while the trial still trains"
    killed_epoch = rows_at_kill[-1]["epoch"]
    trial_id = rows_at_kill[-1]["trial_id"]
    log = node_lost["log"]
    # What the user sees: one line naming the trial, the lost node and the retry, then a search that finished.
    retries = [line for line in log.splitlines() if line.startswith("[retry] ")]
    assert len(retries) == 1, log[-4000:]
    # A SIGKILLed raylet reaches the driver as a connection reset (ActorUnavailableError) before the GCS declares the
    # node dead, so the line names the node's host and address, from the trial's last result.
    assert f"trial {trial_id} failed on {rows_at_kill[-1]['hostname']} ({rows_at_kill[-1]['node_ip']}): " in retries[0]
    assert f"again from its checkpoint after epoch {killed_epoch} (failure 1 of the 1 " in retries[0], retries[0]
    assert "2 trials completed, 0 failed" in log, log[-4000:]

    # Tune: two trials, each once; the lost one went on from its checkpoint on the head node, epochs once each.
    results = _result_rows(node_lost["experiment_dir"])
    assert len(results) == 2
    rows = results[killed_dir]
    assert [r["epoch"] for r in rows] == list(range(1, LOST_EPOCHS + 1)), rows
    assert rows[: len(rows_at_kill)] == rows_at_kill and rows[-1]["is_final"]
    actor_by_pid = {actor["Pid"]: actor for actor in node_lost["actors"].values()}
    before, after = actor_by_pid[rows_at_kill[-1]["pid"]], actor_by_pid[rows[-1]["pid"]]
    assert before["Address"]["NodeID"] == node_lost["node_id"] and before["State"] == "DEAD"
    assert after["Address"]["NodeID"] == node_lost["head_id"]
    assert f"The actor {before['ActorID']} is unavailable" in (killed_dir / "error.txt").read_text()

    # MLflow: one child run per trial, both FINISHED (none left RUNNING); the retried trial's run is the one it
    # opened before the kill, with each epoch logged once (the epochs up to the checkpoint were not trained again).
    client = MlflowClient(mlflow_server.url)
    experiment = client.get_experiment_by_name(LOST)
    runs = client.search_runs([experiment.experiment_id])
    assert {r.info.status for r in runs} == {"FINISHED"}
    children = [r for r in runs if r.data.tags.get("lorapareto.role") == "trial"]
    assert sorted(c.data.tags["trial_id"] for c in children) == sorted(r[-1]["trial_id"] for r in results.values())
    (retried,) = [c for c in children if c.data.tags["trial_id"] == trial_id]
    epochs = [m.step for m in client.get_metric_history(retried.info.run_id, "epoch")]
    assert sorted(epochs) == list(range(1, LOST_EPOCHS + 1)), epochs
    assert retried.info.start_time < before["EndTime"] < retried.info.end_time
    assert killed_epoch in epochs

    # Optuna: one COMPLETE trial per Tune trial, the retried one's point once (Tune retried it under its own id).
    study = optuna.load_study(study_name=LOST, storage=f"sqlite:///{node_lost['workdir'] / 'optuna.db'}")
    trials = study.get_trials(deepcopy=False)
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 2
    tune_rates = sorted(r[-1]["config"]["learning_rate"] for r in results.values())
    assert sorted(t.params["learning_rate"] for t in trials) == pytest.approx(tune_rates)
