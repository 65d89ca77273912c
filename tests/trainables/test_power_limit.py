"""GPU power limit per trial: refused in one line where it cannot be set, restored after the trial and a crash.

This machine has no GPU, so the refusal is tested for real; setting and restoring use a fake with Zeus's GPUs
interface (milliwatts, per index), the one thing that cannot exist here.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap

import pytest

from common.errors import InputError
from tests.helpers import ROOT, subprocess_env
from trainables.power_limit import FIELD, TrialPowerLimit, check_power_limits


class FakeGpus:
    """Zeus's `GPUs` calls the module makes, over a JSON file so another process can read what happened."""

    def __init__(self, path, n=1, default_mw=700_000, allowed=True):
        self.path = path
        self.allowed = allowed
        if not path.exists():
            path.write_text(json.dumps({"limits": [default_mw] * n, "sets": []}))

    def _state(self):
        return json.loads(self.path.read_text())

    def __len__(self):
        return len(self._state()["limits"])

    def get_power_management_limit_constraints(self, index):
        return (200_000, 700_000)

    def get_power_management_limit(self, index):
        return self._state()["limits"][index]

    def set_power_management_limit(self, index, mw, block=True):
        if not self.allowed:
            raise PermissionError("Insufficient permissions")
        state = self._state()
        state["limits"][index] = mw
        state["sets"].append([index, mw])
        self.path.write_text(json.dumps(state))


def _one_line(err: InputError) -> str:
    text = f"error: {err}"
    assert "\n" not in text
    return text


def test_refused_for_real_on_a_machine_without_a_gpu():
    with pytest.raises(InputError) as caught:
        check_power_limits([250, None], source="configs/gpu.yaml")
    line = _one_line(caught.value)
    assert line.startswith(f"error: configs/gpu.yaml: {FIELD}: [250] W asked")


def test_nothing_asked_needs_no_gpu():
    assert check_power_limits([None], source="x") == {}


def test_refused_without_permission_and_outside_the_range(tmp_path):
    denied = FakeGpus(tmp_path / "a.json", allowed=False)
    with pytest.raises(InputError, match="refused .*PermissionError.*zeusd"):
        check_power_limits([300], source="--set", gpus=denied)
    fine = FakeGpus(tmp_path / "b.json", n=2)
    with pytest.raises(InputError, match=r"\[900\] W is outside GPU 0's range of 200-700 W"):
        check_power_limits([300, 900], source="--set", gpus=fine)
    assert check_power_limits([300, 450], source="--set", gpus=fine) == {0: (200, 700), 1: (200, 700)}
    assert fine.get_power_management_limit(0) == 700_000  # the permission probe set it to what it was


def test_limit_set_inside_and_restored_after_the_trial_and_after_an_exception(tmp_path):
    gpus = FakeGpus(tmp_path / "g.json", n=2, default_mw=650_000)
    with TrialPowerLimit(300, [0, 1], gpus=gpus, markers=tmp_path / "m") as limit:
        assert [gpus.get_power_management_limit(i) for i in (0, 1)] == [300_000, 300_000]
        assert limit.default_w == {0: 650.0, 1: 650.0}
        assert (tmp_path / "m" / "gpu0.json").is_file()
    assert [gpus.get_power_management_limit(i) for i in (0, 1)] == [650_000, 650_000]
    assert not list((tmp_path / "m").iterdir())
    with pytest.raises(RuntimeError), TrialPowerLimit(250, [0], gpus=gpus, markers=tmp_path / "m"):
        raise RuntimeError("trial crashed")
    assert gpus.get_power_management_limit(0) == 650_000


def test_no_limit_asked_touches_nothing(tmp_path):
    gpus = FakeGpus(tmp_path / "g.json")
    with TrialPowerLimit(None, [0], gpus=gpus, markers=tmp_path / "m"):
        pass
    assert gpus._state()["sets"] == []


def test_a_killed_trials_limit_is_restored_by_the_next_trial(tmp_path):
    gpus = FakeGpus(tmp_path / "g.json")
    killed = TrialPowerLimit(300, [0], gpus=gpus, markers=tmp_path / "m")
    killed.__enter__()  # never exits: as if the process were killed with SIGKILL
    killed.previous_mw = {}  # nothing in this process may restore it
    assert gpus.get_power_management_limit(0) == 300_000
    TrialPowerLimit(None, [0], gpus=gpus, markers=tmp_path / "m").recover()
    assert gpus.get_power_management_limit(0) == 700_000


def test_sigterm_restores_the_limit_before_the_process_dies(tmp_path):
    state = tmp_path / "g.json"
    script = textwrap.dedent(
        f"""
        import os, signal, sys, time
        sys.path.insert(0, {str(ROOT / "tests" / "trainables")!r})
        from pathlib import Path
        from test_power_limit import FakeGpus
        from trainables.power_limit import TrialPowerLimit
        gpus = FakeGpus(Path({str(state)!r}))
        with TrialPowerLimit(280, [0], gpus=gpus, markers=Path({str(tmp_path / "m")!r})):
            print("set", flush=True)
            time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=subprocess_env(), text=True)
    assert proc.stdout.readline().strip() == "set"
    assert FakeGpus(state).get_power_management_limit(0) == 280_000
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == -signal.SIGTERM
    assert FakeGpus(state).get_power_management_limit(0) == 700_000


def test_energy_saved_is_reported_against_default_limit_trials_with_the_same_settings():
    from trainables.energy import power_limit_savings

    trials = [
        {"trial_id": "a", "gpu_power_limit_w": None, "energy_wh": 2.0, "train_tokens": 1000, "rank": 8},
        {"trial_id": "b", "gpu_power_limit_w": None, "energy_wh": 8.0, "train_tokens": 1000, "rank": 64},
        {"trial_id": "c", "gpu_power_limit_w": 300, "energy_wh": 3.0, "train_tokens": 2000, "rank": 8},
        {"trial_id": "d", "gpu_power_limit_w": 250, "energy_wh": 1.0, "train_tokens": 1000, "rank": 32},
    ]
    saved = {s.trial_id: s for s in power_limit_savings(trials, ("rank",))}
    assert set(saved) == {"c", "d"}
    assert saved["c"].reference == "matched" and saved["c"].default_wh_per_1k_tokens == 2.0
    assert saved["c"].saved_wh == pytest.approx(1.0)  # 2 Wh per 1k tokens x 2k tokens, minus the 3 Wh spent
    assert saved["d"].reference == "all" and saved["d"].default_wh_per_1k_tokens == 5.0  # median of 2 and 8
    assert saved["d"].saved_wh == pytest.approx(4.0)
    assert power_limit_savings([t for t in trials if t["gpu_power_limit_w"]], ("rank",)) == []
