"""EnergyMeter: never a silent zero, estimates labelled as such, shared GPUs never charged twice."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from trainables.energy import EnergyMeter, SharedGpuRefused
from trainables.settings import EnergyConfig


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    x = 0
    while time.process_time() < end:
        x += 1


def test_cpu_only_host_gives_labelled_nonzero_estimate():
    # Real Zeus on a CPU-only host: constructs, but has no readable counter (no GPU, no RAPL).
    meter = EnergyMeter(EnergyConfig(watts_per_core=10.0))
    with meter.window("train"):
        _burn(0.2)
    window = meter.windows["train"]
    assert window.wh > 0
    assert window.source.startswith("estimate:")
    assert window.wh == pytest.approx(0.2 * 10.0 / 3600, rel=0.5)
    assert "estimate" in meter.source


class FakeMonitor:
    """Stands in for a GPU host's ZeusMonitor (this machine has no NVML): returns fixed Joules per window."""

    def __init__(self, gpu_joules, cpu_joules=None):
        self.gpu_joules, self.cpu_joules = gpu_joules, cpu_joules

    def begin_window(self, name, sync_execution=True):
        pass

    def end_window(self, name, sync_execution=True):
        return SimpleNamespace(
            gpu_energy={0: self.gpu_joules},
            cpu_energy={0: self.cpu_joules} if self.cpu_joules else None,
            dram_energy=None,
        )


def test_measured_energy_adds_gpu_and_cpu_parts():
    meter = EnergyMeter(
        EnergyConfig(), gpu_indices=[0], monitor_factory=lambda idx: FakeMonitor(3600.0, 1800.0)
    )
    with meter.window("train"):
        pass
    assert meter.windows["train"].wh == pytest.approx(1.5)
    assert meter.windows["train"].source == "measured:nvml+rapl-cpu"


def test_fractional_gpu_is_apportioned_and_says_so():
    meter = EnergyMeter(
        EnergyConfig(shared_gpu="apportion"),
        gpu_indices=[0],
        gpu_share=0.5,
        monitor_factory=lambda idx: FakeMonitor(7200.0),
    )
    with meter.window("train"):
        pass
    assert meter.windows["train"].wh == pytest.approx(1.0)
    assert "apportioned gpu x0.5" in meter.windows["train"].source


def test_fractional_gpu_refused_when_configured():
    with pytest.raises(SharedGpuRefused, match="shared_gpu=refuse"):
        EnergyMeter(
            EnergyConfig(shared_gpu="refuse"),
            gpu_indices=[0],
            gpu_share=0.5,
            monitor_factory=lambda idx: FakeMonitor(1.0),
        )
