"""The `corpus:` section of an experiment config: everything that decides which corpus gets built."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_GLOSSARY = PACKAGE_DIR / "glossary" / "telecom.yaml"


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
