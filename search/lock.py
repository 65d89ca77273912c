"""One driver per search name: a lock file with the driver's PID and host, so a second `search.run` of the same
search (or a `--resume` while it still runs) is refused instead of interleaving trials in Tune, Optuna and MLflow.

The lock is created whole or not at all (written to a temporary sibling, then hard-linked into place, which fails
if the name exists), so two drivers starting at once cannot both win. A lock left by a driver that died without
removing it (SIGKILL, a lost machine) is taken over when its PID is gone on this host.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from common import atomic
from common.errors import InputError


def _holder(path: Path) -> dict | None:
    """The lock's content, or None when it is unreadable (torn by a crash before this format, or deleted)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("pid"), int) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _stale(holder: dict | None) -> bool:
    if holder is None:
        return True
    return holder.get("host") == socket.gethostname() and not _alive(holder["pid"])


def acquire(path: Path, name: str) -> None:
    """Take the lock of search `name` at `path`, or raise InputError naming the driver that holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mine = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    for _ in range(3):  # a stale lock removed by a racing driver: try again
        staged = path.with_name(f".{path.name}.{os.getpid()}")
        atomic.write_json(staged, mine)
        try:
            os.link(staged, path)
            return
        except FileExistsError:
            holder = _holder(path)
            if not _stale(holder):
                raise InputError(
                    "experiment.name",
                    None,
                    f"search {name!r} is already running (PID {holder['pid']} on {holder['host']}, since "
                    f"{holder.get('started', '?')}; lock {path}); wait for it, stop it, or choose another name",
                ) from None
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        finally:
            with contextlib.suppress(FileNotFoundError):
                staged.unlink()
    raise InputError("experiment.name", None, f"could not take the lock {path} of search {name!r}")


def release(path: Path) -> None:
    """Remove the lock if this process holds it."""
    holder = _holder(path)
    if holder and holder["pid"] == os.getpid() and holder.get("host") == socket.gethostname():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def search_lock(path: Path, name: str) -> Iterator[None]:
    acquire(path, name)
    try:
        yield
    finally:
        release(path)
