"""The models a server holds: the base model resolved exactly as the search resolved it, and the chosen adapters
fetched from MLflow into a private temporary directory (its path is never shown to clients or logged)."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from serve.catalog import SearchCatalog, SearchSetup, ServedModel
from serve.engine import AdapterEngine

log = logging.getLogger(__name__)


def resolve_served_base(config: SearchSetup) -> Path:
    """The search's base model directory. The built-in tiny model's tokenizer is trained on the corpus, so its
    cache key needs the corpus's training texts (read from the search's cached corpus, rebuilt if absent)."""
    from trainables.base_model import corpus_texts, resolve_base_model
    from trainables.settings import TINY_QWEN2

    texts: list[str] = []
    if config.model.base == TINY_QWEN2:
        from corpus.pipeline import build_corpus, read_split

        corpus = build_corpus(config.corpus(), config.paths.data_dir.resolve())
        texts = corpus_texts(read_split(corpus.path, "train").to_dict("records"))
    return resolve_base_model(config.model, texts, config.paths.cache_dir.resolve())


def trained_base(adapters: dict[str, Path]) -> Path | None:
    """The base directory the adapters were trained on, where this machine has it (peft records it in
    adapter_config.json): the very weights, whatever has changed in the corpus or its cache since."""
    import json

    for path in adapters.values():
        try:
            recorded = json.loads((path / "adapter_config.json").read_text()).get("base_model_name_or_path")
        except (OSError, ValueError):
            continue
        if recorded and (Path(recorded) / "config.json").is_file():
            return Path(recorded)
    return None


def load_engine(catalog: SearchCatalog, models: dict[str, ServedModel], **engine_options) -> AdapterEngine:
    """One engine for the base and every chosen adapter; an adapter MLflow cannot hand over is unavailable."""
    download = Path(tempfile.mkdtemp(prefix="lorapareto-serve-"))
    adapters: dict[str, Path] = {}
    missing: dict[str, str] = {}
    for name, model in models.items():
        if model.is_base:
            continue
        try:
            adapters[name] = catalog.download_adapter(model, download / name)
        except Exception as err:
            missing[name] = f"its adapter could not be fetched from MLflow ({type(err).__name__})"
            log.warning("model %s is unavailable: %s", name, missing[name])
    base_dir = trained_base(adapters) or resolve_served_base(catalog.config)
    engine = AdapterEngine(base_dir, adapters, system_prompt=catalog.config.model.system_prompt, **engine_options)
    engine.unavailable.update(missing)
    return engine
