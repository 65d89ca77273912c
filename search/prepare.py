"""Stage 1 of a search: everything checked and built before MLflow records anything (tracking store, Ray, corpus,
base model, target modules, judges), so a bad setting fails in seconds with one line, not after the first trial.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.errors import InputError
from corpus.settings import CorpusConfig
from experiment.config import ExperimentConfig
from search import stopping
from search.space import data_variants
from search.startup_checks import check_trial_fits, probe_tracking_server, ray_address_option, start_ray
from search.storage import check_shared_storage, tune_storage
from search.tracking import check_reachable, resolve_tracking_uri
from trainables.contract import DATA_PREFIX, variant_key
from trainables.power_limit import FIELD as POWER_LIMIT_FIELD
from trainables.power_limit import check_power_limits
from trainables.settings import TINY_QWEN2, TrialSettings
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
    calibration: Any = None  # judging.calibration.CalibrationResult: each judge on known answers
    # With data axes: each variant's training rows by trainables.contract.variant_key (splits: the shared val/judge).
    variant_train: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def prepare(config: ExperimentConfig, address: str | None) -> Prepared:
    import ray

    from corpus.pipeline import build_corpus, read_split
    from judging.panel import Panel
    from search.judge_checks import calibrate_panel
    from trainables.base_model import corpus_texts, resolve_base_model
    from trainables.lora import check_target_modules

    if config.search.gpus_per_trial % 1 and config.energy.shared_gpu == "refuse":
        raise InputError(
            "search.gpus_per_trial",
            None,
            f"{config.search.gpus_per_trial} is a fractional GPU, refused by energy.shared_gpu=refuse",
        )
    tracking_uri = resolve_tracking_uri(config.tracking.uri)
    probe_tracking_server(tracking_uri)
    client = check_reachable(tracking_uri)
    limit_http_retries(config.tracking.http_retries, config.tracking.http_timeout_seconds)

    if not ray.is_initialized():
        start_ray(address)
    stopping.install()  # again: ray.init replaced the SIGTERM handler
    joined = ray_address_option(address)[0] not in (None, "local")
    storage = tune_storage(config)
    nodes = ray.nodes()
    check_shared_storage(storage, sum(1 for node in nodes if node.get("Alive")), joined_cluster=joined)
    check_trial_fits(config, nodes, joined)
    if not joined:  # on a cluster the GPUs are the workers', not this driver's
        check_power_limits(_power_limits(config), source=POWER_LIMIT_FIELD)

    # The cheap checks first: a missing model or a judge without its key fails before the corpus is built (the
    # paper preset's 28,343 rows took 37 s here, and API money with the litellm backend). Only the built-in tiny
    # model needs the corpus: its tokenizer is trained on the training texts.
    cache_dir = config.paths.cache_dir.resolve()
    base_path = None if config.model.base == TINY_QWEN2 else resolve_base_model(config.model, [], cache_dir)
    panel = Panel.from_config(config.judging, cache_dir=cache_dir / "judge")
    probes = panel.preflight()

    corpus = build_corpus(config.corpus, config.paths.data_dir.resolve())
    splits = {split: read_split(corpus.path, split).to_dict("records") for split in SPLITS}
    if not splits["judge"]:
        raise InputError(corpus.path / "judge", None, "the judge set is empty; raise corpus.max_judge_items")
    variant_train = build_variants(config, splits)
    if variant_train:
        # The tiny model's tokenizer then learns every variant's training text (the same on every node).
        splits["train"] = _union_by_id(variant_train.values())
    if base_path is None:
        base_path = resolve_base_model(config.model, corpus_texts(splits["train"]), cache_dir)
    check_target_modules(base_path, _module_names(config), "training.target_modules / search.space.target_modules")
    calibration = calibrate_panel(panel, probes)
    return Prepared(tracking_uri, client, corpus, splits, base_path, storage, calibration, variant_train)


def build_variants(config: ExperimentConfig, splits: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict]]:
    """Every corpus variant the space's data axes can produce, built once each (corpus/variants.py), as training
    rows by `variant_key`; {} without data axes. A variant whose val or judge rows differ from `splits` is refused:
    trials on it would not be judged on the same items."""
    from corpus.pipeline import build_corpus, read_split

    variants: dict[str, list[dict[str, Any]]] = {}
    for choices in data_variants(config.search.space):
        settings = {name.removeprefix(DATA_PREFIX): value for name, value in choices.items()}
        cfg = CorpusConfig.model_validate({**config.corpus.model_dump(), **settings})
        built = build_corpus(cfg, config.paths.data_dir.resolve())
        for split in ("val", "judge"):
            if _items(read_split(built.path, split).to_dict("records")) != _items(splits[split]):
                raise InputError(built.path / split, None, f"variant {variant_key(choices)} has other {split} rows")
        variants[variant_key(choices)] = read_split(built.path, "train").to_dict("records")
    return variants


def _items(rows: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(str(r["id"]), r["question"], r["answer"]) for r in rows]


def _union_by_id(groups) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for group in groups:
        for row in group:
            rows.setdefault(str(row["id"]), row)
    return [rows[key] for key in sorted(rows)]


def _power_limits(config: ExperimentConfig) -> list[int | None]:
    """Every GPU power limit a trial may ask for: the default and the space's choices (or range ends)."""
    spec = config.search.space.get("gpu_power_limit_w")
    return [config.training.gpu_power_limit_w, *(spec.values_to_check() if spec else [])]


def _module_names(config: ExperimentConfig) -> set[str]:
    """Every module name a trial may target: the default set and each set the search space offers."""
    names = set(config.training.module_names)
    spec = config.search.space.get("target_modules")
    for value in spec.choices if spec and spec.choices else []:
        names |= set(TrialSettings(target_modules=value).module_names)
    return names
