"""The report's judging sections from a search recorded in a real SQLite MLflow store: intervals as error bars and
in words, the knee's tied trials, front probabilities, degeneration beside the baseline's, three questions answered
side by side (escaped as text), calibration and agreement; and the same report without MLflow."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer
from mlflow.tracking import MlflowClient

from front.objectives import objectives_to_json
from reports.analysis import analyse
from reports.build import build_report
from reports.judged import side_by_side
from reports.mlflow_source import load_study
from reports.plots import pareto_figure
from reports.render import _markdown_text
from reports.study import BASELINE
from search.front_table import trial_intervals, uncertainty_record
from tests.search.test_intervals import OBJECTIVES, _search

EXPERIMENT = "judged-report"
INJECTED = "<script>alert('x')</script> **loud** | pipe"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """The four-trial search of tests/search/test_intervals.py, logged the way search/recording.py logs it."""
    front, items = _search()
    items.loc[(items["trial_id"] == "baseline") & (items["id"] == "q0"), "answer"] = INJECTED
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root}/mlflow.db"
    client = MlflowClient(uri)
    experiment_id = client.create_experiment(EXPERIMENT, artifact_location=str(root / "artifacts"))
    tags = {"lorapareto.role": "search", "objectives": objectives_to_json(OBJECTIVES), "energy_source": "estimate:x"}
    parent = client.create_run(experiment_id, tags=tags).info.run_id
    record = uncertainty_record(front)
    baseline = items[items["trial_id"] == "baseline"].drop(columns="trial_id")
    metrics = {
        "baseline_judge_score": baseline["judge_score"].mean(), "baseline_judge_score_ci_low": 1.8,
        "baseline_judge_score_ci_high": 2.3, "baseline_answer_repetition": 0.0, "baseline_answer_truncated_share": 0.25,
        "baseline_answer_distinct_2": 0.9, "calibration_accuracy__local/correctness-judge": 0.875,
        "panel_agreement_spearman": 0.8, "panel_agreement_spearman_ci_low": 0.7,
        "panel_agreement_spearman_ci_high": 0.9,
        **{k: v for k, v in record["metrics"].items() if math.isfinite(v)},
    }  # fmt: skip
    for key, value in metrics.items():
        client.log_metric(parent, key, value)
    client.log_param(parent, "reference_point.judge_score", 1.0)
    client.log_param(parent, "reference_point.energy_wh", 1.0)
    client.log_text(parent, json.dumps(record, default=str), "uncertainty/uncertainty.json")
    client.log_table(parent, data=baseline, artifact_file="baseline/judge_answers.json")
    intervals = trial_intervals(front)
    for _, row in front.done.iterrows():
        trial = row["trial_id"]
        run = client.create_run(
            experiment_id,
            tags={"mlflow.parentRunId": parent, "lorapareto.role": "trial", "trial_id": trial, "origin": "sampler",
                  "energy_source": "estimate:x"},
        ).info.run_id  # fmt: skip
        values = {"judge_score": row["judge_score"], "energy_wh": row["energy_wh"], "val_loss": row["val_loss"],
                  "answer_repetition": 0.4 if trial == "t4" else 0.0, "answer_truncated_share": 0.1,
                  "answer_distinct_2": 0.8, **intervals[trial]}  # fmt: skip
        for key, value in values.items():
            client.log_metric(run, key, float(value))
        answers = items[items["trial_id"] == trial].drop(columns="trial_id")
        client.log_table(run, data=answers, artifact_file="judge_answers.json")
        client.set_terminated(run, "FINISHED")
    client.set_terminated(parent, "FINISHED")
    return uri, record, root


@pytest.fixture(scope="module")
def report(recorded, tmp_path_factory) -> Path:
    uri, _, _ = recorded
    return build_report(EXPERIMENT, uri, tmp_path_factory.mktemp("reports"))


def test_pareto_plot_has_judge_score_error_bars(recorded):
    uri, _, _ = recorded
    study = load_study(EXPERIMENT, uri)
    figure = pareto_figure(study, analyse(study))
    bars = [c for c in figure.axes[0].containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 1 and bars[0].has_yerr and not bars[0].has_xerr
    (segments,) = bars[0].lines[2]
    assert len(segments.get_segments()) == 4  # one bar per completed trial


def test_report_states_resolved_differences_ties_probabilities_and_the_estimate(report, recorded):
    _, record, _ = recorded
    for page in (report.read_text(), (report.parent / "report.md").read_text()):
        assert "is resolved" in page and "not resolved" in page
        assert "Share of replicates in which each trial is on the front" in page
        assert "Trials tied with the knee" in page and "t2" in page
        assert f"Estimate: about {record['knee']['items_to_resolve_estimate']['n_items']:.0f} judge items" in page
        assert "front_probability" in page and "answer_repetition" in page and "untuned base model" in page
        best = record["best_vs_baseline"]["difference"]
        assert f"{best[0]:.3g} [{best[1]:.3g}, {best[2]:.3g}], resolved" in page
        assert "calibration accuracy of local/correctness-judge" in page and "0.8 [0.7, 0.9]" in page
        assert "Spearman" in page and "lowest-loss trial's judge rank lies between" in page
    html = report.read_text()
    assert 'id="knee-alternatives"' in html and "<td>yes</td>" in html  # t2 is cheaper than the knee t3


def test_three_questions_side_by_side_with_scores_escaped_as_text(report):
    html = report.read_text()
    markdown = (report.parent / "report.md").read_text()
    assert html.count('<table class="answers">') == 3
    for label in ("untuned base model", "knee (t3)", "best judge score (t1)"):
        assert f"{label} (score " in html and f"{label} (score " in markdown
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    assert "<script>" not in markdown and "&lt;script&gt;" in markdown and "\\*\\*loud\\*\\* \\| pipe" in markdown
    assert "How do I fix problem 0?" in html and "How do I fix problem 3?" not in html
    assert "Do step 0." in html and "(score " in markdown


def test_side_by_side_merges_a_knee_that_is_also_the_best_and_skips_missing_models():
    table = pd.DataFrame({"id": ["a", "b"], "question": ["Q1", "Q2"], "reference": ["R1", "R2"],
                          "answer": ["A1", "A2"], "judge_score": [4.0, math.nan]})  # fmt: skip
    rows = side_by_side({"t1": table}, [("base", "baseline"), ("knee", "t1"), ("best", "t1")], n_items=3)
    assert len(rows) == 2 and [a.label for a in rows[0].answers] == ["knee and best"]
    assert rows[0].answers[0].score == 4.0 and math.isnan(rows[1].answers[0].score)
    assert side_by_side({}, [("base", "baseline")]) == []


def test_markdown_text_cannot_inject_markup():
    assert _markdown_text("[x](http://e) `c` _u_\nnext") == "\\[x\\](http://e) \\`c\\` \\_u\\_ next"


def test_answers_shown_with_the_full_panels_scores_where_it_rejudged(tmp_path):
    """Under multi-fidelity judging the full panel's per-item table sits beside the cheap one (search/rejudge.py):
    the report reads it for that model, and the cheap table for a model the full panel did not judge."""
    from common.mlflow_names import BASELINE_ANSWERS_FULL, JUDGE_ANSWERS_FULL
    from reports.mlflow_source import RunAnswers

    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment_id = client.create_experiment("tiers", artifact_location=str(tmp_path / "artifacts"))
    parent, judged, cheap_only = (client.create_run(experiment_id).info.run_id for _ in range(3))
    table = pd.DataFrame({"id": ["a"], "question": ["Q"], "reference": ["R"], "answer": ["A"], "judge_score": [4.5]})
    client.log_table(parent, data=table, artifact_file="baseline/judge_answers.json")
    client.log_table(parent, data=table.assign(judge_score=2.0), artifact_file=BASELINE_ANSWERS_FULL)
    for run in (judged, cheap_only):
        client.log_table(run, data=table, artifact_file="judge_answers.json")
    client.log_table(judged, data=table.assign(judge_score=1.5), artifact_file=JUDGE_ANSWERS_FULL)
    answers = RunAnswers(client, parent, {"t1": judged, "t2": cheap_only})
    assert answers[BASELINE]["judge_score"].tolist() == [2.0]
    assert answers["t1"]["judge_score"].tolist() == [1.5] and answers["t2"]["judge_score"].tolist() == [4.5]
