"""The guards a search passes before and while it runs, each exercised on the real thing: a second driver's lock
(a real process holding it, a dead PID's lock taken over), a TCP port nobody listens on, Ray's node table, a
signal delivered to this process, a diverged loss, and the environment a CLI starts with."""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from common.errors import InputError
from experiment.config import load_config
from search import lock, stopping
from search.startup_checks import check_trial_fits, probe_ray_address, probe_tracking_server, seed_grid_notice
from tests.helpers import ROOT, free_port
from trainables.recipe import check_finite_losses

# --- one driver per search -------------------------------------------------------------------------------


def test_a_second_driver_of_the_same_search_is_refused_naming_the_first(tmp_path):
    path = tmp_path / "mysearch.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from search.lock import acquire; from pathlib import Path; "
         f"acquire(Path({str(path)!r}), 'mysearch'); print('held', flush=True); time.sleep(60)"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(InputError) as refused:
            lock.acquire(path, "mysearch")
        assert f"PID {holder.pid}" in str(refused.value) and "already running" in str(refused.value)
        assert str(refused.value).startswith("experiment.name: ")
    finally:
        holder.kill()
        holder.wait()
    # The holder died without releasing: its lock is stale and taken over.
    lock.acquire(path, "mysearch")
    assert json.loads(path.read_text())["pid"] == os.getpid()
    lock.release(path)
    assert not path.exists()


def test_an_unreadable_lock_is_taken_over_and_a_foreign_host_is_respected(tmp_path):
    path = tmp_path / "s.lock"
    path.write_text("")  # torn
    with lock.search_lock(path, "s"):
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert not path.exists()
    path.write_text(json.dumps({"pid": 1, "host": "another-node", "started": "2026-11-30T10:00:00"}))
    with pytest.raises(InputError, match="another-node"):
        lock.acquire(path, "s")


# --- addresses that do not answer: an error within seconds -------------------------------------------------


def test_an_unreachable_ray_address_is_refused_within_seconds():
    port = free_port()
    started = time.perf_counter()
    with pytest.raises(InputError) as refused:
        probe_ray_address(f"127.0.0.1:{port}")
    assert time.perf_counter() - started < 5
    assert str(refused.value).startswith("--address: ") and f"127.0.0.1:{port}" in str(refused.value)


def test_ray_address_from_the_environment_is_named_as_such(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "nohost")
    with pytest.raises(InputError, match=r"^RAY_ADDRESS: expected host:port.*'nohost'"):
        probe_ray_address(None)
    monkeypatch.setenv("RAY_ADDRESS", "auto")
    probe_ray_address(None)  # 'auto' is resolved by ray.init, which fails fast without a cluster


def test_a_listening_address_passes_and_a_silent_tracking_server_is_named():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        probe_ray_address(f"127.0.0.1:{server.getsockname()[1]}")
    port = free_port()
    with pytest.raises(InputError, match=rf"^tracking.uri: MLflow at http://127.0.0.1:{port} does not answer"):
        probe_tracking_server(f"http://127.0.0.1:{port}")
    probe_tracking_server("sqlite:///mlflow.db")  # a file store needs no probe


# --- resources a local cluster can never give --------------------------------------------------------------

NODES = [{"Alive": True, "Resources": {"CPU": 2.0}}, {"Alive": False, "Resources": {"CPU": 64.0, "GPU": 8.0}}]


@pytest.mark.parametrize(
    ("override", "needle"),
    [("search.gpus_per_trial=1", "search.gpus_per_trial: 1 GPUs per trial"),
     ("search.cpus_per_trial=3", "search.cpus_per_trial: 3 CPUs per trial")],
)  # fmt: skip
def test_a_trial_larger_than_this_machine_is_refused(override, needle):
    config = load_config("tiny", overrides=[override])
    with pytest.raises(InputError, match=needle):
        check_trial_fits(config, NODES, joined_cluster=False)
    check_trial_fits(config, NODES, joined_cluster=True)  # a cluster's autoscaler may still add the node


# --- the seed grid and num_samples --------------------------------------------------------------------------


def test_num_samples_below_the_seed_grid_is_said_in_one_line():
    config = load_config("tiny", overrides=["search.num_samples=8"])
    notice = seed_grid_notice(config, 16)
    assert notice.count("\n") == 0 and "num_samples=8" in notice and "16 points" in notice
    assert seed_grid_notice(load_config("tiny", overrides=["search.num_samples=20"]), 16) is None
    assert seed_grid_notice(load_config("tiny", overrides=["search.sampler=grid16"]), 16) is None


# --- config checks from the objectives' bounds and the power-limit dimension --------------------------------


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("search.reference_point.judge_score=9", "9 can never be beaten"),
        ("search.reference_point.judge_score=5", "5 can never be beaten"),
        ("search.reference_point.judge_score=0.5", "every trial beats it"),
        ("search.reference_point.energy_wh=0", "0 can never be beaten"),
        ("search.reference_point.energy_wh=-2", "-2 can never be beaten"),
    ],
)
def test_a_reference_point_no_trial_can_count_against_is_refused(override, needle):
    with pytest.raises(InputError) as refused:
        load_config("tiny", overrides=[override])
    key = override.split("=")[0]
    assert str(refused.value).startswith(f"--set {override}: {key}: ") and needle in str(refused.value)


def test_power_limits_need_whole_gpus():
    with pytest.raises(InputError, match="gpus_per_trial=0.5; a power limit is set per device"):
        load_config("tiny", overrides=["search.gpus_per_trial=0.5", "search.space.gpu_power_limit_w.choices=[200]"])
    with pytest.raises(InputError, match="no GPU to limit"):
        load_config("tiny", overrides=["search.space.gpu_power_limit_w.choices=[null, 250]"])
    config = load_config("tiny", overrides=["search.gpus_per_trial=1", "search.space.gpu_power_limit_w.choices=[200]"])
    assert config.search.space["gpu_power_limit_w"].choices == [200]


# --- a stop the user makes -----------------------------------------------------------------------------------


def test_a_stop_before_the_trials_interrupts_and_during_them_reaches_tunes_handler(monkeypatch):
    monkeypatch.setattr(stopping, "_requested", [])
    previous = {s: signal.getsignal(s) for s in (*stopping.STOP_SIGNALS, signal.SIGUSR1)}
    try:
        stopping.install()
        assert os.environ["TUNE_DISABLE_SIGINT_HANDLER"] == "1"
        with pytest.raises(stopping.SearchStopped) as stopped:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
        assert stopped.value.signal_name == "SIGTERM" and isinstance(stopped.value, KeyboardInterrupt)

        # During Tuner.fit Tune's handler sits on SIGUSR1: the stop is handed to it, and nothing is raised.
        monkeypatch.setattr(stopping, "_requested", [])
        seen = []

        def signal_interrupt_tune_run(sig, frame):
            seen.append(sig)

        signal.signal(signal.SIGUSR1, signal_interrupt_tune_run)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.5)
        assert seen == [signal.SIGUSR1] and stopping.requested() == "SIGINT"
        with pytest.raises(stopping.SearchStopped):
            stopping.raise_if_requested()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# --- a diverged trial ----------------------------------------------------------------------------------------


def test_a_non_finite_loss_fails_the_trial_with_the_reason():
    check_finite_losses(2, train_loss=2.5, val_loss=2.7)
    with pytest.raises(FloatingPointError, match=r"epoch 3: val_loss=nan is not finite"):
        check_finite_losses(3, train_loss=2.5, val_loss=math.nan)
    with pytest.raises(FloatingPointError, match=r"train_loss=inf"):
        check_finite_losses(1, train_loss=math.inf, val_loss=1.0)


# --- every entry point runs in make's environment ------------------------------------------------------------


@pytest.mark.parametrize("module", ["search.run", "corpus.build", "corpus.import", "judging.score", "reports.build"])
def test_every_cli_sets_what_make_sets_before_litellm_loads(module):
    env = {k: v for k, v in os.environ.items() if k not in ("LITELLM_LOCAL_MODEL_COST_MAP", "MLFLOW_DISABLE_TELEMETRY",
                                                            "RAY_AUTH_MODE", "HF_HUB_OFFLINE")}  # fmt: skip
    env["PYTHONPATH"] = str(ROOT)
    code = (
        f"import importlib, os, sys; importlib.import_module({module!r}); "
        "print(os.environ.get('LITELLM_LOCAL_MODEL_COST_MAP'), os.environ.get('MLFLOW_DISABLE_TELEMETRY'), "
        "os.environ.get('RAY_AUTH_MODE'), os.environ.get('HF_HUB_OFFLINE'))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["True", "true", "disabled", "1"]
    assert "cost map" not in proc.stderr.lower(), proc.stderr[-2000:]
