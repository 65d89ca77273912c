"""A trial starts its work (an MLflow run, checkpoints) only once Tune's stored experiment state names it.

Tune hands a new trial to a worker and snapshots its experiment state (`experiment_state-<session>.json` in the
search's storage) on its own schedule. A driver killed in between left a trial that had run, and logged, but
that `--resume` did not know: Tune started its point again under a new id. Waiting here for the snapshot costs at
most the driver's snapshot period (`TUNE_GLOBAL_CHECKPOINT_S`, set to 1 s by search/tuning.py), and makes a kill at
any instant leave either a trial Tune relaunches under its own id or one that did nothing.

Light to import (no torch): trainables/trainable.py calls it before anything else.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)

STATE_FILE_PREFIX = "experiment_state-"


def wait_until_recorded(trial_id: str, timeout_s: float = 120.0, poll_s: float = 0.2) -> bool:
    """Block until one of Tune's stored experiment states names `trial_id`; False (and a warning) on timeout or
    outside a Tune session, so a stalled sync delays a trial but never stops it."""
    try:
        from ray.train._internal.session import get_storage

        storage = get_storage()
    except (AttributeError, RuntimeError):  # not inside a Tune trial
        return False
    deadline = time.monotonic() + timeout_s
    while True:
        if _recorded(storage.storage_filesystem, storage.experiment_fs_path, trial_id):
            return True
        if time.monotonic() > deadline:
            log.warning("trial %s: no Tune experiment state names it after %.0f s; starting", trial_id, timeout_s)
            return False
        time.sleep(poll_s)


def _recorded(fs, experiment_fs_path: str, trial_id: str) -> bool:
    import pyarrow.fs

    selector = pyarrow.fs.FileSelector(experiment_fs_path, allow_not_found=True)
    for info in fs.get_file_info(selector):
        if info.base_name.startswith(STATE_FILE_PREFIX) and info.base_name.endswith(".json"):
            try:
                with fs.open_input_stream(info.path) as stream:
                    if trial_id.encode() in stream.readall():
                        return True
            except (FileNotFoundError, OSError):  # replaced by a newer snapshot while being read
                continue
    return False
