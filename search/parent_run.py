"""Stage 2 of a search: its MLflow parent run, opened (or reopened by `--resume`) with the config, the corpus
manifest and the objectives, and marked FAILED or KILLED with the error if the search does not finish."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from experiment.config import ExperimentConfig, flatten
from front.objectives import objectives_to_json
from search.space import GRID_LABEL
from search.tracking import experiment_id, find_parent_run, start_parent_run
from trainables.tracking import tolerating_mlflow_outage


@dataclass(frozen=True)
class ParentRun:
    experiment_id: str
    run_id: str


def open_parent_run(config: ExperimentConfig, client, corpus, objectives, resume: bool) -> ParentRun:
    exp_id = experiment_id(client, config.experiment.name)
    run_id = find_parent_run(client, exp_id) if resume else None
    if run_id is not None:
        client.update_run(run_id, status="RUNNING")
        return ParentRun(exp_id, run_id)
    params = flatten(config)
    params.update({f"reference_point.{k}": str(v) for k, v in config.search.reference_point.items()})
    tags = {
        "corpus_hash": corpus.corpus_hash,
        "seed_grid": GRID_LABEL if config.search.seed_grid != "none" else "none",
        "objectives": objectives_to_json(objectives),
    }
    run_id = start_parent_run(client, exp_id, config.experiment.name, params, tags=tags)
    client.log_dict(run_id, config.model_dump(mode="json"), "config.yaml")
    client.log_dict(run_id, corpus.manifest, "corpus/manifest.json")
    return ParentRun(exp_id, run_id)


@contextmanager
def marking_failure(client, parent: ParentRun) -> Iterator[None]:
    """The parent run says how the search ended; `--resume NAME` reopens it."""
    try:
        yield
    except BaseException as err:
        with tolerating_mlflow_outage():
            client.set_tag(parent.run_id, "error", f"{type(err).__name__}: {err}"[:1000])
            client.set_terminated(parent.run_id, "KILLED" if isinstance(err, KeyboardInterrupt) else "FAILED")
        raise
