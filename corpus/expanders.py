"""Which expansion backend builds the corpus (`corpus.backend`): the factory over the Expander implementations."""

from __future__ import annotations

from corpus.backends import Expander
from corpus.glossary import Glossary
from corpus.settings import CorpusConfig


def make_expander(cfg: CorpusConfig, glossary: Glossary, cache_root: str) -> Expander:
    if cfg.backend == "template":
        from corpus.templates import TemplateExpander

        return TemplateExpander(glossary, seed=cfg.seed)
    if cfg.backend == "litellm":
        from corpus.llm_expander import LitellmExpander

        return LitellmExpander(glossary, cfg.litellm, seed=cfg.seed, cache_root=cache_root)
    raise ValueError(f"unknown corpus backend {cfg.backend!r}")
