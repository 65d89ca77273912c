"""The plain value a report is built from: one table of trials plus the search's settings and environment.

Both sources (an MLflow experiment, a CSV of published results) produce a `Study`, so the analysis and
rendering never know where the numbers came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from front.objectives import Objective

# LoRA hyper-parameters logged as params on each trial run, in the order the report shows them.
CONFIG_COLUMNS: tuple[str, ...] = (
    "rank",
    "alpha",
    "alpha_multiple",
    "dropout",
    "target_modules",
    "learning_rate",
    "epochs",
    "batch_size",
    "quantization",
    "use_rslora",
    "use_dora",
    "grad_accum",
    "max_seq_len",
    "scheduler",
    "warmup_ratio",
)

# Columns describing a trial rather than measuring it.
META_COLUMNS: tuple[str, ...] = ("trial_id", "run_id", "status", "origin", "energy_source", "end_time")

FINISHED = "FINISHED"
BASELINE = "baseline"  # the untuned base model's key in `Study.answers` (the search's baseline row)
PAPER_GRID_ORIGIN = "paper16"


@dataclass
class Study:
    """Everything a report shows. `trials` has one row per trial, indexed by trial id.

    `reference_point` is None when the source declared none (a CSV); the analysis then says which one it
    used. `environment` holds strings such as gpu_type, energy_source and corpus_hash.
    """

    name: str
    source: str
    trials: pd.DataFrame
    objectives: tuple[Objective, ...]
    reference_point: dict[str, float] | None = None
    energy_budget_wh: float | None = None
    judge_threshold: float | None = None
    baseline_judge_score: float | None = None
    environment: dict[str, str] = field(default_factory=dict)
    manifest: dict[str, Any] | None = None
    search_params: dict[str, str] = field(default_factory=dict)
    parent_run_id: str | None = None
    # The untuned base model's figures without the `baseline_` prefix: judge_score and its interval, degeneration.
    baseline: dict[str, float] = field(default_factory=dict)
    # The search's own figures (the parent run's metrics): knee stability, interval ends, calibration, agreement.
    search_metrics: dict[str, float] = field(default_factory=dict)
    # The paired bootstrap's findings as the search wrote them (search/front_table.py: uncertainty_record).
    uncertainty: dict[str, Any] | None = None
    # Judged answers per item by trial id, the untuned model's under BASELINE (loaded when asked for: a mapping).
    answers: Mapping[str, pd.DataFrame] = field(default_factory=dict)
