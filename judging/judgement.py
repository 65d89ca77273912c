"""One judge's verdict on one item, and how a raw reply becomes one (or a reasoned failure)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import jsonschema

from common.llm import loads_repaired
from judging.rubric import Rubric


@dataclass
class Usage:
    calls: int = 0
    cache_hits: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, other: Usage) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass
class Judgement:
    """Criterion scores, the weighted overall, a short rationale, the judge, and whether it came from cache.

    A failed judgement has NaN scores and says why in `error`; it is never scored 0.
    """

    judge: str
    scores: dict[str, float]
    overall: float
    rationale: str = ""
    error: str = ""
    cached: bool = False
    usage: Usage = field(default_factory=Usage)

    @classmethod
    def failed(cls, judge: str, rubric: Rubric, reason: str, usage: Usage | None = None) -> Judgement:
        usage = usage or Usage()
        usage.failures += 1
        nan_scores = {name: math.nan for name in rubric.criteria}
        return cls(judge=judge, scores=nan_scores, overall=math.nan, error=reason, usage=usage)


class MalformedReply(ValueError):
    """The reply is not JSON matching the rubric's schema; the message says what is wrong."""


def parse_json(content: str | None, schema: dict[str, Any]) -> dict[str, Any]:
    """The reply as a JSON object valid against `schema` (a ```json fence or prose around it is tolerated)."""
    try:
        data = loads_repaired(content)
    except json.JSONDecodeError as err:
        raise MalformedReply(f"not JSON ({err.msg} at char {err.pos})") from None
    try:
        jsonschema.validate(data, schema)
    except jsonschema.ValidationError as err:
        where = "/".join(str(p) for p in err.absolute_path) or "reply"
        raise MalformedReply(f"{where}: {err.message}") from None
    return data
