"""The `search:` section of an experiment config: sampler, space, objectives, reference point, early stopping.

It lives beside the assembled config rather than in search/, which imports the config: the search runs this
section, and the config must not import the search back.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from corpus.settings import CorpusConfig
from front.objectives import Objective, reference_problem
from trainables.settings import TrialSettings

SAMPLERS = ("tpe", "nsga2", "gp", "random", "grid16")
# Data axes: each choice is a corpus variant (corpus/variants.py), built once before the trials.
DATA_AXES = ("corpus.generation", "corpus.conceptual_share", "corpus.train_size")


def _check_data_axis(name: str, spec: ParamSpec) -> None:
    """A data axis offers `choices` only (each one a corpus built before the trials), each valid for `corpus:`."""
    if spec.choices is None:
        raise ValueError(f"{name}: a data axis takes `choices` (each one a corpus variant), not a range")
    field_name = name.removeprefix("corpus.")
    for value in spec.choices:
        try:
            CorpusConfig(**{field_name: value})
        except ValidationError as err:
            raise ValueError(f"{name}={value!r}: {err.errors()[0]['msg']}") from None
    if len(set(map(repr, spec.choices))) != len(spec.choices):
        raise ValueError(f"{name}: choices repeat a value: {spec.choices}")


class Section(BaseModel):
    """A config section: frozen, and unknown keys are errors (a typo never falls back to a default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ObjectiveConfig(Section):
    metric: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    mode: Literal["max", "min"]


class ParamSpec(Section):
    """One axis of the search space: either `choices`, or a `low`-`high` range (optionally log / integer)."""

    choices: list[Any] | None = Field(None, min_length=1)
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False

    @model_validator(mode="after")
    def _one_form(self) -> ParamSpec:
        ranged = self.low is not None or self.high is not None
        if (self.choices is None) == (not ranged):
            raise ValueError("give either `choices` or both `low` and `high`")
        if ranged:
            if self.low is None or self.high is None or not self.low < self.high:
                raise ValueError(f"need low < high, got low={self.low} high={self.high}")
            if self.log and self.low <= 0:
                raise ValueError(f"a log-scale range needs low > 0, got {self.low}")
        return self

    def values_to_check(self) -> list[Any]:
        if self.choices is not None:
            return list(self.choices)
        bounds = [self.low, self.high]
        return [int(b) for b in bounds] if self.integer else bounds


class EarlyStoppingConfig(Section):
    """Multi-objective ASHA (`search.scheduler: moasha`): at rungs grace_period * reduction_factor^k epochs,
    trials are compared by non-dominated sorting on these objectives and the dominated fraction is stopped."""

    grace_period: int = Field(1, ge=1)
    reduction_factor: float = Field(2.0, gt=1)
    # None: ASHA's 1 - 1/reduction_factor.
    stop_fraction: float | None = Field(None, ge=0, lt=1)
    objectives: list[ObjectiveConfig] = Field(
        default_factory=lambda: [
            ObjectiveConfig(metric="probe_judge_score", mode="max"),
            ObjectiveConfig(metric="energy_wh", mode="min"),
        ],
        min_length=2,
    )


class SearchConfig(Section):
    sampler: Literal["tpe", "nsga2", "gp", "random", "grid16"] = "tpe"
    num_samples: int = Field(20, ge=1)
    # The reconstructed 16-config reference grid, evaluated first (points_to_evaluate).
    seed_grid: Literal["paper16", "none"] = "paper16"
    # Order of the seed grid: `cheapest_first` (estimated training cost: epochs, then target modules, then rank)
    # lets early stopping judge the costly points against cheap ones already measured; `listed`: paper16 as written.
    seed_order: Literal["cheapest_first", "listed"] = "cheapest_first"
    max_concurrent_trials: int = Field(2, ge=1)
    cpus_per_trial: float = Field(1.0, gt=0)
    gpus_per_trial: float = Field(0.0, ge=0)
    # None: ./ray_results. On more than one node this must be shared storage (s3://, gs:// or a shared mount).
    storage_path: str | None = None
    max_failures: int = Field(1, ge=0)
    # Run each trial in a worker process of its own (False) or reuse a slot's worker for its next trial (True: the
    # imports and the offline judge load once per slot, what the second-long trials of `--preset tiny` need). On
    # smollm2-135m a reused worker's memory grew by about 1.3 GB a trial (peak 4.4 GB at its first trial, 10.1 GB
    # at its fifth) until Ray's memory monitor killed the demo's workers on a 24 GB machine; a fresh process per
    # trial gives every trial's memory back.
    reuse_workers: bool = False
    objectives: list[ObjectiveConfig] = Field(
        default_factory=lambda: [
            ObjectiveConfig(metric="judge_score", mode="max"),
            ObjectiveConfig(metric="energy_wh", mode="min"),
        ],
        min_length=2,
    )
    # Declared, not derived from the data, so hypervolumes compare across runs.
    reference_point: dict[str, float] = Field(default_factory=lambda: {"judge_score": 1.0, "energy_wh": 1.0})
    # Trials over this many Wh are infeasible (Optuna constraint); None: no budget.
    energy_budget_wh: float | None = Field(None, gt=0)
    space: dict[str, ParamSpec] = Field(default_factory=dict)
    scheduler: Literal["fifo", "moasha"] = "fifo"
    early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()

    @field_validator("space")
    @classmethod
    def _space_axes_are_hyperparameters(cls, space: dict[str, ParamSpec]) -> dict[str, ParamSpec]:
        for name, spec in space.items():
            if name in DATA_AXES:
                _check_data_axis(name, spec)
                continue
            if name not in TrialSettings.model_fields:
                known = [*TrialSettings.model_fields, *DATA_AXES]
                raise ValueError(f"unknown hyperparameter {name!r}; known: {', '.join(known)}")
            for value in spec.values_to_check():
                try:
                    TrialSettings(**{name: value})
                except ValidationError as err:
                    raise ValueError(f"{name}={value!r}: {err.errors()[0]['msg']}") from None
        return space

    @model_validator(mode="after")
    def _reference_point_matches_objectives(self) -> SearchConfig:
        metrics = [o.metric for o in self.objectives]
        if len(set(metrics)) != len(metrics):
            raise ValueError(f"objectives repeat a metric: {metrics}")
        missing = [m for m in metrics if m not in self.reference_point]
        if missing:
            raise ValueError(f"reference_point has no value for objective(s) {missing}")
        extra = [m for m in self.reference_point if m not in metrics]
        if extra:
            raise ValueError(f"reference_point names {extra}, which are not objectives")
        bad = {m: v for m, v in self.reference_point.items() if not math.isfinite(v)}
        if bad:
            raise ValueError(f"reference_point values must be finite, got {bad}")
        for o in self.objectives:
            problem = reference_problem(Objective(o.metric, o.mode), self.reference_point[o.metric])
            if problem:
                raise ValueError(f"reference_point.{o.metric}: {problem}")
        return self

    @model_validator(mode="after")
    def _power_limits_need_whole_gpus(self) -> SearchConfig:
        spec = self.space.get("gpu_power_limit_w")
        limits = [v for v in spec.values_to_check() if v is not None] if spec else []
        if limits and self.gpus_per_trial % 1:
            raise ValueError(
                f"space.gpu_power_limit_w: {limits} W with gpus_per_trial={self.gpus_per_trial}; a power limit is set "
                "per device, so it would also throttle the other trials sharing that GPU; use whole GPUs"
            )
        if limits and not self.gpus_per_trial:
            raise ValueError(
                f"space.gpu_power_limit_w: {limits} W with gpus_per_trial=0; the trials have no GPU to limit"
            )
        return self
