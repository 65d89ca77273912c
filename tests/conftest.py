"""The environment every test runs in: quiet and offline (no litellm cost-map fetch, no MLflow telemetry, no
Ray token auth, no hub downloads) and one OpenMP thread per process. Shared helpers are in tests/helpers.py."""

from __future__ import annotations

import os

import pytest

from tests.helpers import SHARED_CORPUS_ENV

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One OpenMP thread per process: with two, every torch op spin-waits at barriers whenever the other core is
# busy (another test's Ray worker), measured here at 27x slower per training step (3.5 s against 0.13 s).
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session", autouse=True)
def shared_corpus_dir(tmp_path_factory):
    """One corpus folder for the searches of this session (tests/helpers.py `shared_corpus`)."""
    folder = tmp_path_factory.mktemp("shared-corpus")
    os.environ[SHARED_CORPUS_ENV] = str(folder)
    yield folder
    os.environ.pop(SHARED_CORPUS_ENV, None)
