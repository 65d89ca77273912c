"""A stop the user asks for (Ctrl-C, or SIGTERM from a scheduler or `kill`): the trials end cleanly, Tune saves
its state, and the search ends with the command that resumes it.

Ray Tune ends a run gracefully on SIGINT (it stops the trials and snapshots the experiment one last time), but
only SIGINT, and only through a handler it installs for the length of `Tuner.fit` on SIGINT and SIGUSR1; ray.init
meanwhile turns SIGTERM into an immediate exit. So the driver owns SIGINT and SIGTERM (Tune is told to leave
SIGINT alone): the first stop during the trials is passed to Tune's SIGUSR1 handler, which ends the run as Ctrl-C
would; before the trials start it interrupts the setup; a second stop interrupts at once (the state Tune last
saved stays resumable, as after a SIGKILL).
"""

from __future__ import annotations

import os
import signal

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Tune's handler for SIGINT/SIGUSR1 inside Tuner.fit (ray/tune/tune.py, _setup_signal_catching).
TUNE_HANDLER = "signal_interrupt_tune_run"


class SearchStopped(KeyboardInterrupt):
    """The user stopped the search; what finished is kept and `--resume` continues it. A KeyboardInterrupt, so
    the parent run is marked KILLED rather than FAILED."""

    def __init__(self, signal_name: str):
        super().__init__(signal_name)
        self.signal_name = signal_name


_requested: list[str] = []


def requested() -> str | None:
    """The name of the first stop signal received, or None."""
    return _requested[0] if _requested else None


def _on_stop(signum: int, frame) -> None:
    name = signal.Signals(signum).name
    first = not _requested
    _requested.append(name)
    tune_handler = signal.getsignal(signal.SIGUSR1)
    if first and getattr(tune_handler, "__name__", "") == TUNE_HANDLER:
        os.kill(os.getpid(), signal.SIGUSR1)
        return
    raise SearchStopped(name)


def install() -> None:
    """Own SIGINT and SIGTERM from here on; call again after ray.init, which installs its own SIGTERM handler."""
    os.environ.setdefault("TUNE_DISABLE_SIGINT_HANDLER", "1")
    for stop in STOP_SIGNALS:
        signal.signal(stop, _on_stop)


def raise_if_requested() -> None:
    """After Tuner.fit: a stop ended the trials early, so the search does not finish; the caller says how to resume."""
    if _requested:
        raise SearchStopped(_requested[0])
