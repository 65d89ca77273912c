"""Per-trial energy windows: measured through Zeus where a counter is readable, an estimate (labelled so) where not.

Zeus's `Measurement.total_energy` sums GPU energy only, and on a host without counters it is 0.0 with
`gpu_energy == {}` and `cpu_energy is None`, so this meter adds the parts itself and never reports a silent
zero. Counters measure whole devices: a trial holding a fraction of a GPU (or of a CPU socket) is charged its
share, and `energy_source` says so.
"""

from __future__ import annotations

import contextlib
import logging
import statistics
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

    @property
    def source(self) -> str:
        sources = sorted({w.source for w in self.windows.values()})
        return "; ".join(sources) if sources else "none"


@dataclass(frozen=True)
class PowerLimitSaving:
    """Energy a trial at a lowered GPU power limit saved against the default limit, per training token."""

    trial_id: str
    power_limit_w: int
    wh_per_1k_tokens: float
    default_wh_per_1k_tokens: float
    saved_wh: float  # what the default limit would have spent on this trial's tokens, minus what it spent
    reference: str  # "matched": default-limit trials with the same other settings; "all": every default trial


def power_limit_savings(trials: list[dict], settings_keys: tuple[str, ...]) -> list[PowerLimitSaving]:
    """Savings of each trial run below the default limit, from measured energy per training token.

    `trials`: dicts with trial_id, gpu_power_limit_w (None at the default), energy_wh, train_tokens and the
    hyperparameters named in `settings_keys`. The reference is the median energy per token of trials at the
    default limit with the same other settings where there are any, else of every default-limit trial (the
    `reference` field says which). No trial at the default limit: nothing to compare with, an empty list.
    """

    def rate(t: dict) -> float:
        return t["energy_wh"] / t["train_tokens"] * 1000 if t.get("train_tokens") else float("nan")

    def key(t: dict) -> tuple:
        return tuple(t.get(k) for k in settings_keys)

    defaults = [t for t in trials if t.get("gpu_power_limit_w") is None and rate(t) == rate(t)]
    if not defaults:
        return []
    overall = statistics.median(rate(t) for t in defaults)
    savings = []
    for trial in trials:
        if trial.get("gpu_power_limit_w") is None or rate(trial) != rate(trial):
            continue
        matched = [rate(t) for t in defaults if key(t) == key(trial)]
        reference = statistics.median(matched) if matched else overall
        savings.append(
            PowerLimitSaving(
                trial_id=str(trial["trial_id"]),
                power_limit_w=int(trial["gpu_power_limit_w"]),
                wh_per_1k_tokens=rate(trial),
                default_wh_per_1k_tokens=reference,
                saved_wh=(reference - rate(trial)) * trial["train_tokens"] / 1000,
                reference="matched" if matched else "all",
            )
        )
    return savings
