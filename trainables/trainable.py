"""One Ray Tune trial: what Tune imports to start a trial's worker, and the entry points it calls.

This module must stay light to import (no torch, transformers or judges at module level). Tune builds each
trial's actor by importing it, and when a cached actor frees up while a new one is still starting, Tune hands
the next trial to the cached actor and removes the new one (TuneController._maybe_reuse_cached_actor). With a
16.8 s import here (loaded machine) against 15 s trials, every new actor lost that race and a search with two
slots ran its trials one at a time. The recipe itself is in trainables/recipe.py.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Any

from judging.settings import JudgingConfig
from trainables.settings import EnergyConfig, ModelConfig, TrialSettings

CHECKPOINT_DIR = "trial"
JUDGE_ANSWERS = "judge_answers.json"


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


def trial_settings(defaults: TrialSettings, sampled: dict[str, Any]) -> TrialSettings:
    return TrialSettings(**{**defaults.model_dump(), **sampled})


def trial_params(settings: TrialSettings) -> dict[str, Any]:
    params = settings.model_dump(exclude={"max_new_tokens", "eval_batch_size"})
    params["target_modules"] = (
        settings.target_modules if isinstance(settings.target_modules, str) else ",".join(settings.target_modules)
    )
    params["alpha"] = settings.alpha
    return params


def lora_trial(config: dict[str, Any], context: TrialContext) -> None:
    """Ray Tune function trainable. `config` holds the sampled hyperparameters only."""
    from ray import tune

    from trainables.recipe import quiet_libraries, run_trial
    from trainables.tracking import TrialRun, limit_http_retries

    quiet_libraries()
    trial_id = tune.get_context().get_trial_id() or "local"
    limit_http_retries(*context.tracking_http)
    run = TrialRun(context.tracking_uri, context.experiment_name, context.parent_run_id, trial_id)
    try:
        run_trial(config, context, run)
    except BaseException as err:
        run.set_tags(
            {
                "error": f"{type(err).__name__}: {err}"[:4000],
                "error_traceback": traceback.format_exc()[-4000:],
            }
        )
        run.finish("FAILED" if not isinstance(err, KeyboardInterrupt) else "KILLED")
        raise
    run.finish("FINISHED")


def score_base_model(context: TrialContext) -> dict[str, Any]:
    """The untuned base model on the same judge set and panel: the baseline every trial should beat."""
    from trainables.recipe import score_base_model as score

    return score(context)
