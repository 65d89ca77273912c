"""The one interface every expansion backend implements: a scenario in, K question/answer pairs out.

The implementations (corpus/templates.py, corpus/llm_expander.py) import this; corpus/expanders.py picks one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from corpus.scenarios import Scenario


@dataclass
class Expansion:
    """What one scenario produced, with the cost of producing it (zeros for offline backends)."""

    pairs: list[tuple[str, str]] = field(default_factory=list)
    calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    # Why the scenario produced nothing ("malformed_reply", "budget", "call_failed"); None when it did.
    skipped: str | None = None


class Expander(Protocol):
    # Recorded in every row's `generator` column and in the corpus hash.
    generator: str

    def expand(self, scenario: Scenario, k: int) -> Expansion: ...
