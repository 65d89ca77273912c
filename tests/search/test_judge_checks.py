"""The judges checked on every search: calibration on known answers printed at the start, logged on the parent run
with the panel's agreement (a real SQLite MLflow store, the real offline judge)."""

from __future__ import annotations

import math

from mlflow.tracking import MlflowClient

from judging.calibration import CalibrationResult
from judging.panel import Panel
from search.judge_checks import calibrate_panel, record_judge_checks


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
