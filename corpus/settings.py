"""The `corpus:` section of an experiment config: everything that decides which corpus gets built."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_GLOSSARY = PACKAGE_DIR / "glossary" / "telecom.yaml"
# The embedded help centre (written for this project, Apache-2.0): the default articles for grounded generation.
DEFAULT_ARTICLES = PACKAGE_DIR / "helpcentre"


class SplitFractions(BaseModel):
    """Fractions of *scenarios* (not rows) held out, so no scenario leaks across splits."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    val: float = Field(0.1, gt=0, lt=0.5)
    judge: float = Field(0.05, gt=0, lt=0.5)

    @model_validator(mode="after")
    def _leaves_training_data(self) -> SplitFractions:
        if self.val + self.judge >= 0.9:
            raise ValueError(f"val + judge = {self.val + self.judge} leaves too little for training")
        return self


class FilterSettings(BaseModel):
    """Quality filters applied to every generated or imported pair; each drop is counted in the manifest."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    min_question_chars: int = Field(12, ge=1)
    max_question_chars: int = Field(600, ge=1)
    min_answer_chars: int = Field(40, ge=1)
    max_answer_chars: int = Field(2500, ge=1)
    # Jaccard similarity (MinHash estimate over word 3-grams of question + answer) above which a pair
    # counts as a near-duplicate of one already kept.
    near_duplicate_threshold: float = Field(0.9, gt=0, le=1)
    scrub_pii: bool = True


class LitellmSettings(BaseModel):
    """How the `litellm` backend calls a model; ignored by the `template` backend."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    model: str = "gemini/gemini-2.0-flash"
    api_base: str | None = None
    temperature: float = Field(0.7, ge=0, le=2)
    # Threads making calls at once, across the whole build.
    max_concurrency: int = Field(4, ge=1, le=64)
    max_retries: int = Field(4, ge=0, le=10)
    timeout_seconds: float = Field(60.0, gt=0)
    # Stop making new calls once this much has been spent (litellm's own cost accounting); None: no cap.
    max_cost_usd: float | None = Field(None, ge=0)
    # Replies are cached here (keyed by model, prompt and seed); None: <data root>/.llm_cache.
    cache_dir: Path | None = None
    # "module:function" callables run in every worker before the first call, e.g. to register a
    # litellm custom provider for a local model server.
    setup_hooks: tuple[str, ...] = ()


class CorpusConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    glossary: Path = DEFAULT_GLOSSARY
    backend: Literal["template", "litellm"] = "template"
    pairs_per_scenario: int = Field(19, ge=1, le=100)
    # Sample this many scenarios from the term x cause x context product (None: all).
    max_scenarios: int | None = Field(None, ge=3)
    # Cap on judge-set rows, so judging cost does not grow with the corpus.
    max_judge_items: int = Field(64, ge=1)
    split: SplitFractions = SplitFractions()
    seed: int = 0
    filters: FilterSettings = FilterSettings()
    litellm: LitellmSettings = LitellmSettings()
    # How training pairs are generated: `naive` from the glossary alone (the study's D-Naive), `grounded` from
    # the article chunks retrieved for each scenario (D-RAG). Validation and judge pairs are always naive, so
    # every variant is scored on the same items.
    generation: Literal["naive", "grounded"] = "naive"
    # Help articles for grounded generation (a folder of .md/.txt/.html); None: the embedded help centre.
    articles: Path | None = None
    # Article chunks retrieved per scenario (MiniLM cosine similarity) to ground its pairs.
    retrieval_top_k: int = Field(2, ge=1, le=10)
    # Who labels each pair conceptual or factual: the offline classifier (logistic regression on MiniLM
    # embeddings, corpus/kind.py), or the model in `litellm` (cached; a failed batch falls back to offline).
    kind_labeller: Literal["offline", "litellm"] = "offline"
    # Share of conceptual pairs among the training rows (None: as generated). Selection happens after
    # labelling; it never touches the val or judge rows.
    conceptual_share: float | None = Field(None, ge=0, le=1)
    # Training rows kept (None: all, or with `conceptual_share` the most that every share can reach).
    train_size: int | None = Field(None, ge=1)
