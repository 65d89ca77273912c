"""The `judging:` section of an experiment config."""

from __future__ import annotations

from typing import Literal

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
    # Multi-fidelity judging (docs/judging.md). `all`: every trial is judged by `panel` (at rungs on the probe items,
    # at its end on the judge set). `front`: trials are judged by `cheap_panel` throughout, and at the search's end
    # `panel` judges the answers they already gave (search/rejudge.py) for the trials that can still reach the front
    # (on the cheap panel's front, or on it in at least `front_probability_min` of its paired bootstrap's replicates;
    # without per-item scores, not dominated at its interval's best against rivals at their worst), plus
    # `dominated_nearest` dominated trials nearest the front and `dominated_random` drawn with the experiment's seed,
    # so the panel also sees where the front ends. The rung subset of items is `training.probe_items`.
    cheap_panel: list[str] = Field(default_factory=lambda: ["local/correctness-judge"], min_length=1)
    full_panel_policy: Literal["all", "front"] = "all"
    front_probability_min: float = Field(0.05, gt=0, le=1)
    dominated_nearest: int = Field(2, ge=0)
    dominated_random: int = Field(2, ge=0)
    # Also compare each trial's final answers with the untuned base model's, both orders per judge, and report
    # judge_pairwise_win_rate and judge_pairwise_consistency (twice the rubric's calls again; judging/pairwise.py).
    pairwise: bool = False

    @model_validator(mode="after")
    def _tiers_differ(self) -> JudgingConfig:
        for name, models in (("panel", self.panel), ("cheap_panel", self.cheap_panel)):
            if len(set(models)) != len(models):
                raise ValueError(f"{name} repeats a judge: {models}")
        if self.full_panel_policy == "front" and set(self.cheap_panel) == set(self.panel):
            raise ValueError(
                f"full_panel_policy=front with cheap_panel equal to panel ({self.panel}) would judge every answer "
                "twice with the same judges; name a cheaper cheap_panel or use full_panel_policy=all"
            )
        return self

    @property
    def trial_panel(self) -> list[str]:
        """The judges a trial scores with, at rungs and at its end: the cheap tier under `front`, else the panel."""
        return list(self.cheap_panel if self.full_panel_policy == "front" else self.panel)

    @property
    def end_panel(self) -> list[str]:
        """The judges that score only at the search's end (search/rejudge.py): the panel under `front`, else none."""
        return list(self.panel) if self.full_panel_policy == "front" else []
