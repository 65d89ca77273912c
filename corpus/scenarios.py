"""Scenarios: the term x cause x context product, with stable ids and a scenario-level split."""

from __future__ import annotations

import hashlib
import random
from dataclasses import asdict, dataclass

from corpus.glossary import Glossary
from corpus.settings import SplitFractions

SPLITS = ("train", "val", "judge")


@dataclass(frozen=True)
class Scenario:
    scenario_id: str
    term: str
    cause: str
    context: str
    split: str

    def as_row(self) -> dict[str, str]:
        return asdict(self)


def scenario_id(term: str, cause: str, context: str) -> str:
    """An id from the names alone, so it survives reordering or extending the glossary."""
    digest = hashlib.sha256(f"{term}\x1f{cause}\x1f{context}".encode()).hexdigest()
    return f"sc-{digest[:12]}"


def _split_counts(n: int, fractions: SplitFractions) -> tuple[int, int]:
    # At least one scenario in val and judge whenever there are three, so no split is ever empty.
    n_val = max(1, round(n * fractions.val)) if n >= 3 else 0
    n_judge = max(1, round(n * fractions.judge)) if n >= 3 else 0
    return n_val, n_judge


def build_scenarios(
    glossary: Glossary, fractions: SplitFractions, seed: int, max_scenarios: int | None = None
) -> list[Scenario]:
    """All (or a seeded sample of) scenarios, each assigned to exactly one split."""
    grid = [(t.term, c.cause, x.context) for t in glossary.terms for c in glossary.causes for x in glossary.contexts]
    rng = random.Random(seed)
    rng.shuffle(grid)
    if max_scenarios is not None:
        grid = grid[:max_scenarios]
    n_val, n_judge = _split_counts(len(grid), fractions)
    scenarios = []
    for index, (term, cause, context) in enumerate(grid):
        split = "judge" if index < n_judge else "val" if index < n_judge + n_val else "train"
        scenarios.append(Scenario(scenario_id(term, cause, context), term, cause, context, split))
    return scenarios
