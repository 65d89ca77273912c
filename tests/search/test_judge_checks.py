"""The judges checked on every search: calibration on known answers printed at the start, logged on the parent run
with the panel's agreement (a real SQLite MLflow store, the real offline judge)."""

from __future__ import annotations

import json
import math

import litellm
from mlflow.tracking import MlflowClient

from judging.calibration import CalibrationResult, load_items
from judging.panel import Panel
from judging.settings import JudgingConfig
from search.judge_checks import calibrate_panel, record_judge_checks

SAME_SCORE = json.dumps({"scores": dict.fromkeys(("relevance", "grammar", "structure", "style"), 3), "rationale": "-"})


def test_calibration_runs_every_judge_and_prints_each_warning(tmp_path, capsys):
    panel = Panel(["local/reference-judge"], cache_dir=tmp_path / "judge")
    result = calibrate_panel(panel)
    assert set(result.accuracy) == {"local/reference-judge"} and result.pairs > 0
    assert 0.0 <= result.accuracy["local/reference-judge"] <= 1.0
    printed = [line for line in capsys.readouterr().out.splitlines() if line]
    assert printed == result.warnings  # one line per failing judge, none for a passing one


def test_accuracy_agreement_and_warnings_reach_the_parent_run(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("checks", artifact_location=str(tmp_path / "artifacts"))
    run = client.create_run(experiment).info.run_id
    warning = "warning: judge gpt-x ranked 2/8 calibration pairs right (25% < 75%): ..."
    calibration = CalibrationResult(accuracy={"gpt-x": 0.25, "local/reference-judge": 1.0}, pairs=8, warnings=[warning])
    agreement = {"panel_agreement_spearman": 0.7, "panel_agreement_spearman_ci_low": 0.5,
                 "panel_agreement_spearman_ci_high": 0.85, "panel_agreement_kendall": math.nan}  # fmt: skip
    record_judge_checks(client, run, calibration, agreement)
    logged = client.get_run(run).data
    assert logged.metrics["calibration_accuracy__gpt-x"] == 0.25
    assert logged.metrics["calibration_accuracy__local/reference-judge"] == 1.0
    assert logged.metrics["panel_agreement_spearman_ci_low"] == 0.5
    assert "panel_agreement_kendall" not in logged.metrics  # NaN is not measured, never a number
    assert logged.tags["calibration_warnings"] == warning


def test_the_full_panel_on_standby_is_calibrated_too_and_every_call_is_counted(tmp_path, monkeypatch):
    """Under multi-fidelity judging the full panel decides the front at the end: its remote judge (litellm's mock
    response standing in for the provider) runs the known answers at the start as well, and its calls are counted."""
    calls = []
    real = litellm.completion

    def remote(**kwargs):
        if kwargs["model"] != "gpt-4o-mini":  # the offline judge answers as itself
            return real(**kwargs)
        calls.append(kwargs["model"])
        return real(**{**kwargs, "mock_response": SAME_SCORE})

    monkeypatch.setattr(litellm, "completion", remote)
    cfg = JudgingConfig(panel=["gpt-4o-mini"], full_panel_policy="front")
    result = calibrate_panel(Panel.from_config(cfg, cache_dir=tmp_path / "judge"))
    items = len(load_items())
    assert set(result.accuracy) == {"local/correctness-judge", "gpt-4o-mini"}
    assert calls == ["gpt-4o-mini"] * items
    # A judge that gives every answer the same score ranks no pair right: warned about, by name.
    assert result.accuracy["gpt-4o-mini"] == 0 and any("gpt-4o-mini" in w for w in result.warnings)
    # Every call of both tiers: the offline judge's calls cost nothing, the remote one's are priced.
    assert result.usage["calls"] >= items and result.usage["cost_usd"] > 0
    again = calibrate_panel(Panel.from_config(cfg, cache_dir=tmp_path / "judge"))
    assert len(calls) == items and again.usage["calls"] == 0 and again.usage["cost_usd"] == 0  # from the cache
