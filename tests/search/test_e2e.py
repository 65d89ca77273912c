"""One small real search: Ray Tune + OptunaSearch + the tiny model + the offline judge + MLflow (SQLite)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import ROOT

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
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.run(
        [sys.executable, "-m", "search.run", "--preset", "tiny", *SMALL],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
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
