"""The search's stages, in order: preflight, corpus, base model, baseline, Tuner, front. Ray and MLflow meet here."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd

from common.errors import InputError
from experiment.config import ExperimentConfig, flatten
from front.objectives import Objective
from search.recording import (
    build_search_report,
    compute_front,
    finish_in_mlflow,
    front_summary,
    record_baseline,
    trial_table,
    write_baseline,
    write_timings,
)
from search.resync import experiment_path, load_analysis, resync_trials
from search.space import GRID_LABEL, make_sampler, seed_points, tune_space
from search.tracking import (
    check_reachable,
    close_orphans,
    default_optuna_storage,
    experiment_id,
    find_parent_run,
    resolve_tracking_uri,
    start_parent_run,
)
from trainables.tracking import is_unreachable, limit_http_retries

log = logging.getLogger(__name__)


def _storage_path(config: ExperimentConfig) -> str:
    configured = config.search.storage_path
    if configured and "://" in configured:
        return configured
    return str(Path(configured or "ray_results").resolve())


def _check_shared_storage(storage: str, joined_cluster: bool) -> None:
    """Checkpoints must land where every node sees them. A joined cluster may grow (the autoscaler starts GPU
    workers as trials queue), so there a local path is refused even while only the head is up."""
    import ray

    if "://" in storage:
        return
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if len(nodes) > 1 or joined_cluster:
        where = f"the cluster has {len(nodes)} nodes" if len(nodes) > 1 else "this search joins a Ray cluster"
        raise InputError(
            "search.storage_path",
            None,
            f"{storage!r} is a local path but {where}; use shared storage (s3://, gs://) or a mount every node "
            "sees, given as file:///path",
        )


def check_resumable(config: ExperimentConfig) -> None:
    """`--resume NAME` of a search Tune never stored is refused before Ray starts."""
    storage = _storage_path(config)
    name = config.experiment.name
    if "://" not in storage and not (Path(storage) / name).is_dir():
        raise InputError("--resume", None, f"no search named {name!r} under {storage}")


def _objectives(config: ExperimentConfig) -> list[Objective]:
    return [Objective(o.metric, o.mode) for o in config.search.objectives]


def _module_sets(config: ExperimentConfig) -> set[str]:
    from trainables.settings import TrialSettings

    names = set(config.training.module_names)
    spec = config.search.space.get("target_modules")
    for value in spec.choices if spec and spec.choices else []:
        names |= set(TrialSettings(target_modules=value).module_names)
    return names


def run_search(config: ExperimentConfig, address: str | None = None, resume: bool = False) -> dict[str, Any]:
    # Setup counts from here, the driver's imports of Ray, torch and the judges included.
    started, cpu_started = time.perf_counter(), time.process_time()
    import ray

    from corpus.pipeline import build_corpus, read_split
    from judging.panel import Panel
    from trainables.base_model import corpus_texts, resolve_base_model
    from trainables.contract import TrialContext
    from trainables.lora import check_target_modules

    name = config.experiment.name
    objectives = _objectives(config)
    storage = _storage_path(config)
    if config.search.gpus_per_trial % 1 and config.energy.shared_gpu == "refuse":
        raise InputError(
            "search.gpus_per_trial",
            None,
            f"{config.search.gpus_per_trial} is a fractional GPU, refused by energy.shared_gpu=refuse",
        )

    tracking_uri = resolve_tracking_uri(config.tracking.uri)
    client = check_reachable(tracking_uri)
    limit_http_retries(config.tracking.http_retries, config.tracking.http_timeout_seconds)
    cache_dir = config.paths.cache_dir.resolve()

    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, configure_logging=False, log_to_driver=True)
    _check_shared_storage(storage, joined_cluster=bool(address or os.environ.get("RAY_ADDRESS")))

    corpus = build_corpus(config.corpus, config.paths.data_dir.resolve())
    splits = {split: read_split(corpus.path, split).to_dict("records") for split in ("train", "val", "judge")}
    if not splits["judge"]:
        raise InputError(corpus.path / "judge", None, "the judge set is empty; raise corpus.max_judge_items")
    base_path = resolve_base_model(config.model, corpus_texts(splits["train"]), cache_dir)
    check_target_modules(base_path, _module_sets(config), "training.target_modules / search.space.target_modules")
    Panel.from_config(config.judging, cache_dir=cache_dir / "judge").preflight()

    exp_id = experiment_id(client, name)
    parent_run_id = find_parent_run(client, exp_id) if resume else None
    if parent_run_id is None:
        params = flatten(config)
        params.update({f"reference_point.{k}": str(v) for k, v in config.search.reference_point.items()})
        parent_run_id = start_parent_run(
            client,
            exp_id,
            name,
            params,
            tags={
                "corpus_hash": corpus.corpus_hash,
                "seed_grid": GRID_LABEL if config.search.seed_grid != "none" else "none",
                "objectives": json.dumps([[o.metric, o.mode] for o in objectives]),
            },
        )
        client.log_dict(parent_run_id, config.model_dump(mode="json"), "config.yaml")
        client.log_dict(parent_run_id, corpus.manifest, "corpus/manifest.json")
    else:
        client.update_run(parent_run_id, status="RUNNING")

    grid = seed_points(config.search, config.training)
    context = TrialContext(
        base_model_path=str(base_path),
        splits=splits,
        model=config.model,
        defaults=config.training,
        energy=config.energy,
        judging=config.judging,
        tracking_uri=tracking_uri,
        experiment_name=name,
        parent_run_id=parent_run_id,
        cache_dir=str(cache_dir),
        seed=config.experiment.seed,
        gpus_per_trial=config.search.gpus_per_trial,
        cpus_per_trial=config.search.cpus_per_trial,
        tracking_http=(config.tracking.http_retries, config.tracking.http_timeout_seconds),
        grid_points=tuple(tuple(sorted(p.items())) for p in grid),
    )
    try:
        summary = _search(config, client, exp_id, parent_run_id, context, grid, resume)
    except BaseException as err:
        # The parent run says how the search ended; `--resume NAME` reopens it.
        try:
            client.set_tag(parent_run_id, "error", f"{type(err).__name__}: {err}"[:1000])
            client.set_terminated(parent_run_id, "KILLED" if isinstance(err, KeyboardInterrupt) else "FAILED")
        except Exception as mlflow_err:
            if not is_unreachable(mlflow_err):
                raise
        raise
    stages = summary["stage_seconds"]
    stages["setup"] = time.perf_counter() - started - stages["trials"] - stages["recording"]
    stages["driver_cpu"] = time.process_time() - cpu_started
    write_timings(config, stages)
    return summary


def _search(
    config: ExperimentConfig, client, exp_id: str, parent_run_id: str, context, grid, resume: bool
) -> dict[str, Any]:
    """Baseline, Tuner, front: the part of a search that runs under its MLflow parent run."""
    from ray import tune

    from trainables.trainable import lora_trial, score_base_model

    name = config.experiment.name
    objectives = _objectives(config)
    storage = _storage_path(config)
    tracking_uri = context.tracking_uri
    resources = {"cpu": config.search.cpus_per_trial, "gpu": config.search.gpus_per_trial}
    baseline_score, baseline = _baseline(client, parent_run_id, context, resources, score_base_model)
    if baseline is not None:
        write_baseline(config, baseline)
        baseline = _record_or_keep(client, parent_run_id, baseline)
    trainable = tune.with_resources(tune.with_parameters(lora_trial, context=context), resources)
    optuna_storage = default_optuna_storage(tracking_uri, config.tracking.optuna_storage)
    scheduler = _early_stopping(config)
    tuner = _tuner(config, trainable, storage, optuna_storage, grid, resume, objectives, scheduler)
    fit_started, fit_cpu_started = time.perf_counter(), time.process_time()
    results = tuner.fit()
    fit_seconds = time.perf_counter() - fit_started
    # The driver's own CPU while the trials ran (Tune's loop, the sampler, callbacks): taken from the trials'
    # cores when the trials fill the machine.
    fit_driver_cpu_seconds = time.process_time() - fit_cpu_started
    _close_stale_optuna_trials(optuna_storage, name)
    trials = trial_table(results)
    front = compute_front(config, trials, objectives)
    summary = front_summary(config, front)
    summary.update(
        experiment=name,
        tracking_uri=tracking_uri,
        optuna_storage=optuna_storage,
        baseline_judge_score=baseline_score,
    )
    try:
        if baseline is not None:
            record_baseline(client, parent_run_id, baseline)
        if scheduler is not None:
            client.log_metric(parent_run_id, "early_stopping_energy_saved_wh", scheduler.energy_saved_wh)
            client.log_metric(parent_run_id, "early_stopped_trials", len(scheduler.stopped))
        offline = set()
        if "mlflow_offline" in trials:
            offline = set(trials.loc[trials["mlflow_offline"].eq(True), "trial_id"])
        if offline:
            log.warning("%d trials ran while MLflow was unreachable; logging them now", len(offline))
            resync_trials(config, client, exp_id, parent_run_id, load_analysis(config), only=offline)
        close_orphans(client, exp_id, parent_run_id, set(trials.get("trial_id", pd.Series(dtype=str)).astype(str)))
        summary.update(finish_in_mlflow(config, client, tracking_uri, exp_id, parent_run_id, front, objectives))
    except Exception as err:
        if not is_unreachable(err):
            raise
        # Nothing is lost: the front is on disk, every trial in Tune's storage; --resync finishes the MLflow part.
        summary["mlflow_pending"] = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
        summary["report"] = build_search_report(config, None, front, objectives, baseline_judge_score=baseline_score)
    summary["stage_seconds"] = {
        "trials": fit_seconds,
        "trials_driver_cpu": fit_driver_cpu_seconds,
        "recording": time.perf_counter() - fit_started - fit_seconds,
    }
    return summary


def _baseline(client, parent_run_id: str, context, resources: dict, score_base_model):
    """The untuned model, scored once per search before the trials. Returns (score, output to record), or
    (recorded score, None) for a resumed search. A failure is reported, not raised: the trials can still run and
    be recorded.

    CPU trials score it here in the driver, which has torch and the judge loaded already (a fresh Ray worker
    spends about 10 s importing them, a third of a short search's setup); GPU trials score it in a Ray task with
    one trial's resources, so that it runs where trials run (a GPU worker on a cluster)."""
    import ray

    recorded = client.get_run(parent_run_id).data.metrics
    if "baseline_judge_score" in recorded:
        return recorded["baseline_judge_score"], None
    try:
        if resources["gpu"]:
            task = ray.remote(num_cpus=resources["cpu"], num_gpus=resources["gpu"])(score_base_model)
            out = ray.get(task.remote(context))
        else:
            out = _in_driver(score_base_model, context, threads=max(1, int(resources["cpu"])))
    except Exception as err:
        log.warning("the untuned baseline could not be scored (%s: %s)", type(err).__name__, str(err)[:300])
        return math.nan, None
    return out["metrics"].get("judge_score", math.nan), out


def _in_driver(score_base_model, context, threads: int) -> dict[str, Any]:
    """Score with a trial's thread count, then give the driver its threads and the model's memory back."""
    import gc

    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return score_base_model(context)
    finally:
        torch.set_num_threads(previous)
        gc.collect()


def _record_or_keep(client, parent_run_id: str, baseline: dict[str, Any]) -> dict[str, Any] | None:
    """Recorded now if MLflow answers (a resumed search then reuses it); else kept for the end of the search."""
    try:
        record_baseline(client, parent_run_id, baseline)
    except Exception as err:
        if not is_unreachable(err):
            raise
        return baseline
    return None


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

    name = config.experiment.name
    if resume:
        return tune.Tuner.restore(
            experiment_path(config),
            trainable=trainable,
            resume_unfinished=True,
            resume_errored=True,
        )
    num_samples = len(grid) if config.search.sampler == "grid16" else max(config.search.num_samples, len(grid))
    searcher = ConstrainedOptunaSearch(
        metric=[o.metric for o in config.search.objectives],
        mode=[o.mode for o in config.search.objectives],
        points_to_evaluate=grid or None,
        sampler=make_sampler(config.search, config.experiment.seed),
        storage=optuna.storages.RDBStorage(optuna_storage),
        study_name=name,
        energy_budget_wh=config.search.energy_budget_wh,
    )
    return tune.Tuner(
        trainable,
        param_space=tune_space(config.search.space),
        # No metric/mode here: setting them also silently makes the study single-objective (NOTES.md).
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            scheduler=scheduler,
            num_samples=num_samples,
            max_concurrent_trials=config.search.max_concurrent_trials,
            # One worker process per concurrent slot, reused across trials: imports and the offline judge's
            # embedding model load once per slot instead of once per trial.
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=storage,
            failure_config=tune.FailureConfig(max_failures=config.search.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            callbacks=[FrontProgress(objectives, config.search.reference_point)],
            verbose=1,
        ),
    )
