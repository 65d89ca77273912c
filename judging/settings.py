"""The `judging:` section of an experiment config."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

# The support-desk study's rubric: relevance dominates, the rest is form.
DEFAULT_WEIGHTS = {"relevance": 0.45, "grammar": 0.20, "structure": 0.20, "style": 0.15}


class RubricConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: str = "support-desk-v1"
    weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))

    @model_validator(mode="after")
    def _weights_form_a_mean(self) -> RubricConfig:
        if not self.weights:
            raise ValueError("the rubric has no criteria")
        bad = {k: v for k, v in self.weights.items() if v <= 0}
        if bad:
            raise ValueError(f"criterion weights must be positive, got {bad}")
        total = sum(self.weights.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"criterion weights must sum to 1, got {total:g}")
        return self


class JudgingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # litellm model names; `local/reference-judge` is the offline judge.
    panel: list[str] = Field(default_factory=lambda: ["local/reference-judge"], min_length=1)
    rubric: RubricConfig = RubricConfig()
    api_base: str | None = None
    max_concurrency: int = Field(4, ge=1)
    max_retries: int = Field(3, ge=0)
    timeout_seconds: float = Field(60.0, gt=0)
    # Also compare each trial's final answers with the untuned base model's, both orders per judge, and report
    # judge_pairwise_win_rate and judge_pairwise_consistency (twice the rubric's calls again; judging/pairwise.py).
    pairwise: bool = False
