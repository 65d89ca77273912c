"""Stage 3 of a search: the trials. The context every trial shares, the baseline, then Ray Tune's Tuner with the
Optuna multi-objective sampler (seeded with the paper16 grid) and, if configured, MO-ASHA early stopping."""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from typing import Any

from experiment.config import ExperimentConfig
from front.objectives import Objective
from search import stopping
from search.baseline import Baseline, score_baseline
from search.parent_run import ParentRun
from search.prepare import Prepared
from search.space import make_sampler, seed_points, tune_space
from search.storage import experiment_path, searcher_journal_path
from search.tracking import default_optuna_storage
from trainables.contract import TrialContext


@dataclass(frozen=True)
class Tuned:
    results: Any  # Tune's ResultGrid
    scheduler: Any  # the MultiObjectiveAsha that stopped trials, or None
    baseline: Baseline
    optuna_storage: str
    seconds: float  # wall time of Tuner.fit
    driver_cpu_seconds: float  # the driver's own CPU meanwhile (Tune's loop, the sampler, callbacks)


def trial_context(config: ExperimentConfig, prepared: Prepared, parent: ParentRun, grid) -> TrialContext:
    return TrialContext(
        base_model_path=str(prepared.base_model_path),
        splits=prepared.splits,
        model=config.model,
        defaults=config.training,
        energy=config.energy,
        judging=config.judging,
        tracking_uri=prepared.tracking_uri,
        experiment_name=config.experiment.name,
        parent_run_id=parent.run_id,
        cache_dir=str(config.paths.cache_dir.resolve()),
        seed=config.experiment.seed,
        gpus_per_trial=config.search.gpus_per_trial,
        cpus_per_trial=config.search.cpus_per_trial,
        tracking_http=(config.tracking.http_retries, config.tracking.http_timeout_seconds),
        grid_points=tuple(tuple(sorted(p.items())) for p in grid),
        variant_train=prepared.variant_train,
    )


def run_trials(
    config: ExperimentConfig, prepared: Prepared, parent: ParentRun, objectives: list[Objective], resume: bool
) -> Tuned:
    from ray import tune

    from trainables.trainable import lora_trial

    grid = seed_points(config.search, config.training, config.corpus)
    if config.search.sampler != "grid16":
        # num_samples counts the seed points too: 8 runs the first 8 (search.run says so), not all 16.
        grid = grid[: config.search.num_samples]
    context = trial_context(config, prepared, parent, grid)
    baseline = score_baseline(config, prepared.client, parent.run_id, context)
    context = dataclasses.replace(context, baseline_answers=baseline.answers)
    resources = {"cpu": config.search.cpus_per_trial, "gpu": config.search.gpus_per_trial}
    trainable = tune.with_resources(tune.with_parameters(lora_trial, context=context), resources)
    optuna_storage = default_optuna_storage(prepared.tracking_uri, config.tracking.optuna_storage)
    scheduler = _early_stopping(config)
    tuner = _tuner(config, trainable, prepared.storage, optuna_storage, grid, resume, objectives, scheduler)
    started, cpu_started = time.perf_counter(), time.process_time()
    results = tuner.fit()
    # Ctrl-C or SIGTERM ended the trials early: Tune saved its state, and the RUNNING Optuna trials below stay
    # open for --resume to finish, so nothing is closed or recorded as the search's end.
    stopping.raise_if_requested()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    _close_stale_optuna_trials(optuna_storage, config.experiment.name)
    return Tuned(results, scheduler, baseline, optuna_storage, seconds, cpu)


def _close_stale_optuna_trials(storage: str, study_name: str) -> None:
    """Optuna trials still RUNNING after the Tuner returned belong to a killed driver's lost work: mark them FAIL
    so the study holds each finished trial once and nothing pretends to be running."""
    import optuna

    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:  # grid-only or restored searches may not have created the study here
        return
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)


def _early_stopping(config: ExperimentConfig):
    if config.search.scheduler != "moasha":
        return None
    from search.moasha import MultiObjectiveAsha, rung_settings

    # The same settings the replay benchmark builds its RungBook from.
    return MultiObjectiveAsha(**rung_settings(config.search.early_stopping, config.max_epochs()))


def _tuner(
    config: ExperimentConfig, trainable, storage: str, optuna_storage: str, grid, resume: bool, objectives, scheduler
):
    import optuna
    from ray import tune

    from search.progress import FrontProgress
    from search.searcher import ConstrainedOptunaSearch

    # Tune's experiment snapshot at most every second instead of every 10 s or more ("auto"): a trial waits for
    # the snapshot that names it before it starts (trainables/tune_record.py), so this is its start-up delay.
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "1")
    if resume:
        return tune.Tuner.restore(
            experiment_path(config), trainable=trainable, resume_unfinished=True, resume_errored=True
        )
    num_samples = len(grid) if config.search.sampler == "grid16" else max(config.search.num_samples, len(grid))
    searcher = ConstrainedOptunaSearch(
        metric=[o.metric for o in objectives],
        mode=[o.mode for o in objectives],
        points_to_evaluate=grid or None,
        sampler=make_sampler(config.search, config.experiment.seed),
        storage=optuna.storages.RDBStorage(optuna_storage),
        study_name=config.experiment.name,
        energy_budget_wh=config.search.energy_budget_wh,
        journal_path=searcher_journal_path(config),
    )
    return tune.Tuner(
        trainable,
        param_space=tune_space(config.search.space),
        # No metric/mode here: setting them as well silently turns the Optuna study single-objective.
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            scheduler=scheduler,
            num_samples=num_samples,
            max_concurrent_trials=config.search.max_concurrent_trials,
            reuse_actors=config.search.reuse_workers,
        ),
        run_config=tune.RunConfig(
            name=config.experiment.name,
            storage_path=storage,
            failure_config=tune.FailureConfig(max_failures=config.search.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            callbacks=[FrontProgress(objectives, config.search.reference_point)],
            verbose=1,
        ),
    )
