"""Data as search dimensions: `corpus.*` axes validate, each variant is built once, trials train on their variant
and are judged on the same items, and the report's data section answers the studies' questions."""

from __future__ import annotations

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from common.errors import InputError
from experiment.config import load_config
from search.space import data_variants, seed_points
from tests.helpers import ROOT, run_search
from trainables.contract import data_choices, trial_settings, variant_key
from trainables.settings import TrialSettings


def _space_config(tmp_path, space: str):
    path = tmp_path / "c.yaml"
    path.write_text(f"search:\n  seed_grid: none\n  space:\n{space}")
    return load_config(config_file=path)


def test_data_axes_validate_as_corpus_choices(tmp_path):
    config = _space_config(
        tmp_path,
        "    corpus.generation: {choices: [naive, grounded]}\n"
        "    corpus.conceptual_share: {choices: [0.0, 1.0]}\n"
        "    corpus.train_size: {choices: [null, 50]}\n",
    )
    assert len(data_variants(config.search.space)) == 8
    for bad, message in (
        ("    corpus.generation: {choices: [naive, rag]}\n", "corpus.generation='rag'"),
        ("    corpus.conceptual_share: {low: 0.0, high: 1.0}\n", "not a range"),
        ("    corpus.conceptual_share: {choices: [0.5, 1.5]}\n", "corpus.conceptual_share=1.5"),
        ("    corpus.train_size: {choices: [0]}\n", "corpus.train_size=0"),
        ("    corpus.backend: {choices: [template]}\n", "unknown hyperparameter 'corpus.backend'"),
    ):
        with pytest.raises(InputError, match=message):
            _space_config(tmp_path, bad)


def test_seed_points_take_the_configured_variant_and_sampled_data_keys_are_not_settings(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "corpus: {generation: grounded}\nsearch:\n  space:\n    corpus.generation: {choices: [naive, grounded]}\n"
    )
    config = load_config(config_file=path)
    assert {p["corpus.generation"] for p in seed_points(config.search, config.training, config.corpus)} == {
        "grounded"
    }
    sampled = {"rank": 32, "corpus.generation": "naive", "corpus.conceptual_share": 0.5}
    assert trial_settings(TrialSettings(), sampled).rank == 32
    choices = data_choices(sampled)
    assert choices == {"corpus.generation": "naive", "corpus.conceptual_share": 0.5}
    assert variant_key(choices) == 'corpus.conceptual_share=0.5,corpus.generation="naive"'
    assert variant_key(dict(reversed(list(choices.items())))) == variant_key(choices)


TINY = [
    "--set", "experiment.name=datadims",
    "--set", "search.num_samples=4",
    "--set", "corpus.max_scenarios=40",
    "--set", "corpus.max_judge_items=6",
]  # fmt: skip


@pytest.fixture(scope="module")
def data_search(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("datadims")
    run_search(workdir, "--config", str(ROOT / "configs" / "data.yaml"), *TINY)
    return workdir


@pytest.mark.e2e
def test_a_search_over_data_variants_end_to_end(data_search):
    workdir = data_search
    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("datadims")
    trials = [
        r for r in client.search_runs([experiment.experiment_id]) if r.data.tags.get("lorapareto.role") == "trial"
    ]
    assert len(trials) == 4
    variants = {r.data.params["data_variant"] for r in trials}
    assert len(variants) >= 2, variants
    for run in trials:
        params = run.data.params
        assert params["corpus.generation"] in {"naive", "grounded"}
        assert params["corpus.conceptual_share"] in {"0.5", "1.0"}

    out = workdir / "reports" / "datadims"
    judged = pd.read_csv(out / "judged_items.csv", dtype={"id": str})
    per_trial = judged[judged["trial_id"] != "baseline"].groupby("trial_id")["id"].apply(frozenset)
    assert len(per_trial) == 4 and per_trial.nunique() == 1 and len(per_trial.iloc[0]) == 6

    front = pd.read_csv(out / "pareto_front.csv")
    assert {"corpus.generation", "corpus.conceptual_share"} <= set(front.columns)
    assert front["corpus.generation"].isin(["naive", "grounded"]).all()

    report = (out / "report.md").read_text()
    section = report.split("## Data choices", 1)[1].split("## Answers side by side", 1)[0]
    assert "| corpus.generation |" in section and "| corpus.conceptual_share |" in section
    assert "naive over grounded:" in section or "corpus.generation: fewer than two values" in section
    assert "conceptual over factual" in section or "corpus.conceptual_share: fewer than two values" in section
    assert "<h2>Data choices</h2>" in (out / "report.html").read_text()
    ranked = report.split("## Every trial, ranked", 1)[1].split("\n## ", 1)[0]
    header = next(line for line in ranked.splitlines() if line.startswith("| trial_id"))
    assert "corpus.generation" in header  # the trials' table shows each trial's data choices
