"""One validated ExperimentConfig, loaded from a YAML preset or file and overridden from the command line.

Every other part receives a section of this object (a plain, frozen value); unknown keys are errors so a
typo never silently falls back to a default.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from common.errors import InputError
from corpus.settings import CorpusConfig
from judging.settings import JudgingConfig
from trainables.settings import EnergyConfig, ModelConfig, TrialSettings

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
PRESETS = ("local", "paper")
SAMPLERS = ("tpe", "nsga2", "gp", "random", "grid16")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExperimentSection(_Section):
    # Names the MLflow experiment, the Tune run directory and the Optuna study, so it must be path-safe.
    name: str = Field("lorapareto-local", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
    seed: int = 0


class PathsConfig(_Section):
    data_dir: Path = Path("data")
    cache_dir: Path = Path(".cache/lorapareto")
    reports_dir: Path = Path("reports")


class TrackingConfig(_Section):
    # None: MLFLOW_TRACKING_URI, else MLflow's own default (sqlite:///mlflow.db in the working directory).
    uri: str | None = None
    # None: optuna.db beside mlflow.db (SQLite), so optuna-dashboard can open it.
    optuna_storage: str | None = None
    # How long a trial waits for a tracking server that stopped answering before it goes on offline (its results
    # stay in Tune's storage for --resync): MLflow's own default retries for about 4 minutes per call.
    http_retries: int = Field(2, ge=0, le=10)
    http_timeout_s: int = Field(30, ge=1, le=600)


class ObjectiveConfig(_Section):
    metric: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    mode: Literal["max", "min"]


class ParamSpec(_Section):
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


class EarlyStoppingConfig(_Section):
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


class SearchConfig(_Section):
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
            if name not in TrialSettings.model_fields:
                raise ValueError(f"unknown hyperparameter {name!r}; known: {', '.join(TrialSettings.model_fields)}")
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
        return self


class ExperimentConfig(_Section):
    experiment: ExperimentSection = ExperimentSection()
    paths: PathsConfig = PathsConfig()
    model: ModelConfig = ModelConfig()
    corpus: CorpusConfig = CorpusConfig()
    training: TrialSettings = TrialSettings()
    energy: EnergyConfig = EnergyConfig()
    judging: JudgingConfig = JudgingConfig()
    search: SearchConfig = SearchConfig()
    tracking: TrackingConfig = TrackingConfig()

    @model_validator(mode="after")
    def _probe_feeds_early_stopping(self) -> ExperimentConfig:
        rung_metrics = {o.metric for o in self.search.early_stopping.objectives}
        if self.search.scheduler == "moasha" and "probe_judge_score" in rung_metrics and not self.training.probe_items:
            raise ValueError(
                "search.scheduler=moasha compares trials on probe_judge_score each epoch; set training.probe_items > 0"
            )
        return self

    def max_epochs(self) -> int:
        spec = self.search.space.get("epochs")
        if spec is None:
            return self.training.epochs
        return int(max(spec.choices) if spec.choices is not None else spec.high)


def preset_path(name: str) -> Path:
    path = CONFIG_DIR / f"{name}.yaml"
    if not path.is_file():
        raise InputError("--preset", None, f"unknown preset {name!r}; available: {', '.join(available_presets())}")
    return path


def available_presets() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as err:
        raise InputError(path, None, f"cannot read config: {err.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise InputError(path, None, f"malformed YAML: {where}{problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(path, None, f"top level must be a mapping of sections, got {type(data).__name__}")
    return data


def _apply_override(data: dict[str, Any], override: str) -> tuple[str, ...]:
    key, sep, raw = override.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise InputError("--set", None, f"expected section.key=value, got {override!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    path = tuple(key.split("."))
    node = data
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value
    return path


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def load_config(
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
) -> ExperimentConfig:
    """Validate a preset or file plus `section.key=value` overrides; raise InputError naming file, field, value."""
    if preset and config_file:
        raise InputError("--config", None, "give either --preset or --config, not both")
    source = Path(config_file) if config_file else preset_path(preset or "local")
    data = _read_yaml(source)
    overridden = {_apply_override(data, o): o for o in overrides}
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        loc = tuple(str(p) for p in first["loc"])
        origin = next(
            (f"--set {o}" for path, o in overridden.items() if loc[: len(path)] == path or path[: len(loc)] == loc),
            str(source),
        )
        field = ".".join(loc) or "(top level)"
        msg = first["msg"].removeprefix("Value error, ")
        given = first.get("input")
        # Model-level checks already name the value in their message; their input is the whole section.
        value = "" if first["type"] == "missing" or isinstance(given, dict) else f" (got {_describe(given)})"
        if first["type"] == "extra_forbidden":
            msg, value = "unknown key", ""
        raise InputError(origin, field, f"{msg}{value}") from None


def flatten(config: BaseModel) -> dict[str, str]:
    """`section.key -> value` strings, the form MLflow params take."""
    out: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            out[prefix] = str(value)

    walk("", config.model_dump(mode="json"))
    return out
