"""The untuned base model, scored once per search on the same judge set and panel: the baseline every trial should
beat, and the answers `judging.pairwise` compares each trial's with."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from experiment.config import ExperimentConfig
from search.recording import read_baseline, record_baseline, write_baseline
from trainables.contract import TrialContext
from trainables.tracking import tolerating_mlflow_outage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Baseline:
    judge_score: float  # 1-5 rubric scale; NaN when it could not be scored
    answers: tuple[str, ...]  # in the judge set's order; empty when unknown
    pending: dict[str, Any] | None  # scored but not yet in MLflow (it was unreachable): recorded at the end


def score_baseline(config: ExperimentConfig, client, parent_run_id: str, context: TrialContext) -> Baseline:
    """Scored now, or read back for a resumed search. A failure is reported, not raised: the trials can still run
    and be recorded."""
    recorded = client.get_run(parent_run_id).data.metrics
    if "baseline_judge_score" in recorded:
        stored = read_baseline(config)
        return Baseline(recorded["baseline_judge_score"], _answers(stored), None)
    try:
        out = _score(config, context)
    except Exception as err:
        log.warning("the untuned baseline could not be scored (%s: %s)", type(err).__name__, str(err)[:300])
        return Baseline(math.nan, (), None)
    write_baseline(config, out)
    with tolerating_mlflow_outage() as outage:
        record_baseline(client, parent_run_id, out)
    return Baseline(out["metrics"].get("judge_score", math.nan), _answers(out), out if outage.reason else None)


def _answers(out: dict[str, Any] | None) -> tuple[str, ...]:
    items = out["items"] if out else pd.DataFrame()
    return tuple(items["answer"].astype(str)) if "answer" in items else ()


def _score(config: ExperimentConfig, context: TrialContext) -> dict[str, Any]:
    """CPU trials score it here in the driver, which has torch and the judge loaded already (a fresh Ray worker
    spends about 10 s importing them, a third of a short search's setup); GPU trials score it in a Ray task with
    one trial's resources, so that it runs where trials run (a GPU worker on a cluster)."""
    import ray

    from trainables.trainable import score_base_model

    if config.search.gpus_per_trial:
        task = ray.remote(num_cpus=config.search.cpus_per_trial, num_gpus=config.search.gpus_per_trial)
        return ray.get(task(score_base_model).remote(context))
    return _in_driver(score_base_model, context, threads=max(1, int(config.search.cpus_per_trial)))


def _in_driver(score_base_model, context: TrialContext, threads: int) -> dict[str, Any]:
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
