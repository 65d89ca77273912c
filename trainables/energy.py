"""Per-trial energy windows: measured through Zeus where a counter is readable, an estimate (labelled so) where not.

Zeus's `Measurement.total_energy` sums GPU energy only, and on a host without counters it is 0.0 with
`gpu_energy == {}` and `cpu_energy is None`, so this meter adds the parts itself and never reports a silent
zero. Counters measure whole devices: a trial holding a fraction of a GPU (or of a CPU socket) is charged its
share, and `energy_source` says so.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from trainables.settings import EnergyConfig

JOULES_PER_WH = 3600.0
log = logging.getLogger(__name__)


class SharedGpuRefused(RuntimeError):
    """Measured energy on a GPU shared by several trials would charge each of them the whole device."""


@dataclass
class EnergyWindow:
    wh: float
    seconds: float
    source: str


def _open_zeus(gpu_indices: list[int]):
    try:
        from zeus.monitor import ZeusMonitor

        return ZeusMonitor(gpu_indices=gpu_indices, approx_instant_energy=True)
    except Exception as err:  # no NVML, no RAPL, driver mismatch: fall back to the estimate
        log.info("Zeus unavailable (%s: %s); energy will be estimated", type(err).__name__, err)
        return None


@dataclass
class EnergyMeter:
    config: EnergyConfig
    gpu_indices: list[int] = field(default_factory=list)
    # Fraction of each assigned GPU this trial holds (Ray's fractional GPUs), and of the CPU package.
    gpu_share: float = 1.0
    cpu_share: float = 1.0
    monitor_factory: Callable[[list[int]], object | None] = _open_zeus
    windows: dict[str, EnergyWindow] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.gpu_indices and self.gpu_share < 1.0 and self.config.shared_gpu == "refuse":
            raise SharedGpuRefused(
                f"energy.shared_gpu=refuse: this trial holds {self.gpu_share:g} of a GPU, and a measured counter "
                "would charge it the whole device; use whole GPUs per trial or energy.shared_gpu=apportion"
            )
        self._monitor = self.monitor_factory(list(self.gpu_indices))

    @contextlib.contextmanager
    def window(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        cpu_started = time.process_time()
        if self._monitor is not None:
            self._monitor.begin_window(name, sync_execution=bool(self.gpu_indices))
        try:
            yield
        finally:
            measurement = None
            if self._monitor is not None:
                measurement = self._monitor.end_window(name, sync_execution=bool(self.gpu_indices))
            seconds = time.perf_counter() - started
            cpu_seconds = time.process_time() - cpu_started
            self.windows[name] = self._reading(measurement, seconds, cpu_seconds)

    def _reading(self, measurement, seconds: float, cpu_seconds: float) -> EnergyWindow:
        parts: list[str] = []
        joules = 0.0
        if measurement is not None:
            if measurement.gpu_energy:
                joules += sum(measurement.gpu_energy.values()) * self.gpu_share
                parts.append("nvml")
            for kind, zone in (("rapl-cpu", measurement.cpu_energy), ("rapl-dram", measurement.dram_energy)):
                if zone:
                    joules += sum(zone.values()) * self.cpu_share
                    parts.append(kind)
        if parts:
            shares = []
            if self.gpu_share < 1.0 and "nvml" in parts:
                shares.append(f"gpu x{self.gpu_share:g}")
            if self.cpu_share < 1.0 and any(p.startswith("rapl") for p in parts):
                shares.append(f"cpu x{self.cpu_share:g}")
            source = "measured:" + "+".join(parts) + (f" (apportioned {', '.join(shares)})" if shares else "")
            return EnergyWindow(wh=joules / JOULES_PER_WH, seconds=seconds, source=source)
        watts = self.config.watts_per_core
        wh = cpu_seconds * watts / JOULES_PER_WH
        return EnergyWindow(wh=wh, seconds=seconds, source=f"estimate:cpu-time x {watts:g} W/core")

    def total_wh(self, *names: str) -> float:
        return sum(self.windows[n].wh for n in names if n in self.windows)

    @property
    def source(self) -> str:
        sources = sorted({w.source for w in self.windows.values()})
        return "; ".join(sources) if sources else "none"
