"""`run_search`: a search in four stages, each a module of its own. Read this file for the whole run:

1. prepare (search/prepare.py): tracking store, Ray, corpus, base model, judges, all checked before anything
   is recorded;
2. open the parent run (search/parent_run.py) in MLflow, marked FAILED with the error if a later stage raises;
3. run the trials (search/tuning.py): the untuned baseline, then Ray Tune + Optuna (+ MO-ASHA);
4. finish (search/finish.py): the Pareto front computed, written to reports/<experiment>/, recorded in MLflow.
"""

from __future__ import annotations

import time

from experiment.config import ExperimentConfig
from front.objectives import Objective
from search.finish import finish
from search.parent_run import marking_failure, open_parent_run
from search.prepare import prepare
from search.recording import write_timings
from search.summary import SearchSummary
from search.tuning import run_trials


def run_search(config: ExperimentConfig, address: str | None = None, resume: bool = False) -> SearchSummary:
    # Setup counts from here, the driver's imports of Ray, torch and the judges included.
    started, cpu_started = time.perf_counter(), time.process_time()
    objectives = [Objective(o.metric, o.mode) for o in config.search.objectives]
    prepared = prepare(config, address)
    parent = open_parent_run(config, prepared.client, prepared.corpus, objectives, resume)
    with marking_failure(prepared.client, parent):
        tuned = run_trials(config, prepared, parent, objectives, resume)
        finish_started = time.perf_counter()
        summary = finish(config, prepared, parent, tuned, objectives)
    recording = time.perf_counter() - finish_started
    summary.stage_seconds = {
        "setup": finish_started - started - tuned.seconds,
        "trials": tuned.seconds,
        "trials_driver_cpu": tuned.driver_cpu_seconds,
        "recording": recording,
        "driver_cpu": time.process_time() - cpu_started,
    }
    write_timings(config, summary.stage_seconds)
    return summary
