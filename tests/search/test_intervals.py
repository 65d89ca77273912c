"""The search's end with intervals: the judged items in one table, the front's paired bootstrap, what the child
runs, the parent run and the printed summary get from it (pure functions, no Ray, no MLflow)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from front.objectives import Objective
from reports.judged_items import judged_items_table, score_matrix
from search.front_table import (
    best_trial,
    compute_front,
    power_limit_savings_of,
    trial_intervals,
    uncertainty_record,
    with_uncertainty,
)
from search.judged_items import BASELINE_ROW, agreement_interval
from search.summary import SearchSummary

OBJECTIVES = (Objective("judge_score", "max"), Objective("energy_wh", "min"))
REFERENCE = {"judge_score": 1.0, "energy_wh": 1.0}
N_ITEMS = 16


def _answers(mean: float, rng, judges=("a", "b")) -> pd.DataFrame:
    scores = np.clip(rng.normal(mean, 0.5, N_ITEMS), 1, 5)
    frame = pd.DataFrame(
        {
            "id": [f"q{i}" for i in range(N_ITEMS)],
            "question": [f"How do I fix problem {i}?" for i in range(N_ITEMS)],
            "reference": [f"Do step {i}." for i in range(N_ITEMS)],
            "answer": [f"Try step {i}." for i in range(N_ITEMS)],
            "judge_score": scores,
        }
    )
    for k, judge in enumerate(judges):
        frame[f"judge_score__{judge}"] = np.clip(scores + (0.2 if k else -0.2) + rng.normal(0, 0.3, N_ITEMS), 1, 5)
    return frame


def _search(seed: int = 1):
    """Four trials and a baseline: t1 clearly best but costly, t2 and t3 close (t2 a little cheaper), t4 cheap and
    poor."""
    rng = np.random.default_rng(seed)
    means = {"t1": 4.4, "t2": 3.5, "t3": 3.6, "t4": 2.2, BASELINE_ROW: 2.0}
    answers = {trial: _answers(mean, rng) for trial, mean in means.items()}
    scenario_of = {f"q{i}": f"s{i // 2}" for i in range(N_ITEMS)}
    items = judged_items_table(answers, scenario_of)
    energy = {"t1": 0.8, "t2": 0.28, "t3": 0.3, "t4": 0.1}
    trials = pd.DataFrame(
        [
            {
                "trial_id": t,
                "status": "COMPLETED",
                "judge_score": float(answers[t]["judge_score"].mean()),
                "energy_wh": e,
                "val_loss": 2.0 + k * 0.1,
                "epoch": 1,
            }
            for k, (t, e) in enumerate(energy.items())
        ]
    )
    front = compute_front(trials, OBJECTIVES, REFERENCE)
    return with_uncertainty(front, items, REFERENCE, seed=0), items


def test_items_table_carries_every_trial_item_and_scenario():
    front, items = _search()
    assert len(items) == 5 * N_ITEMS
    assert set(items["trial_id"]) == {"t1", "t2", "t3", "t4", BASELINE_ROW}
    assert items.groupby("scenario_id")["id"].nunique().eq(2).all()
    scores, scenarios = score_matrix(items, ["t1", "t2"])
    assert list(scores.index) == ["t1", "t2"] and list(scores.columns) == [f"q{i}" for i in range(N_ITEMS)]
    assert scenarios == [f"s{i // 2}" for i in range(N_ITEMS)]


def test_a_missing_item_is_nan_not_zero():
    rng = np.random.default_rng(0)
    short = _answers(3.0, rng).iloc[:10]
    items = judged_items_table({"t1": _answers(3.0, rng), "t2": short})
    scores, _ = score_matrix(items)
    assert scores.loc["t2"].isna().sum() == N_ITEMS - 10 and (scores.loc["t2"].dropna() > 0).all()


def test_every_completed_trial_gets_an_interval_and_a_front_probability():
    front, _ = _search()
    intervals = trial_intervals(front)
    assert set(intervals) == {"t1", "t2", "t3", "t4"}
    for trial, metrics in intervals.items():
        mean = float(front.done.set_index("trial_id").loc[trial, "judge_score"])
        assert metrics["judge_score_ci_low"] < mean < metrics["judge_score_ci_high"]
        assert 0.0 <= metrics["front_probability"] <= 1.0
    # The cheap poor trial and the costly best one are on every replicate's front; the CSV columns carry them.
    assert intervals["t1"]["front_probability"] == 1.0 and intervals["t4"]["front_probability"] == 1.0
    assert {"judge_score_ci_low", "front_probability", "judge_rank_ci_high"} <= set(front.columns)


def test_the_record_names_ties_items_to_resolve_and_best_against_baseline():
    front, _ = _search()
    record = uncertainty_record(front)
    assert record["n_items"] == N_ITEMS and record["n_scenarios"] == N_ITEMS // 2
    best = record["best_vs_baseline"]
    assert best["trial"] == best_trial(front) == "t1" and best["resolved"] and best["difference"][1] > 0
    assert record["metrics"]["best_minus_baseline_judge_score_ci_low"] == best["difference"][1]
    knee = record["knee"]
    assert knee is not None and 0 < knee["stability"] <= 1
    assert "hypervolume_ci_low" in record["metrics"] and "knee_stability" in record["metrics"]
    text = " ".join(record["sentences"])
    assert "not resolved" in text or "No trial is tied" in text
    if knee["items_to_resolve_estimate"] is not None:
        assert "an estimate" in text


def test_a_cheaper_trial_tied_with_the_knee_is_listed_as_an_alternative():
    # t2 scores 0.14 below the knee t3 on 16 items (unresolved) and used less energy: a user may prefer it.
    front, _ = _search()
    knee = uncertainty_record(front)["knee"]
    assert knee["trial"] == "t3"
    (alternative,) = knee["alternatives"]
    assert alternative["trial"] == "t2" and alternative["cheaper"]
    low, high = alternative["difference"][1:]
    assert low < 0 < high
    estimate = knee["items_to_resolve_estimate"]
    assert estimate["rival"] == "t2" and estimate["n_items"] > estimate["n_items_now"] == N_ITEMS


def test_without_judged_items_the_front_is_unchanged():
    front, _ = _search()
    empty = judged_items_table({})
    bare = compute_front(front.trials, OBJECTIVES, REFERENCE)
    assert with_uncertainty(bare, empty, REFERENCE).uncertainty is None
    assert trial_intervals(bare) == {} and uncertainty_record(bare) is None


def test_panel_agreement_has_an_interval_around_it():
    _, items = _search()
    agreement = agreement_interval(items, seed=0, n_replicates=100)
    rho = agreement["panel_agreement_spearman"]
    assert 0 < rho <= 1
    assert agreement["panel_agreement_spearman_ci_low"] <= rho <= agreement["panel_agreement_spearman_ci_high"]
    assert agreement_interval(items.drop(columns=["judge_score__b"])) == {}


def test_summary_line_carries_intervals_and_the_paired_difference():
    front, _ = _search()
    summary = SearchSummary(
        experiment="x", completed=4, failed=0, stopped=0, excluded=0, front_size=2, hypervolume=0.5,
        reference_point=REFERENCE, front_csv="f.csv", total_energy_wh=1.5, energy_source="estimate:cpu",
        best_judge_score=4.4, knee_trial="t2", tracking_uri="sqlite:///m.db", optuna_storage="sqlite:///o.db",
        baseline_judge_score=2.0, best_trial="t1", baseline_judge_score_ci=(1.8, 2.2), best_judge_score_ci=(4.2, 4.6),
        best_minus_baseline=(2.4, 2.1, 2.7), judge_items=16, knee_stability=0.62, knee_alternatives=("t3",),
        warnings=["warning: judge x ranked 3/8 calibration pairs right"],
    )  # fmt: skip
    text = "\n".join(summary.lines())
    assert "2.000 [1.800, 2.200]" in text and "t1: 4.400 [4.200, 4.600]" in text
    assert "best minus baseline +2.400 [+2.100, +2.700], resolved" in text
    assert "62% of bootstrap replicates" in text and "t3" in text
    assert text.endswith("calibration pairs right")
    unresolved = SearchSummary(**{**summary.__dict__, "best_minus_baseline": (0.1, -0.1, 0.3)})
    assert "not resolved" in unresolved.quality_line()


def test_summary_links_the_runs_table_of_the_mlflow_ui():
    # MLflow 3.17's UI opens an experiment on its GenAI page; this address opens the runs (docs/mlflow.md).
    base = dict(
        experiment="x", completed=1, failed=0, stopped=0, excluded=0, front_size=1, hypervolume=0.5,
        reference_point=REFERENCE, front_csv="f.csv", total_energy_wh=1.5, energy_source="estimate:cpu",
        best_judge_score=4.4, knee_trial="t1", optuna_storage="sqlite:///o.db", baseline_judge_score=2.0,
        experiment_id="7",
    )  # fmt: skip
    local = SearchSummary(**base, tracking_uri="sqlite:///m.db").runs_link()
    served = SearchSummary(**base, tracking_uri="http://10.1.2.3:5000/").runs_link()
    assert local == ["  then the runs:  http://127.0.0.1:5000/#/experiments/7/runs?workflowType=machine_learning"]
    assert served == ["  then the runs:  http://10.1.2.3:5000/#/experiments/7/runs?workflowType=machine_learning"]
    assert SearchSummary(**{**base, "experiment_id": None}, tracking_uri="sqlite:///m.db").runs_link() == []


def test_power_limit_savings_only_where_the_limit_was_searched():
    trials = pd.DataFrame(
        [
            {"trial_id": "a", "status": "COMPLETED", "judge_score": 3.0, "energy_wh": 2.0, "train_tokens": 1000,
             "gpu_power_limit_w": None, "rank": 8},
            {"trial_id": "b", "status": "COMPLETED", "judge_score": 3.0, "energy_wh": 1.5, "train_tokens": 1000,
             "gpu_power_limit_w": 200.0, "rank": 8},
        ]
    )  # fmt: skip
    front = compute_front(trials, OBJECTIVES, REFERENCE, ["rank", "gpu_power_limit_w"])
    (saving,) = power_limit_savings_of(front, ["rank", "gpu_power_limit_w"])
    assert saving.trial_id == "b" and saving.saved_wh == pytest.approx(0.5) and saving.reference == "matched"
    assert power_limit_savings_of(front, ["rank"]) == []
    assert not math.isnan(saving.wh_per_1k_tokens)
