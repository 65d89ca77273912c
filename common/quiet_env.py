"""The environment every entry point runs in, the one `make` exports: set before litellm, MLflow or Ray load.

litellm fetches its cost map from the internet at import (offline it prints the failure as a warning; beside an
MLflow server the import deadlocks), MLflow phones home for telemetry, Ray 2.60 turns token authentication on by
default, and a Hugging Face id must resolve from the local cache (nothing is downloaded at run time). Values
already in the environment win (`setdefault`), so a user can still opt back in to any of them.

Tune's warning: with one checkpoint kept per trial (CheckpointConfig(num_to_keep=1)), Tune snapshots the
experiment state after every checkpoint, so that --resume never points at a deleted one. That is deliberate and
cheap here (about 30 ms of the driver's CPU each, under a profiler), but with two trials of short epochs Tune
printed a three-line "may become a bottleneck" warning 117 times in a 40-trial search.

bitsandbytes (imported through peft by transformers' model classes and by the judges' sentence-transformers) tries
at import, on a CPU with AVX512-BF16, to fetch a 4-bit kernel from the Hugging Face hub, and with no hub access
logs "Failed to load CPU gemm_4bit_forward from kernels-community" in every process (the demo printed it from a
trial worker); its built-in CPU kernel serves 4-bit instead, so that logger is kept to errors.
"""

from __future__ import annotations

import logging
import os

QUIET_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "RAY_AUTH_MODE": "disabled",
    "HF_HUB_OFFLINE": "1",
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
}


def apply_quiet_env() -> None:
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
