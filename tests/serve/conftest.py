"""One small finished search shared by every serving test, and one server on it (a real `python -m serve`
process): the tiny model, four trials, the offline judge, MLflow on SQLite. One trial's adapter is corrupted in
the artifact store before the server starts, so the broken-adapter path is exercised by the same server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import free_port, shared_corpus, subprocess_env

SEARCH = "served"
API_KEY = "test-key-0123456789abcdef"
SMALL = [
    "--preset", "tiny",
    "--set", f"experiment.name={SEARCH}",
    "--set", "search.num_samples=4",
    "--set", "search.seed_grid=none",
    "--set", "search.space={rank: {choices: [4, 8]}, epochs: {choices: [1]}}",
    "--set", "corpus.max_scenarios=40",
    "--set", "corpus.max_judge_items=6",
    "--set", "training.max_new_tokens=16",
]  # fmt: skip


@dataclass
class Search:
    workdir: Path
    uri: str
    parent_run_id: str
    knee_run_id: str
    broken: str  # the model whose adapter files are corrupted
    healthy: list[str]  # trials other than the knee that still load


def run_cli(workdir: Path, *args: str, timeout: int = 600, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=workdir, env=subprocess_env(**env), capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


@pytest.fixture(scope="session")
def search(tmp_path_factory) -> Search:
    workdir = tmp_path_factory.mktemp("served-search")
    proc = run_cli(workdir, "-m", "search.run", *SMALL, *shared_corpus(), timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(SEARCH)
    runs = client.search_runs([experiment.experiment_id])
    parent = next(r for r in runs if r.data.tags.get("lorapareto.role") == "search")
    knee = parent.data.tags["knee_run_id"]
    others = [r for r in runs if r.data.tags.get("lorapareto.role") == "trial" and r.info.run_id != knee]
    assert len(others) >= 2, "the fixture needs a trial to break and one to rate besides the knee"
    broken = others[0]
    adapter = Path(broken.info.artifact_uri.removeprefix("file://")) / "adapter" / "adapter_model.safetensors"
    adapter.write_bytes(b"not a safetensors file")
    return Search(
        workdir, uri, parent.info.run_id, knee, f"trial-{broken.data.tags['trial_id']}",
        [f"trial-{r.data.tags['trial_id']}" for r in others[1:]],
    )  # fmt: skip


@dataclass
class Server:
    url: str
    ratings_db: str
    log: Path
    process: subprocess.Popen

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)


def start_server(search: Search, ratings_db: str, log: Path, port: int | None = None) -> Server:
    port = port or free_port()
    command = [
        sys.executable, "-m", "serve", "--search", SEARCH, "--tracking-uri", search.uri, "--port", str(port),
        "--ratings-db", ratings_db, "--api-key-env", "SERVE_TEST_KEY", "--max-new-tokens", "32",
    ]  # fmt: skip
    with log.open("a") as out:
        process = subprocess.Popen(
            command, cwd=search.workdir, env=subprocess_env(SERVE_TEST_KEY=API_KEY), stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = Server(f"http://127.0.0.1:{port}", ratings_db, log, process)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-4000:]
        try:
            with urllib.request.urlopen(f"{server.url}/health", timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.5)
    server.stop()
    raise AssertionError(f"server did not come up: {log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def ratings_db(search) -> str:
    return f"sqlite:///{search.workdir / 'ratings.db'}"


@pytest.fixture(scope="session")
def server(search, ratings_db, tmp_path_factory):
    proc = run_cli(search.workdir, "-m", "serve.tasks", "--search", SEARCH, "--tracking-uri", search.uri,
                   "--ratings-db", ratings_db, "--models", ",".join(["base", "knee", search.healthy[0]]))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    running = start_server(search, ratings_db, tmp_path_factory.mktemp("server") / "server.log")
    yield running
    running.stop()


def add_rater(search: Search, ratings_db: str, name: str) -> str:
    proc = run_cli(search.workdir, "-m", "serve.raters", "add", name, "--ratings-db", ratings_db)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
