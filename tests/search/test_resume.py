"""Kill the search driver with SIGKILL mid-search, then `--resume` it: every trial exactly once everywhere."""

from __future__ import annotations

import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient

from search.searcher import UNRECORDED_ATTR
from tests.helpers import ROOT, shared_corpus

NAME = "resumed"
ARGS = [
    "--set", f"experiment.name={NAME}",
    "--set", "search.num_samples=4",
    "--set", "search.seed_grid=none",
    "--set", "search.space.epochs.choices=[2]",
    "--set", "corpus.max_scenarios=60",
    "--set", "corpus.max_judge_items=8",
]


def _finished_trial_ids(db: Path) -> set[str]:
    with sqlite3.connect(db, timeout=5) as conn:
        rows = conn.execute(
            "select t2.value from runs r join tags t on r.run_uuid = t.run_uuid "
            "join tags t2 on r.run_uuid = t2.run_uuid and t2.key = 'trial_id' "
            "where t.key = 'lorapareto.role' and t.value = 'trial' and r.status = 'FINISHED'"
        ).fetchall()
    return {r[0] for r in rows}


def _finished_children(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            rows = conn.execute(
                "select count(*) from runs r join tags t on r.run_uuid = t.run_uuid "
                "where t.key = 'lorapareto.role' and t.value = 'trial' and r.status = 'FINISHED'"
            ).fetchone()
        return rows[0]
    except sqlite3.Error:
        return 0


def _asked_trials(db: Path) -> list[tuple[int, str]]:
    """(number, state) of every trial the searcher asked Optuna for, in order."""
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            return conn.execute("select number, state from trials order by number").fetchall()
    except sqlite3.Error:  # the tables are created with the study
        return []


def _params_of(db: Path, number: int) -> dict[str, float]:
    with sqlite3.connect(db, timeout=5) as conn:
        rows = conn.execute(
            "select p.param_name, p.param_value from trial_params p join trials t on p.trial_id = t.trial_id "
            "where t.number = ?",
            (number,),
        ).fetchall()
    return dict(rows)


@pytest.mark.e2e
def test_sigkilled_driver_resumes_with_each_trial_once(tmp_path):
    """The driver is killed right after the searcher asked Optuna for the third point, before Tune's next snapshot
    can name the trial (the timing that once ran a point twice): the resume runs every trial once in Tune, Optuna
    and MLflow, and no point twice."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("MLFLOW_TRACKING_URI", None)
    log = (tmp_path / "first.log").open("w")
    driver = subprocess.Popen(
        [sys.executable, "-m", "search.run", "--preset", "tiny", *ARGS, *shared_corpus()],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    optuna_db = tmp_path / "optuna.db"
    deadline = time.time() + 600
    while len(_asked_trials(optuna_db)) < 3:
        assert driver.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
        assert time.time() < deadline, "the third point was not asked in time"
        time.sleep(0.02)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    # The local Ray the driver started goes with it; leave nothing behind that could answer the resume.
    subprocess.run([sys.executable, "-m", "ray.scripts.scripts", "stop", "--force"], capture_output=True, env=env)
    asked = _asked_trials(optuna_db)
    third = _params_of(optuna_db, 2)  # Optuna stores a point's values one by one: none, some or all by now
    assert len(asked) == 3, asked
    finished_before = _finished_trial_ids(tmp_path / "mlflow.db")
    assert len(finished_before) < 4

    resumed = subprocess.run(
        [sys.executable, "-m", "search.run", "--preset", "tiny", *ARGS, *shared_corpus(), "--resume", NAME],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(NAME)
    runs = client.search_runs([experiment.experiment_id])
    children = [r for r in runs if r.data.tags.get("lorapareto.role") == "trial"]
    parents = [r for r in runs if r.data.tags.get("lorapareto.role") == "search"]
    finished = [c.data.tags["trial_id"] for c in children if c.info.status == "FINISHED"]
    assert len(parents) == 1
    assert len(finished) == len(set(finished)) == 4
    assert finished_before <= set(finished)  # completed before the kill: kept, exactly once
    # A trial starts no run before Tune's snapshot names it, so Tune relaunches every started one under its id.
    assert len(children) == 4, [(c.data.tags["trial_id"], c.info.status) for c in children]

    tune_dirs = [p for p in (tmp_path / "ray_results" / NAME).iterdir() if p.is_dir() and p.name.startswith("lora")]
    assert len(tune_dirs) == 4, sorted(p.name for p in tune_dirs)

    study = optuna.load_study(study_name=NAME, storage=f"sqlite:///{optuna_db}")
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == len({tuple(sorted(t.params.items())) for t in complete}) == 4
    # Every other Optuna trial is an ask the kill cut short (Optuna stores a point's values one by one): closed as
    # failed with the reason, never run, and the point drawn again once.
    others = [t for t in study.trials if t.state != optuna.trial.TrialState.COMPLETE]
    assert all(t.state == optuna.trial.TrialState.FAIL and UNRECORDED_ATTR in t.user_attrs for t in others)
    assert len(others) <= 1
    if study.trials[2].state == optuna.trial.TrialState.COMPLETE:  # the ask was recorded: the point kept its trial
        # Optuna's table holds internal values (a categorical's index), so compare in that form.
        kept = study.trials[2]
        internal = {name: kept.distributions[name].to_internal_repr(value) for name, value in kept.params.items()}
        assert third.items() <= internal.items()


@pytest.mark.e2e
def test_sigterm_ends_the_trials_cleanly_refuses_a_second_driver_and_the_printed_command_resumes(tmp_path):
    """A user's stop: a second driver of the same search is refused while the first runs (the lock); SIGTERM ends
    the trials through Tune's graceful stop, keeps what finished, and prints the exact command; that command
    finishes the search with every trial once in Tune, Optuna and MLflow."""
    name = "stopped"
    args = ["--preset", "tiny", *ARGS[2:], "--set", f"experiment.name={name}", *shared_corpus()]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("MLFLOW_TRACKING_URI", None)
    log = (tmp_path / "first.log").open("w")
    driver = subprocess.Popen(
        [sys.executable, "-m", "search.run", *args],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.time() + 600
        while not (tmp_path / "ray_results" / f"{name}.lock").exists():
            assert driver.poll() is None and time.time() < deadline, (tmp_path / "first.log").read_text()[-3000:]
            time.sleep(0.5)
        second = subprocess.run(
            [sys.executable, "-m", "search.run", *args], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip
        assert second.returncode == 2 and "Traceback" not in second.stderr, second.stderr[-3000:]
        assert f"search {name!r} is already running (PID {driver.pid}" in second.stderr
        while _finished_children(tmp_path / "mlflow.db") < 1:
            assert driver.poll() is None and time.time() < deadline, (tmp_path / "first.log").read_text()[-3000:]
            time.sleep(1)
        driver.send_signal(signal.SIGTERM)
        assert driver.wait(timeout=300) == 128 + signal.SIGTERM
    finally:
        if driver.poll() is None:
            driver.kill()
    text = (tmp_path / "first.log").read_text()
    assert "Traceback" not in text, text[-3000:]
    stop_line = next(line for line in text.splitlines() if line.startswith("stopped by SIGTERM"))
    command = stop_line.split("continue from their last checkpoint with: ", 1)[1]
    assert command.startswith(f"{sys.executable} -m search.run --resume {name} --preset tiny")
    assert not (tmp_path / "ray_results" / f"{name}.lock").exists(), "the lock is released on a stop"
    finished_before = _finished_trial_ids(tmp_path / "mlflow.db")
    assert 1 <= len(finished_before) < 4

    resumed = subprocess.run(
        shlex.split(command), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name(name).experiment_id])
    children = [r for r in runs if r.data.tags.get("lorapareto.role") == "trial"]
    finished = [c.data.tags["trial_id"] for c in children if c.info.status == "FINISHED"]
    assert len(finished) == len(set(finished)) == 4 and finished_before <= set(finished)
    assert len([r for r in runs if r.data.tags.get("lorapareto.role") == "search"]) == 1
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 4
    assert optuna.trial.TrialState.RUNNING not in states
    tune_dirs = [p for p in (tmp_path / "ray_results" / name).iterdir() if p.is_dir() and p.name.startswith("lora")]
    assert len(tune_dirs) == 4
