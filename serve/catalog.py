"""What a finished search offers to serve, read from its MLflow experiment: the base model's config, and the
adapter and judged answers of every completed trial, by the names clients use (`base`, `knee`, `trial-<id>`)."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml
from mlflow.tracking import MlflowClient
from pydantic import ValidationError

from common.errors import InputError
from common.mlflow_names import BASELINE_ANSWERS, JUDGE_ANSWERS, ROLE_TAG
from common.paths import PathsConfig
from corpus.settings import CorpusConfig
from search.tracking import check_reachable, find_parent_run
from trainables.settings import ModelConfig

BASE = "base"
KNEE = "knee"
ADAPTER_ARTIFACT = "adapter"


@dataclass(frozen=True)
class ServedModel:
    name: str  # what clients ask for
    run_id: str  # the trial's MLflow run, or the search's parent run for `base`
    answers_artifact: str
    pareto_rank: int | None = None

    @property
    def is_base(self) -> bool:
        return self.name == BASE


@dataclass(frozen=True)
class SearchSetup:
    """The sections of the search's config a server needs to rebuild its base model, and only those: a search
    recorded under an older config schema still serves. The corpus section is validated only when it is needed
    (the tiny model's tokenizer, where the trained base is not on this machine)."""

    model: ModelConfig
    paths: PathsConfig
    raw_corpus: dict = field(default_factory=dict)

    def corpus(self) -> CorpusConfig:
        try:
            return CorpusConfig(**self.raw_corpus)
        except ValidationError as err:
            first = err.errors()[0]
            raise InputError(
                "--search", "corpus", f"the search's corpus config no longer validates ({first['msg']})"
            ) from None


@dataclass(frozen=True)
class SearchCatalog:
    name: str
    tracking_uri: str
    parent_run_id: str
    config: SearchSetup
    models: dict[str, ServedModel]  # by name; `knee` and its `trial-<id>` share a run

    def select(self, names: list[str] | None) -> dict[str, ServedModel]:
        if not names:
            return dict(self.models)
        unknown = [n for n in names if n not in self.models]
        if unknown:
            raise InputError("--models", None, f"{unknown[0]!r} is not a model of search {self.name!r}: {self.names()}")
        return {n: self.models[n] for n in dict.fromkeys(names)}

    def names(self) -> str:
        return ", ".join(self.models)

    def download_adapter(self, model: ServedModel, into: Path) -> Path:
        """The adapter's peft directory, fetched from MLflow's artifact store into `into`."""
        client = MlflowClient(self.tracking_uri)
        return Path(client.download_artifacts(model.run_id, ADAPTER_ARTIFACT, str(into)))

    def judged_answers(self, model: ServedModel) -> pd.DataFrame:
        """The judge set's questions, this model's answers to them and the judges' scores, as the search logged."""
        client = MlflowClient(self.tracking_uri)
        with tempfile.TemporaryDirectory() as tmp:
            path = client.download_artifacts(model.run_id, model.answers_artifact, tmp)
            table = json.loads(Path(path).read_text())
        return pd.DataFrame(table["data"], columns=table["columns"])


def load_catalog(name: str, tracking_uri: str) -> SearchCatalog:
    client = check_reachable(tracking_uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        raise InputError("--search", None, f"no search named {name!r} in MLflow at {tracking_uri!r}")
    parent = find_parent_run(client, experiment.experiment_id)
    if parent is None:
        raise InputError("--search", None, f"search {name!r} has no parent run in MLflow (was it started?)")
    parent_run = client.get_run(parent)
    config = _search_config(client, parent)
    models = {BASE: ServedModel(BASE, parent, BASELINE_ANSWERS)}
    trials = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent}' and tags.`{ROLE_TAG}` = 'trial'",
        order_by=["attributes.start_time ASC"],
    )
    knee_run = parent_run.data.tags.get("knee_run_id")
    for run in trials:
        if run.info.status != "FINISHED" or not run.data.tags.get("trial_id"):
            continue
        rank = run.data.tags.get("pareto_rank", "")
        model = ServedModel(
            f"trial-{run.data.tags['trial_id']}", run.info.run_id, JUDGE_ANSWERS, int(rank) if rank else None
        )
        models[model.name] = model
        if run.info.run_id == knee_run:
            models[KNEE] = ServedModel(KNEE, run.info.run_id, JUDGE_ANSWERS, model.pareto_rank)
    return SearchCatalog(name, tracking_uri, parent, config, models)


def _search_config(client: MlflowClient, parent_run_id: str) -> SearchSetup:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(parent_run_id, "config.yaml", tmp)
        except Exception as err:
            raise InputError(
                "--search", None, f"the search's run has no readable config.yaml ({type(err).__name__})"
            ) from None
        raw = yaml.safe_load(Path(path).read_text())
    try:
        return SearchSetup(
            ModelConfig(**raw.get("model", {})), PathsConfig(**raw.get("paths", {})), raw.get("corpus", {})
        )
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError("--search", where, f"the search's config no longer validates ({first['msg']})") from None
