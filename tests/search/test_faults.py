"""Faults a long search must live through: a flaky judge API, a trial that raises, a worker killed mid-epoch,
MLflow unreachable at the start or lost mid-search. Each is produced for real (a real HTTP server answering
429/500/late/garbage, a hyperparameter that fails inside the worker, SIGKILL of the worker process, a real
`mlflow server` stopped and restarted); the driver runs as a user runs it, `python -m search.run`."""

from __future__ import annotations

import contextlib
import json
import math
import os
import sqlite3
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from judging.panel import JudgeItem, Panel
from tests.helpers import FlakyJudgeServer, free_port, shared_corpus, subprocess_env

CRITERIA = ("relevance", "grammar", "structure", "style")


@pytest.fixture
def flaky_judge():
    server = FlakyJudgeServer()
    yield server
    server.close()


# --- the judge API misbehaves: retries with backoff, then NaN for that item and a count -------------------


def test_flaky_judge_api_retries_then_nan_per_item_and_a_count(tmp_path, flaky_judge, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-canary-not-a-real-key-0000")
    items = [
        JudgeItem(id=str(i), question=f"Why does my APN fail, case {i}?", reference="Reset it.", answer=f"Do {i}.")
        for i in range(12)
    ]
    panel = Panel(
        ["openai/fake-judge"],
        cache_dir=tmp_path / "cache",
        api_base=flaky_judge.url,
        timeout_seconds=1.0,
        backoff_seconds=0.05,
        max_retries=2,
        max_concurrency=4,
    )
    panel.preflight()
    result = panel.score(items)
    statuses = {(mode, status) for mode, status in flaky_judge.log}
    assert {(FlakyJudgeServer.RATE_LIMIT, 429), (FlakyJudgeServer.SERVER_ERROR, 500)} <= statuses
    modes = [flaky_judge.modes[zlib.crc32(p.encode()) % len(flaky_judge.modes)] for p in flaky_judge.attempts]
    assert FlakyJudgeServer.SLOW in modes and FlakyJudgeServer.GARBAGE in modes
    frame = result.items
    garbage = frame["error"].str.contains("malformed reply after repair")
    assert garbage.any()
    assert frame.loc[garbage, "judge_score"].isna().all()
    # 429, 500 and the timed-out first answers were retried and scored.
    assert frame.loc[~garbage, "judge_score"].notna().all()
    assert result.usage["failures"] == int(garbage.sum())
    assert result.metrics()["judge_failures"] == float(garbage.sum())
    assert math.isfinite(result.judge_score) and result.judge_score != 0


def test_judge_that_never_recovers_gives_nan_not_zero(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-canary-not-a-real-key-0000")
    server = FlakyJudgeServer(modes=(FlakyJudgeServer.SERVER_ERROR,))
    try:
        server.answer = lambda body: (503, {"error": {"message": "overloaded", "type": "server_error"}})
        panel = Panel(
            ["openai/fake-judge"], cache_dir=tmp_path / "c", api_base=server.url, backoff_seconds=0.01, max_retries=1
        )
        result = panel.score([JudgeItem(id="1", question="Q?", reference="R.", answer="A.")])
    finally:
        server.close()
    assert math.isnan(result.judge_score)
    assert result.usage["failures"] == 1
    assert "ServiceUnavailableError" in result.items.loc[0, "error"] or "503" in result.items.loc[0, "error"]


# --- a search through a flaky judge, with a hyperparameter that makes some trials raise -------------------

FAULTY_SEARCH = [
    "--preset", "tiny",
    "--set", "experiment.name=faulty",
    "--set", "search.num_samples=4",
    "--set", "search.seed_grid=none",
    "--set", "search.max_failures=1",
    "--set", "search.space={rank: {choices: [4, 8]}, max_seq_len: {choices: [16, 128]}, epochs: {choices: [1]}}",
    "--set", "corpus.max_scenarios=40",
    "--set", "corpus.max_judge_items=6",
    "--set", "judging.panel=[openai/fake-judge]",
    "--set", "judging.timeout_seconds=2",
    "--set", "judging.max_retries=2",
]  # fmt: skip


@pytest.fixture(scope="module")
def faulty_search(tmp_path_factory):
    """One search through a flaky judge, where trials sampled with max_seq_len=16 raise inside the worker."""
    workdir = tmp_path_factory.mktemp("faulty")
    server = FlakyJudgeServer()
    try:
        arguments = [*FAULTY_SEARCH, *shared_corpus(), "--set", f"judging.api_base={server.url}"]
        proc = subprocess.run(
            [sys.executable, "-m", "search.run", *arguments],
            cwd=workdir,
            env=subprocess_env(OPENAI_API_KEY="sk-canary-not-a-real-key-0000"),
            capture_output=True,
            text=True,
            timeout=900,
        )
        yield workdir, proc, server
    finally:
        server.close()


@pytest.mark.e2e
def test_search_survives_a_flaky_judge_and_trials_that_raise(faulty_search):
    tmp_path, proc, flaky_judge = faulty_search
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("faulty")
    children = client.search_runs([experiment.experiment_id], filter_string="tags.`lorapareto.role` = 'trial'")
    failed = [c for c in children if c.info.status == "FAILED"]
    finished = [c for c in children if c.info.status == "FINISHED"]
    assert failed and finished, [(c.data.params.get("max_seq_len"), c.info.status) for c in children]
    # A trial that raises: FAILED with its reason, one run even though Tune retried it, not on the front.
    for run in failed:
        assert run.data.params["max_seq_len"] == "16"
        assert "no training examples fit max_seq_len" in run.data.tags["error"]
        assert run.data.tags.get("pareto_rank", "") == ""
    trial_ids = [c.data.tags["trial_id"] for c in children]
    assert len(trial_ids) == len(set(trial_ids)) == 4
    summary = f"{len(finished)} trials completed, {len(failed)} failed"
    assert summary in proc.stdout
    front = (tmp_path / "reports" / "faulty" / "pareto_front.csv").read_text()
    assert all(run.info.run_id not in front for run in failed)
    # The flaky judge: some items ended as NaN and are counted; the trial still has a finite score.
    assert any(mode == FlakyJudgeServer.RATE_LIMIT and status == 429 for mode, status in flaky_judge.log)
    for run in finished:
        assert run.data.params["max_seq_len"] == "128"
        assert math.isfinite(run.data.metrics["judge_score"])
        assert "judge_failures" in run.data.metrics
    assert sum(run.data.metrics["judge_failures"] for run in finished) >= 1


# --- MLflow unreachable at the start: a clear error before any training -----------------------------------


def test_mlflow_unreachable_at_start_fails_before_any_work(tmp_path):
    uri = f"http://127.0.0.1:{free_port()}"
    proc = subprocess.run(
        [sys.executable, "-m", "search.run", "--set", f"tracking.uri={uri}", "--set", "experiment.name=nomlflow"],
        cwd=tmp_path,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=180,  # MLflow's own client retries a dead server for minutes; the probe must not
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "tracking.uri" in errors[0] and uri in errors[0], proc.stderr[-2000:]
    assert not list((tmp_path / "data").glob("*")), "the corpus must not be built"
    assert not list((tmp_path / "ray_results").glob("*")), "no trial may start"


# --- a worker killed mid-epoch: Tune restores it from its checkpoint, one MLflow run ----------------------

KILLED_SEARCH = [
    "--preset", "tiny",
    "--set", "experiment.name=killed",
    "--set", "search.num_samples=1",
    "--set", "search.seed_grid=none",
    "--set", "search.max_failures=1",
    "--set", "search.max_concurrent_trials=1",
    "--set", "search.space={epochs: {choices: [3]}, target_modules: {choices: [all-linear]}}",
    "--set", "model.tiny={hidden_size: 256, num_hidden_layers: 4, intermediate_size: 512}",
    "--set", "corpus.max_scenarios=120",
    "--set", "corpus.pairs_per_scenario=8",
    "--set", "corpus.max_judge_items=4",
    "--set", "training.max_new_tokens=8",
]  # fmt: skip


def _trial_pids(experiment_dir: Path) -> set[int]:
    """The worker processes running this search's trials, from the `pid` Tune records in each result row
    (other searches on the machine have workers with the same process title)."""
    pids = set()
    for result in experiment_dir.glob("lora_trial_*/result.json"):
        pids |= {json.loads(line)["pid"] for line in result.read_text().splitlines() if line.strip()}
    return pids


def _epoch_steps(db: Path) -> list[int]:
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            rows = conn.execute("select step from metrics where key = 'epoch' order by timestamp").fetchall()
        return [r[0] for r in rows]
    except sqlite3.Error:
        return []


@pytest.mark.e2e
def test_worker_killed_mid_epoch_resumes_from_its_checkpoint_in_one_run(tmp_path):
    log = (tmp_path / "driver.log").open("w")
    driver = subprocess.Popen(
        [sys.executable, "-m", "search.run", *KILLED_SEARCH],
        cwd=tmp_path, env=subprocess_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.time() + 600
        experiment_dir = tmp_path / "ray_results" / "killed"
        victims: set[int] = set()
        while not (victims and list(experiment_dir.glob("lora_trial_*/checkpoint_000000"))):
            assert driver.poll() is None, (tmp_path / "driver.log").read_text()[-3000:]
            assert time.time() < deadline, "no epoch checkpoint in time"
            victims = _trial_pids(experiment_dir)
            time.sleep(0.2)
        assert _epoch_steps(tmp_path / "mlflow.db") == [1], "the kill must land in the second epoch"
        assert len(victims) == 1, victims
        for pid in victims:
            os.kill(pid, 9)
        assert driver.wait(timeout=900) == 0, (tmp_path / "driver.log").read_text()[-3000:]
    finally:
        if driver.poll() is None:
            driver.kill()
    text = (tmp_path / "driver.log").read_text()
    assert "1 trials completed, 0 failed" in text
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("killed")
    children = client.search_runs([experiment.experiment_id], filter_string="tags.`lorapareto.role` = 'trial'")
    assert len(children) == 1 and children[0].info.status == "FINISHED"
    history = [m.step for m in client.get_metric_history(children[0].info.run_id, "epoch")]
    # Epoch 1 came from the checkpoint: it was not trained (or logged) again after the restore.
    assert history.count(1) == 1 and history[0] == 1 and max(history) == 3
    assert sorted(set(history)) == [1, 2, 3]


# --- MLflow lost: Tune's storage keeps the results; `--resync` logs what MLflow lacks, exactly once ---------


def _trial_runs(uri: str, name: str) -> list:
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return []
    return client.search_runs([experiment.experiment_id], filter_string="tags.`lorapareto.role` = 'trial'")


@pytest.mark.e2e
def test_resync_logs_tune_results_missing_from_mlflow_exactly_once(faulty_search):
    workdir, proc, _ = faulty_search
    assert proc.returncode == 0, proc.stderr[-3000:]
    original = f"sqlite:///{workdir / 'mlflow.db'}"
    # The store MLflow came back with lacks every trial (a server restored from a backup taken before the search).
    restored = f"sqlite:///{workdir / 'restored.db'}"
    args = [*FAULTY_SEARCH[:4], "--set", f"tracking.uri={restored}"]

    def resync(uri_args: list[str]) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "search.run", "--resync", "faulty", *uri_args],
            cwd=workdir, env=subprocess_env(), capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr[-3000:]
        return out.stdout

    first = resync(args)
    assert "created 4 MLflow runs" in first and "4 trials in Tune's storage" in first
    again = resync(args)
    assert "created 0 MLflow runs, logged 0 metric values and 0 adapters" in again
    resynced = {r.data.tags["trial_id"]: r for r in _trial_runs(restored, "faulty")}
    logged = {r.data.tags["trial_id"]: r for r in _trial_runs(original, "faulty")}
    assert set(resynced) == set(logged) and len(resynced) == 4
    client = MlflowClient(restored)
    for trial_id, run in logged.items():
        copy = resynced[trial_id]
        assert copy.info.status == run.info.status
        assert copy.data.params["max_seq_len"] == run.data.params["max_seq_len"]
        if run.info.status == "FINISHED":
            assert copy.data.metrics["judge_score"] == pytest.approx(run.data.metrics["judge_score"])
            assert copy.data.metrics["energy_wh"] == pytest.approx(run.data.metrics["energy_wh"])
            steps = [m.step for m in client.get_metric_history(copy.info.run_id, "val_loss")]
            assert steps == [1]
            assert [a.path for a in client.list_artifacts(copy.info.run_id, "adapter")]
    # Against the store the search logged to, nothing is missing, so no run is created twice.
    resync([*FAULTY_SEARCH[:4], "--set", f"tracking.uri={original}"])
    assert len(_trial_runs(original, "faulty")) == 4


# --- a full disk while a result file or an MLflow artifact is written ----------------------------------------
# Real ENOSPC from a 256 KiB tmpfs where this process may mount one (root, as in the CI container); otherwise
# real EFBIG from RLIMIT_FSIZE in a child process. Either way the write fails in the kernel, not in a mock.


@contextlib.contextmanager
def small_disk(mount: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` at `mount`, unmounted afterwards; the test is skipped where mounting is not allowed."""
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], capture_output=True)
    if mounted.returncode:
        pytest.skip("this sandbox may not mount a tmpfs (the RLIMIT_FSIZE test covers the same fault)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.fixture
def full_disk(tmp_path):
    with small_disk(tmp_path / "small-disk", "256k") as mount:
        yield mount


def test_full_disk_keeps_the_previous_result_file_whole(full_disk):
    import errno

    from common import atomic

    target = full_disk / "pareto_front.json"
    atomic.write_json(target, {"front": [1, 2, 3]})
    with pytest.raises(OSError) as full:
        atomic.write_text(target, "x" * 400_000)
    assert full.value.errno == errno.ENOSPC
    assert json.loads(target.read_text()) == {"front": [1, 2, 3]}
    assert [p.name for p in full_disk.iterdir()] == ["pareto_front.json"], "no temporary file left behind"


def test_full_disk_under_an_mlflow_artifact_keeps_the_run_and_raises(full_disk, tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("disk", artifact_location=str(full_disk / "mlruns"))
    run = client.create_run(experiment).info.run_id
    client.log_metric(run, "judge_score", 3.5)
    adapter = tmp_path / "adapter.safetensors"
    adapter.write_bytes(os.urandom(600_000))
    with pytest.raises(OSError):
        client.log_artifact(run, str(adapter), "adapter")
    # Not an outage (tolerating_mlflow_outage lets it propagate): the trial fails and Tune retries it from its
    # checkpoint (search.max_failures); what MLflow already holds stays.
    assert client.get_run(run).data.metrics["judge_score"] == 3.5


def test_file_size_limit_fails_the_write_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "trials.json"
    code = (
        "import resource, signal, json, sys\n"
        "from common import atomic\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        f"atomic.write_json({str(target)!r}, {{'trials': 1}})\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))\n"
        "try:\n"
        f"    atomic.write_text({str(target)!r}, 'x' * 300_000)\n"
        "except OSError as err:\n"
        "    print(err.errno)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=subprocess_env(), capture_output=True, text=True)
    import errno

    assert proc.stdout.strip() == str(errno.EFBIG), proc.stderr[-2000:]
    assert json.loads(target.read_text()) == {"trials": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["trials.json"]
