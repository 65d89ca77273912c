"""Stage 1 of a search: everything checked and built before MLflow records anything (tracking store, Ray, corpus,
base model, target modules, judges), so a bad setting fails in seconds with one line, not after the first trial.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.errors import InputError
from experiment.config import ExperimentConfig
from search.storage import check_shared_storage, tune_storage
from search.tracking import check_reachable, resolve_tracking_uri
from trainables.settings import TrialSettings
from trainables.tracking import limit_http_retries

SPLITS = ("train", "val", "judge")


@dataclass(frozen=True)
class Prepared:
    tracking_uri: str
    client: Any  # MlflowClient, answering
    corpus: Any  # corpus.pipeline.CorpusBuild: path, hash, manifest
    splits: dict[str, list[dict[str, Any]]]  # the corpus rows every trial trains, validates and is judged on
    base_model_path: Path
    storage: str  # Tune's storage (search/storage.py)


def prepare(config: ExperimentConfig, address: str | None) -> Prepared:
    import ray

    from corpus.pipeline import build_corpus, read_split
    from judging.panel import Panel
    from trainables.base_model import corpus_texts, resolve_base_model
    from trainables.lora import check_target_modules

    if config.search.gpus_per_trial % 1 and config.energy.shared_gpu == "refuse":
        raise InputError(
            "search.gpus_per_trial",
            None,
            f"{config.search.gpus_per_trial} is a fractional GPU, refused by energy.shared_gpu=refuse",
        )
    tracking_uri = resolve_tracking_uri(config.tracking.uri)
    client = check_reachable(tracking_uri)
    limit_http_retries(config.tracking.http_retries, config.tracking.http_timeout_seconds)

    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, configure_logging=False, log_to_driver=True)
    storage = tune_storage(config)
    alive = sum(1 for node in ray.nodes() if node.get("Alive"))
    check_shared_storage(storage, alive, joined_cluster=bool(address or os.environ.get("RAY_ADDRESS")))

    corpus = build_corpus(config.corpus, config.paths.data_dir.resolve())
    splits = {split: read_split(corpus.path, split).to_dict("records") for split in SPLITS}
    if not splits["judge"]:
        raise InputError(corpus.path / "judge", None, "the judge set is empty; raise corpus.max_judge_items")
    cache_dir = config.paths.cache_dir.resolve()
    base_path = resolve_base_model(config.model, corpus_texts(splits["train"]), cache_dir)
    check_target_modules(base_path, _module_names(config), "training.target_modules / search.space.target_modules")
    Panel.from_config(config.judging, cache_dir=cache_dir / "judge").preflight()
    return Prepared(tracking_uri, client, corpus, splits, base_path, storage)


def _module_names(config: ExperimentConfig) -> set[str]:
    """Every module name a trial may target: the default set and each set the search space offers."""
    names = set(config.training.module_names)
    spec = config.search.space.get("target_modules")
    for value in spec.choices if spec and spec.choices else []:
        names |= set(TrialSettings(target_modules=value).module_names)
    return names
