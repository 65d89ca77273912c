"""The trial contract: what a trial receives (TrialContext), what it reports each epoch (TrialMetrics), the names
of the files it keeps in its checkpoint, and the logging interface it writes to.

The Ray edge (`trainables/trainable.py`), the recipe (`trainables/recipe.py`) and the search's readers of trial
results (`search/recording.py`, `search/resync.py`) all import this module and nothing of each other. It stays
light (pydantic settings only): Tune imports it when it starts a trial's worker.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from judging.settings import JudgingConfig
from trainables.settings import EnergyConfig, ModelConfig, TrialSettings

# Inside a trial's checkpoint: <CHECKPOINT_DIR>/<ADAPTER_DIR> (peft format) and <CHECKPOINT_DIR>/<JUDGE_ANSWERS>
# (common.mlflow_names, also the MLflow artifact of the trial's run).
CHECKPOINT_DIR = "trial"
ADAPTER_DIR = "adapter"


@dataclass(frozen=True)
class TrialContext:
    """Everything a trial needs besides its sampled hyperparameters; the same for every trial of a search.

    It travels through Ray's object store (tune.with_parameters), so the corpus rows go with it: a worker on
    another node needs no access to the driver's disk.
    """

    base_model_path: str
    splits: dict[str, list[dict[str, Any]]]
    model: ModelConfig
    defaults: TrialSettings
    energy: EnergyConfig
    judging: JudgingConfig
    tracking_uri: str
    experiment_name: str
    parent_run_id: str | None
    cache_dir: str
    seed: int = 0
    gpus_per_trial: float = 0.0
    cpus_per_trial: float = 1.0
    # MLflow HTTP retries and timeout per call in the trial (tracking.http_retries / http_timeout_seconds).
    tracking_http: tuple[int, int] = (2, 30)
    # Sampled configs equal to one of these came from the reference grid (tagged origin=paper16).
    grid_points: tuple[tuple[tuple[str, Any], ...], ...] = field(default_factory=tuple)
    # The untuned model's answers to the judge set, in its order: what `judging.pairwise` compares against
    # (empty when the baseline could not be scored).
    baseline_answers: tuple[str, ...] = ()
    # With data axes in the space (`corpus.*`): each variant's training rows by `variant_key`; `splits` then holds
    # the val and judge rows every variant shares, so every trial is judged on the same items.
    variant_train: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass(frozen=True)
class TrialMetrics:
    """What a trial reports after each epoch: to Tune (every field) and to MLflow (the numbers, per epoch).

    Names carry their units. A new metric is one new field here; `as_report` and the MLflow log pick it up.
    """

    epoch: int  # epochs completed
    train_loss: float  # mean token cross-entropy (nats) over the epoch
    val_loss: float  # mean token cross-entropy (nats) on the validation split
    perplexity: float  # exp(val_loss), capped at exp(50)
    energy_wh: float  # training energy so far, watt-hours (the objective; an estimate where energy_source says so)
    energy_eval_wh: float  # validation, probe and judge-answer generation energy so far, watt-hours
    train_seconds: float  # training wall time so far
    tokens_per_second: float  # training tokens (prompt and answer) per second of training
    trainable_params: int  # LoRA parameters trained
    peak_memory_mb: float  # peak accelerator memory (CPU: the process's peak resident set), MiB
    is_final: bool  # the last epoch: the judge metrics are the trial's result
    # The panel's mean score on the judge set, 1-5 rubric scale; NaN before the final epoch and when every judge
    # failed (never 0).
    judge_score: float = math.nan
    # Its 95% interval: a bootstrap over the judge items resampled by scenario (trainables/judged_figures.py).
    judge_score_ci_low: float = math.nan
    judge_score_ci_high: float = math.nan
    # Degeneration of the judged answers (judging/degeneration.py), shares in [0, 1]; NaN before the final epoch.
    answer_repetition: float = math.nan  # repeated word 3-grams within an answer: a loop
    answer_truncated_share: float = math.nan  # answers that stop mid-sentence
    answer_distinct_2: float = math.nan  # distinct word bigrams over all bigrams: low when every answer is alike
    train_tokens: int = 0  # training tokens (prompt and answer) so far: energy per token compares power limits
    # Judged validation questions after every epoch (training.probe_items > 0), what early stopping compares.
    probe_judge_score: float | None = None
    # The rest of the panel's figures on the final epoch: judge_<criterion>, judge_agreement, and what the judging
    # cost: judge_calls, judge_tokens, judge_cost_usd (the trial's panel; search/rejudge.py adds the full panel's).
    judge: Mapping[str, float] = field(default_factory=dict)
    energy_source: str = ""  # `measured:<counter>` or `estimate:<how>`
    origin: str = ""  # `paper16` (the reference grid) or `sampler`
    mlflow_run_id: str = ""  # the trial's child run; empty while MLflow is unreachable
    mlflow_offline: bool = False  # MLflow stopped answering during the trial: --resync logs what it missed

    def as_report(self) -> dict[str, Any]:
        """One flat dict (the judge figures beside the rest), without metrics the trial did not measure."""
        flat = {k: v for k, v in asdict(self).items() if k != "judge" and v is not None}
        flat.update(self.judge)
        return flat


class TrialLog(Protocol):
    """Where the recipe records a trial beyond what it reports to Tune (the MLflow child run, at the edge)."""

    def log_params(self, params: Mapping[str, object], tags: Mapping[str, str] | None = None) -> None: ...

    def log_metrics(self, metrics: Mapping[str, Any], step: int, tags: Mapping[str, str] | None = None) -> None: ...

    def log_table(self, table: pd.DataFrame, artifact_file: str) -> None: ...

    def log_artifacts(self, directory: Path, artifact_path: str) -> None: ...


class Report(Protocol):
    """Hands one epoch's metrics and the directory holding its checkpoint to the search (Tune, at the edge)."""

    def __call__(self, metrics: TrialMetrics, checkpoint_dir: Path) -> None: ...


# A sampled key with this prefix is a data choice (a corpus setting), not a TrialSettings field.
DATA_PREFIX = "corpus."


def data_choices(sampled: Mapping[str, Any]) -> dict[str, Any]:
    """The sampled data choices (`corpus.generation`, ...) of a trial's config; empty without data axes."""
    return {k: v for k, v in sampled.items() if k.startswith(DATA_PREFIX)}


def variant_key(choices: Mapping[str, Any]) -> str:
    """A stable name for the corpus variant the data choices select, e.g.
    `corpus.conceptual_share=0.5,corpus.generation="grounded"`; the `data_variant` a trial logs."""
    return ",".join(f"{k}={json.dumps(choices[k])}" for k in sorted(choices))


def trial_settings(defaults: TrialSettings, sampled: Mapping[str, Any]) -> TrialSettings:
    """The `training:` defaults with a trial's sampled hyperparameters on top (data choices are not among them)."""
    hyper = {k: v for k, v in sampled.items() if not k.startswith(DATA_PREFIX)}
    return TrialSettings(**{**defaults.model_dump(), **hyper})


def trial_params(settings: TrialSettings) -> dict[str, Any]:
    """The hyperparameters recorded as a trial's MLflow params (generation settings excluded, alpha included)."""
    params = settings.model_dump(exclude={"max_new_tokens", "eval_batch_size"})
    params["target_modules"] = (
        settings.target_modules if isinstance(settings.target_modules, str) else ",".join(settings.target_modules)
    )
    params["alpha"] = settings.alpha
    return params
