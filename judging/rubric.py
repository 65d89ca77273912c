"""The scoring rubric: named 1-5 criteria, their weights, and the reply schema a judge must fill."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from common.errors import InputError
from judging.settings import RubricConfig

SCORE_MIN = 1
SCORE_MAX = 5


@dataclass(frozen=True)
class Rubric:
    """Weights are validated by RubricConfig; the version is part of every cache key."""

    weights: dict[str, float] = field(default_factory=lambda: dict(RubricConfig().weights))
    version: str = RubricConfig().version

    def __post_init__(self) -> None:
        try:
            RubricConfig(version=self.version, weights=dict(self.weights))
        except ValidationError as err:
            raise InputError("rubric", "weights", _first_error(err)) from None

    @classmethod
    def from_config(cls, cfg: RubricConfig) -> Rubric:
        return cls(weights=dict(cfg.weights), version=cfg.version)

    @classmethod
    def from_file(cls, path: Path) -> Rubric:
        """Read YAML or JSON with `version` and `weights`, as in the `judging.rubric` config section."""
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as err:
            raise InputError(path, None, f"cannot read rubric: {err}") from None
        if not isinstance(raw, dict):
            raise InputError(path, None, f"expected a mapping with version and weights, got {raw!r}")
        try:
            cfg = RubricConfig(**raw)
        except (ValidationError, TypeError) as err:
            detail = _first_error(err) if isinstance(err, ValidationError) else str(err)
            raise InputError(path, "weights", detail) from None
        return cls.from_config(cfg)

    @property
    def criteria(self) -> list[str]:
        return list(self.weights)

    def overall(self, scores: dict[str, float]) -> float:
        """Weighted mean of the criterion scores; NaN if any criterion is missing or NaN."""
        values = [scores.get(name, math.nan) for name in self.criteria]
        if any(v is None or math.isnan(v) for v in values):
            return math.nan
        return sum(self.weights[name] * v for name, v in zip(self.criteria, values, strict=True))

    def reply_schema(self) -> dict[str, Any]:
        """JSON schema of a judge's reply: one score 1-5 per criterion and a short rationale."""
        score = {"type": "number", "minimum": SCORE_MIN, "maximum": SCORE_MAX}
        return {
            "type": "object",
            "properties": {
                "scores": {
                    "type": "object",
                    "properties": {name: dict(score) for name in self.criteria},
                    "required": self.criteria,
                    "additionalProperties": False,
                },
                "rationale": {"type": "string", "maxLength": 600},
            },
            "required": ["scores", "rationale"],
            "additionalProperties": False,
        }

    def fingerprint(self) -> str:
        """Stable text for cache keys: version plus weights, so an edited rubric never reuses scores."""
        return json.dumps({"version": self.version, "weights": self.weights}, sort_keys=True)


def _first_error(err: ValidationError) -> str:
    first = err.errors()[0]
    return str(first.get("msg", err)).removeprefix("Value error, ")
