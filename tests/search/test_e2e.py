"""One small real search: Ray Tune + OptunaSearch + the tiny model + the offline judge + MLflow (SQLite)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import run_search

SMALL = [
    "--set",
    "experiment.name=e2e",
    "--set",
    "search.num_samples=4",
    "--set",
    "search.seed_grid=none",
    "--set",
    "search.space.epochs.choices=[1, 2]",
    "--set",
    "corpus.max_scenarios=60",
    "--set",
    "corpus.max_judge_items=12",
]


@pytest.fixture(scope="module")
def search_dir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("search")
    proc = run_search(workdir, "--preset", "tiny", *SMALL)
    return workdir, proc.stdout + proc.stderr


@pytest.mark.e2e
def test_search_records_parent_children_front_and_adapters(search_dir):
    workdir, output = search_dir
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    assert uri in output and "mlflow ui --backend-store-uri" in output
    assert "pareto_front.csv" in output
    # Neither Tune's per-checkpoint line nor its snapshot warning (deliberate snapshots, see search.run) reach
    # the console.
    assert "Checkpoint successfully created" not in output and "may become a bottleneck" not in output
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("e2e")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("lorapareto.role") == "search"]
    children = [r for r in runs if r.data.tags.get("lorapareto.role") == "trial"]
    assert len(parents) == 1 and len(children) == 4
    parent = parents[0]
    assert all(c.data.tags["mlflow.parentRunId"] == parent.info.run_id for c in children)
    assert parent.data.params["reference_point.judge_score"] == "1.0"
    assert parent.data.metrics["hypervolume"] > 0
    assert "baseline_judge_score" in parent.data.metrics
    for child in children:
        assert child.info.status == "FINISHED"
        metrics = child.data.metrics
        for name in (
            "train_loss",
            "val_loss",
            "perplexity",
            "judge_score",
            "energy_wh",
            "energy_eval_wh",
            "train_seconds",
            "tokens_per_second",
            "trainable_params",
            "peak_memory_mb",
            "epoch",
        ):
            assert name in metrics, name
        assert 1.0 <= metrics["judge_score"] <= 5.0
        assert metrics["energy_wh"] > 0
        assert child.data.tags["energy_source"].startswith("estimate:")
        assert child.data.tags["pareto_rank"] != "" and int(child.data.tags["pareto_rank"]) >= 0
        assert {"rank", "alpha", "target_modules", "learning_rate", "epochs"} <= set(child.data.params)
    front = pd.read_csv(workdir / "reports" / "e2e" / "pareto_front.csv")
    assert len(front) >= 1 and (front["pareto_rank"] == 0).all()
    assert set(front["mlflow_run_id"]) <= {c.info.run_id for c in children}
    assert front["energy_source"].str.startswith("estimate:").all()
    page = (workdir / "reports" / "e2e" / "pareto.html").read_text()
    assert page.count("<circle") == 4 and "<script" not in page and "energy_wh (estimate)" in page
    assert {a.path for a in client.list_artifacts(parent.info.run_id, "pareto")} >= {
        "pareto/pareto.html", "pareto/pareto_front.csv"}
    assert (workdir / "reports" / "e2e" / "report.html").is_file()
    timings = json.loads((workdir / "reports" / "e2e" / "timings.json").read_text())
    assert set(timings) >= {"setup_seconds", "trials_seconds", "recording_seconds", "driver_cpu_seconds"}
    assert all(v > 0 for v in timings.values()) and f"trials {timings['trials_seconds']:.1f} s" in output
    # judge scores differ across trials: the judge discriminates between configurations
    assert len({round(c.data.metrics["judge_score"], 6) for c in children}) > 1


@pytest.mark.e2e
def test_judging_tier_and_cost_per_trial_and_per_search(search_dir):
    """Issue 23 item 3 on the same search (`judging.full_panel_policy: all`): every trial's tier is `full`, its
    judge calls and cost are in the tables and on its run, their totals on the parent run and in the output."""
    workdir, output = search_dir
    trials = pd.read_csv(workdir / "reports" / "e2e" / "trials.csv")
    assert set(trials["judge_tier"]) == {"full"}
    assert (trials["judge_cost_usd"] == 0).all()  # the offline judge: no price
    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("e2e").experiment_id])
    parent = next(r for r in runs if r.data.tags.get("lorapareto.role") == "search")
    children = [r for r in runs if r.data.tags.get("lorapareto.role") == "trial"]
    assert {c.data.tags["judge_tier"] for c in children} == {"full"}
    assert sum(c.data.metrics["judge_calls"] for c in children) == parent.data.metrics["judge_calls"] > 0
    assert parent.data.metrics["judge_cost_usd"] == 0 and parent.data.metrics["full_panel_trials"] == 0
    assert "Judging: " in output and "(every trial judged by the full panel)" in output


@pytest.mark.e2e
def test_judged_figures_carry_intervals_degeneration_and_answers(search_dir):
    """Issue 23 items 1 and 4, issue 18 items 3 and 4, on the same search: intervals on every judged figure, the
    judges calibrated at the start, degeneration per trial, and a report that shows answers, not only numbers."""
    workdir, output = search_dir
    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("e2e").experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("lorapareto.role") == "search"]
    children = [r for r in runs if r.data.tags.get("lorapareto.role") == "trial"]
    for child in children:
        m = child.data.metrics
        assert m["judge_score_ci_low"] <= m["judge_score"] <= m["judge_score_ci_high"]
        assert 0.0 <= m["front_probability"] <= 1.0 and m["judge_rank_ci_low"] <= m["judge_rank_ci_high"]
        assert 0.0 <= m["answer_repetition"] <= 1.0 and 0.0 <= m["answer_truncated_share"] <= 1.0
        assert 0.0 < m["answer_distinct_2"] <= 1.0 and m["train_tokens"] > 0
    on_front = [c for c in children if c.data.tags["pareto_rank"] == "0"]
    assert on_front and max(c.data.metrics["front_probability"] for c in on_front) > 0.5
    p = parent.data.metrics
    assert 0.0 < p["knee_stability"] <= 1.0
    assert 0.0 < p["hypervolume_ci_low"] <= p["hypervolume_ci_high"]  # a percentile interval of a maximum
    assert p["baseline_judge_score_ci_low"] <= p["baseline_judge_score"] <= p["baseline_judge_score_ci_high"]
    assert p["best_minus_baseline_judge_score_ci_low"] <= p["best_minus_baseline_judge_score"]
    # The tiny random model's untuned answers are empty: no 3-gram to count (NaN, not logged), all "truncated".
    assert 0.0 <= p["baseline_answer_truncated_share"] <= 1.0
    calibration = [v for k, v in p.items() if k.startswith("calibration_accuracy__")]  # one per configured judge
    assert len(calibration) == 1 and 0.0 <= calibration[0] <= 1.0
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "uncertainty")}
    assert "uncertainty/uncertainty.json" in artifacts
    # The printed summary: baseline and best with intervals, and their paired difference.
    assert "best minus baseline" in output and "paired bootstrap over 12 judge items by scenario" in output
    items = pd.read_csv(workdir / "reports" / "e2e" / "judged_items.csv")
    assert items["scenario_id"].notna().all() and items.groupby("trial_id").size().eq(12).all()
    assert set(items["trial_id"]) == {c.data.tags["trial_id"] for c in children} | {"baseline"}
    report = workdir / "reports" / "e2e"
    for page in ((report / "report.html").read_text(), (report / "report.md").read_text()):
        assert "Error bars on the judge score are 95% intervals" in page
        assert "Share of replicates in which each trial is on the front" in page
        assert "Trials tied with the knee" in page and "front_probability" in page and "answer_repetition" in page
        assert "Answers side by side" in page and "untuned base model (score " in page and "knee (" in page
    assert (report / "report.html").read_text().count('<table class="answers">') == 3


@pytest.mark.e2e
def test_every_child_adapter_loads_onto_the_base_model(search_dir):
    import torch
    from peft import PeftModel

    from trainables.base_model import load_base_model

    workdir, _ = search_dir
    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("e2e")
    children = client.search_runs(
        [experiment.experiment_id], filter_string="tags.`lorapareto.role` = 'trial'"
    )
    base_dirs = list((workdir / ".cache" / "lorapareto" / "models").glob("tiny-qwen2-*"))
    assert len(base_dirs) == 1
    for child in children:
        local = client.download_artifacts(
            child.info.run_id, "adapter", str(workdir / "dl" / child.info.run_id)
        )
        model = PeftModel.from_pretrained(load_base_model(base_dirs[0], "bf16", torch.device("cpu")), local)
        assert model.peft_config["default"].r == int(child.data.params["rank"])
