"""One validated ExperimentConfig, loaded from a YAML preset or file and overridden from the command line.

Every other part receives a section of this object (a plain, frozen value); unknown keys are errors so a
typo never silently falls back to a default. The sections are defined beside the stage that reads them
(`corpus/settings.py`, `trainables/settings.py`, `judging/settings.py`, `experiment/search_settings.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, model_validator

from common.config_file import load_model
from common.paths import PathsConfig
from corpus.settings import CorpusConfig
from experiment.search_settings import SearchConfig, Section
from judging.settings import JudgingConfig
from trainables.settings import EnergyConfig, ModelConfig, TrialSettings


class ExperimentSection(Section):
    # Names the MLflow experiment, the Tune run directory and the Optuna study, so it must be path-safe.
    name: str = Field("lorapareto-local", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
    seed: int = 0


class TrackingConfig(Section):
    # None: MLFLOW_TRACKING_URI, else MLflow's own default (sqlite:///mlflow.db in the working directory).
    uri: str | None = None
    # None: optuna.db beside mlflow.db (SQLite), so optuna-dashboard can open it.
    optuna_storage: str | None = None
    # How long a trial waits for a tracking server that stopped answering before it goes on offline (its results
    # stay in Tune's storage for --resync): MLflow's own default retries for about 4 minutes per call.
    http_retries: int = Field(2, ge=0, le=10)
    http_timeout_seconds: int = Field(30, ge=1, le=600)


class ExperimentConfig(Section):
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


def load_config(
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
) -> ExperimentConfig:
    """Validate a preset or file plus `section.key=value` overrides; raise InputError naming file, field, value."""
    return load_model(ExperimentConfig, preset, config_file, overrides)


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
