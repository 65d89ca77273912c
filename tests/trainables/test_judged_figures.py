"""A trial's judged figures: its score interval is the search's scenario bootstrap on its own row, and degenerate
answers show in the degeneration figures."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from front.objectives import Objective
from front.uncertainty import compute_front_uncertainty
from trainables.judged_figures import judge_score_interval, judged_figures, scenario_ids


def _items(scores, scenarios=None, answers=None) -> pd.DataFrame:
    n = len(scores)
    frame = pd.DataFrame(
        {
            "id": [f"q{i}" for i in range(n)],
            "answer": answers or [f"Open Settings, then tap item {i}." for i in range(n)],
            "judge_score": scores,
        }
    )
    if scenarios is not None:
        frame["scenario_id"] = scenarios
    return frame


def test_interval_brackets_the_mean_and_equals_the_paired_search_bootstrap():
    rng = np.random.default_rng(3)
    scores = list(np.clip(rng.normal(3.5, 0.8, 16), 1, 5))
    scenarios = [f"s{i // 2}" for i in range(16)]
    mean, low, high = judge_score_interval(_items(scores, scenarios), seed=7)
    assert low < mean < high and math.isclose(mean, np.mean(scores))
    # The search's end bootstraps every trial on the same replicates; this trial's row gives the same interval.
    other = list(np.clip(rng.normal(3.0, 0.8, 16), 1, 5))
    matrix = pd.DataFrame([scores, other], index=["t1", "t2"])
    metrics = pd.DataFrame({"energy_wh": [1.0, 0.5]}, index=["t1", "t2"])
    objectives = (Objective("judge_score", "max"), Objective("energy_wh", "min"))
    paired = compute_front_uncertainty(matrix, scenarios, metrics, objectives, seed=7).trial("t1").score
    assert np.allclose([paired.low, paired.high], [low, high], rtol=0, atol=1e-12)  # equal but for rounding


def test_scenarios_widen_the_interval_when_items_of_a_scenario_move_together():
    # Pairs of items share a scenario and a score: resampled by scenario, the interval is that of 8 draws, not 16.
    scores = [float(v) for v in np.repeat([1, 2, 3, 4, 5, 2, 4, 3], 2)]
    by_scenario = judge_score_interval(_items(scores, [f"s{i // 2}" for i in range(16)]))
    by_item = judge_score_interval(_items(scores))
    assert by_scenario[2] - by_scenario[1] > by_item[2] - by_item[1]


def test_failed_judgements_are_left_out_and_all_failed_is_nan():
    scores = [4.0, math.nan, 3.0, 5.0]
    mean, low, high = judge_score_interval(_items(scores, ["a", "a", "b", "c"]))
    assert mean == 4.0 and 3.0 <= low <= mean <= high <= 5.0
    assert all(math.isnan(v) for v in judge_score_interval(_items([math.nan] * 3)))


def test_scenario_ids_fall_back_to_the_item():
    assert scenario_ids(_items([1.0, 2.0])) == ["q0", "q1"]
    assert scenario_ids(_items([1.0, 2.0], ["s1", None])) == ["s1", "item:q1"]


def test_a_looping_answer_set_shows_in_the_degeneration_figures():
    loops = ["the most likely cause here is that the most likely cause here is that the most likely"] * 4
    clean = [
        "Open Settings, tap Mobile data and turn on Roaming.",
        "Restart the router and wait two minutes.",
        "Call us on 0800 123 456 to unlock your PIN.",
        "Your bill lists every roaming charge under Extras.",
    ]
    looping = judged_figures(_items([2.0] * 4, ["a", "b", "c", "d"], loops))
    fine = judged_figures(_items([4.0] * 4, ["a", "b", "c", "d"], clean))
    assert looping["answer_repetition"] > 0.5 and fine["answer_repetition"] == 0.0
    assert looping["answer_truncated_share"] == 1.0 and fine["answer_truncated_share"] == 0.0
    assert looping["answer_distinct_2"] < fine["answer_distinct_2"]
    assert set(fine) == {
        "judge_score_ci_low", "judge_score_ci_high", "answer_repetition", "answer_truncated_share", "answer_distinct_2"
    }  # fmt: skip
