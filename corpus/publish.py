"""Publish a built directory once: a per-target lock, and "first rename wins".

Two processes asking for the same corpus (two trials wanting one data variant) must not both build it, and
neither may replace a tree the other is already reading. The lock (flock on a file beside the target) makes
the second process wait and then find the finished directory; where a lock does not hold (a file system
without flock semantics across nodes), the rename still publishes only the first tree: a rename onto an
existing non-empty directory fails, and the loser's copy is discarded.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def exclusive(target: Path) -> Iterator[None]:
    """Hold an exclusive lock on `target`'s lock file (`.<name>.lock` beside it) for the block."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target.parent / f".{target.name}.lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@contextlib.contextmanager
def staged_once(target: Path) -> Iterator[Path]:
    """Yield a temporary sibling path to fill; on success rename it to `target` unless `target` already
    exists (another builder won), in which case this copy is dropped. A failed fill leaves nothing."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp / target.name
        try:
            os.rename(tmp / target.name, target)
        except OSError as err:
            if err.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def discard_incomplete(target: Path) -> None:
    """Remove a directory left where a build belongs but not finished (only ever called under the lock)."""
    if Path(target).is_dir():
        shutil.rmtree(target)
