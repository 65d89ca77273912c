"""The GPU power limit of one trial (`gpu_power_limit_w`): checked before a search, set for the trial, put back.

Zeus (NSDI'23) measured 15-76% less training energy from a lower GPU power limit, at some cost in time; the search
treats the limit as one more dimension. Limits go through Zeus's GPU management API (`zeus.device.get_gpus()`, in
milliwatts; NVML underneath), which needs root or the `zeusd` daemon (`ZEUSD_SOCK_PATH`). The limit found before
the trial is restored when the trial ends, on any exception, at interpreter exit (atexit) and on SIGTERM (Ray's
way of stopping an actor); a kill that runs no Python at all (SIGKILL, a lost node) leaves a marker file, and the
next `TrialPowerLimit` on that machine restores the limit it records before doing anything else.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import signal
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from common.atomic import write_json
from common.errors import InputError

FIELD = "search.space.gpu_power_limit_w"
log = logging.getLogger(__name__)


def zeus_gpus():
    """Zeus's GPU management object; raises where there is no NVML (or AMD SMI) to manage a GPU through."""
    from zeus.device import get_gpus

    return get_gpus()


def marker_dir() -> Path:
    root = os.environ.get("LORAPARETO_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "lorapareto"
    )
    return Path(root) / "power_limits"


def check_power_limits(limits_w: Iterable[int | None], source: str, gpus=None) -> dict[int, tuple[int, int]]:
    """Before anything starts: every requested limit is settable on every visible GPU. Returns each GPU's
    (min, max) in watts; raises InputError, one line naming `source`, the field and the value, otherwise."""
    wanted = sorted({int(w) for w in limits_w if w is not None})
    if not wanted:
        return {}
    if gpus is None:
        try:
            gpus = zeus_gpus()
        except Exception as err:  # ZeusGPUInitError, or a driver/library mismatch of any kind
            raise InputError(
                source, FIELD, f"{wanted} W asked, but no GPU power limit can be set here: {err}"
            ) from None
    if len(gpus) == 0:
        raise InputError(source, FIELD, f"{wanted} W asked, but this machine has no GPU")
    ranges: dict[int, tuple[int, int]] = {}
    for index in range(len(gpus)):
        low_mw, high_mw = gpus.get_power_management_limit_constraints(index)
        low, high = low_mw // 1000, high_mw // 1000
        outside = [w for w in wanted if not low <= w <= high]
        if outside:
            raise InputError(source, FIELD, f"{outside} W is outside GPU {index}'s range of {low}-{high} W")
        current = gpus.get_power_management_limit(index)
        try:  # the one way to learn whether we may set it: set it to what it already is
            gpus.set_power_management_limit(index, current)
        except Exception as err:
            raise InputError(
                source,
                FIELD,
                f"{wanted} W asked, but setting GPU {index}'s power limit was refused ({type(err).__name__}: {err});"
                " run as root or start Zeus's zeusd daemon and set ZEUSD_SOCK_PATH",
            ) from None
        ranges[index] = (low, high)
    return ranges


class TrialPowerLimit:
    """Context manager: the trial's GPUs run at `watts` inside, at their previous limits again afterwards."""

    def __init__(self, watts: int | None, gpu_indices: Sequence[int], gpus=None, markers: Path | None = None):
        self.watts = watts
        self.gpu_indices = list(gpu_indices)
        self._gpus = gpus
        self.markers = markers or marker_dir()
        self.previous_mw: dict[int, int] = {}
        self.default_w: dict[int, float] = {}
        self._lock = threading.Lock()
        self._old_sigterm = None

    @property
    def gpus(self):
        if self._gpus is None:
            self._gpus = zeus_gpus()
        return self._gpus

    def _marker(self, index: int) -> Path:
        return self.markers / f"gpu{index}.json"

    def recover(self) -> None:
        """Put back a limit a killed trial left set (its marker survived it)."""
        for index in self.gpu_indices:
            marker = self._marker(index)
            if marker.is_file():
                previous = json.loads(marker.read_text())["previous_mw"]
                log.warning("GPU %d: restoring the %d mW limit a killed trial left changed", index, previous)
                self.gpus.set_power_management_limit(index, previous)
                marker.unlink()

    def __enter__(self) -> TrialPowerLimit:
        if self.watts is None or not self.gpu_indices:
            return self
        self.recover()
        for index in self.gpu_indices:
            self.default_w[index] = _default_limit_w(self.gpus, index)
            self.previous_mw[index] = self.gpus.get_power_management_limit(index)
            write_json(self._marker(index), {"previous_mw": self.previous_mw[index], "pid": os.getpid()})
            self.gpus.set_power_management_limit(index, int(self.watts) * 1000)
        atexit.register(self.restore)
        if threading.current_thread() is threading.main_thread():
            self._old_sigterm = signal.signal(signal.SIGTERM, self._on_sigterm)
        return self

    def __exit__(self, *exc) -> None:
        self.restore()

    def restore(self) -> None:
        """Idempotent: the first caller (exit, atexit or SIGTERM) restores, later ones find nothing to do."""
        with self._lock:
            pending, self.previous_mw = self.previous_mw, {}
        for index, previous in pending.items():
            try:
                self.gpus.set_power_management_limit(index, previous)
                self._marker(index).unlink(missing_ok=True)
            except Exception:  # keep restoring the other GPUs; the marker stays for the next trial to retry
                log.exception("GPU %d: could not restore the power limit to %d mW", index, previous)
        atexit.unregister(self.restore)
        if self._old_sigterm is not None:
            with contextlib.suppress(ValueError):  # not the main thread any more
                signal.signal(signal.SIGTERM, self._old_sigterm)
            self._old_sigterm = None

    def _on_sigterm(self, signum, frame) -> None:
        old = self._old_sigterm
        self.restore()
        if callable(old):
            old(signum, frame)
        else:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)


def _default_limit_w(gpus, index: int) -> float:
    """The device's default limit (NVML), the reference the energy saved is reported against; where the
    management object exposes no NVML handle, the limit in force before the trial."""
    try:
        import pynvml

        return pynvml.nvmlDeviceGetPowerManagementDefaultLimit(gpus.gpus[index].handle) / 1000
    except Exception:
        return gpus.get_power_management_limit(index) / 1000
