"""The Ray edge of a trial: the function Tune runs, wiring the recipe's `report` to Tune and its `log` to MLflow.

This module must stay light to import (no torch, transformers or judges at module level). Tune builds each
trial's actor by importing it, and when a cached actor frees up while a new one is still starting, Tune hands
the next trial to the cached actor and removes the new one (TuneController._maybe_reuse_cached_actor). With a
16.8 s import here (loaded machine) against 15 s trials, every new actor lost that race and a search with two
slots ran its trials one at a time. The recipe itself is in trainables/recipe.py, the contract between the two
in trainables/contract.py.
"""

from __future__ import annotations

import dataclasses
import tempfile
import traceback
from pathlib import Path
from typing import Any

from trainables.contract import TrialContext, TrialMetrics


def lora_trial(config: dict[str, Any], context: TrialContext) -> None:
    """Ray Tune function trainable. `config` holds the sampled hyperparameters only."""
    from ray import tune

    from trainables.recipe import quiet_libraries, run_trial
    from trainables.tracking import TrialRun, limit_http_retries
    from trainables.tune_record import wait_until_recorded

    quiet_libraries()
    trial_id = tune.get_context().get_trial_id() or "local"
    wait_until_recorded(trial_id)
    limit_http_retries(*context.tracking_http)
    run = TrialRun(context.tracking_uri, context.experiment_name, context.parent_run_id, trial_id)

    def report(metrics: TrialMetrics, checkpoint_dir: Path) -> None:
        metrics = dataclasses.replace(metrics, mlflow_run_id=run.run_id or "", mlflow_offline=run.offline)
        tune.report(metrics.as_report(), checkpoint=tune.Checkpoint.from_directory(checkpoint_dir))

    try:
        with tempfile.TemporaryDirectory() as restore_dir:
            checkpoint = tune.get_checkpoint()
            if checkpoint is not None:
                checkpoint.to_directory(restore_dir)
            run_trial(config, context, report, run, Path(restore_dir) if checkpoint is not None else None)
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
