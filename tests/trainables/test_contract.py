"""The trial contract: metrics flatten into one report, the Ray edge stays light, the recipe knows neither Tune
nor MLflow."""

from __future__ import annotations

import ast
import math
import subprocess
import sys

from tests.helpers import ROOT
from trainables.contract import TrialMetrics, trial_params, trial_settings
from trainables.settings import TrialSettings


def _metrics(**extra) -> TrialMetrics:
    base = dict(
        epoch=1, train_loss=2.0, val_loss=2.5, perplexity=math.exp(2.5), energy_wh=0.01, energy_eval_wh=0.002,
        train_seconds=3.0, tokens_per_second=100.0, trainable_params=1234, peak_memory_mb=50.0, is_final=False,
    )  # fmt: skip
    return TrialMetrics(**{**base, **extra})


def test_report_is_flat_and_leaves_out_what_was_not_measured():
    report = _metrics().as_report()
    assert report["energy_wh"] == 0.01 and report["is_final"] is False
    assert math.isnan(report["judge_score"])  # not judged yet: NaN, never 0
    assert "probe_judge_score" not in report and "judge" not in report


def test_judge_figures_sit_beside_the_rest():
    report = _metrics(is_final=True, judge_score=3.9, probe_judge_score=3.5, judge={"judge_relevance": 4.1}).as_report()
    assert report["judge_score"] == 3.9 and report["probe_judge_score"] == 3.5 and report["judge_relevance"] == 4.1
    assert set(report) >= {f for f in TrialMetrics.__dataclass_fields__ if f != "judge"} - {"probe_judge_score"}


def test_sampled_values_override_defaults_and_params_name_the_modules():
    settings = trial_settings(TrialSettings(rank=8), {"rank": 32, "target_modules": "qkvo"})
    assert settings.rank == 32 and settings.alpha == 64
    params = trial_params(settings)
    assert params["target_modules"] == "qkvo" and params["alpha"] == 64 and "max_new_tokens" not in params


def test_ray_edge_imports_no_torch():
    code = "import sys, trainables.trainable; print('torch' in sys.modules, 'transformers' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["False", "False"]


def test_recipe_imports_neither_ray_nor_mlflow():
    tree = ast.parse((ROOT / "trainables" / "recipe.py").read_text())
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not imported & {"ray", "mlflow"}
