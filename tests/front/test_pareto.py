"""front.pareto and front.objectives: hand-computed cases, then agreement with moocore on random fronts."""

from __future__ import annotations

import math

import moocore
import numpy as np
import pandas as pd
import pytest

from common.errors import InputError
from front.objectives import (
    DEFAULT_OBJECTIVES,
    Objective,
    objectives_from_json,
    objectives_to_json,
    parse_objectives,
    to_minimisation,
)
from front.pareto import crowding_distance, front, hypervolume, hypervolume_curve, knee_point, pareto_ranks

JUDGE_ENERGY = DEFAULT_OBJECTIVES
REFERENCE = {"judge_score": 1.0, "energy_wh": 10.0}


def _trials(rows: list[tuple[float, float]], index: list[str] | None = None) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["judge_score", "energy_wh"], index=index)


def test_objectives_convert_max_to_min_once() -> None:
    df = _trials([(4.0, 2.0), (3.0, 1.0)])
    assert to_minimisation(df, JUDGE_ENERGY).tolist() == [[-4.0, 2.0], [-3.0, 1.0]]


def test_objective_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError, match="mode"):
        Objective("judge_score", "maximise")  # type: ignore[arg-type]


def test_objectives_round_trip_through_the_mlflow_tag() -> None:
    text = objectives_to_json(DEFAULT_OBJECTIVES)
    assert text == '[["judge_score", "max"], ["energy_wh", "min"]]'
    assert objectives_from_json(text) == DEFAULT_OBJECTIVES


@pytest.mark.parametrize(
    "spec", ["judge_score:max", "judge_score:max,energy_wh:up", "judge_score,energy_wh:min", "a:max,a:min"]
)
def test_parse_objectives_rejects_bad_specs_with_one_line(spec: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_objectives(spec)
    assert "\n" not in str(caught.value)
    assert "objectives" in str(caught.value)


def test_parse_objectives_three() -> None:
    parsed = parse_objectives("judge_score:max, energy_wh:min ,val_loss:min")
    assert parsed == (
        Objective("judge_score", "max"),
        Objective("energy_wh", "min"),
        Objective("val_loss", "min"),
    )


def test_ranks_hand_computed() -> None:
    # a and b trade off (front); c is dominated by b only; d by everything.
    df = _trials([(4.0, 3.0), (3.0, 1.0), (2.5, 2.0), (2.0, 5.0)], index=["a", "b", "c", "d"])
    assert pareto_ranks(df, JUDGE_ENERGY).tolist() == [0.0, 0.0, 1.0, 2.0]
    assert list(front(df, JUDGE_ENERGY).index) == ["a", "b"]


def test_ranks_exclude_nan_and_inf_rows() -> None:
    df = _trials([(4.0, 3.0), (float("nan"), 0.1), (5.0, float("inf")), (3.0, 1.0)])
    ranks = pareto_ranks(df, JUDGE_ENERGY)
    assert math.isnan(ranks.iloc[1]) and math.isnan(ranks.iloc[2])
    assert ranks.iloc[[0, 3]].tolist() == [0.0, 0.0]


def test_duplicates_share_a_rank() -> None:
    df = _trials([(4.0, 2.0), (4.0, 2.0), (3.0, 3.0)])
    assert pareto_ranks(df, JUDGE_ENERGY).tolist() == [0.0, 0.0, 1.0]


def test_hypervolume_hand_computed_two_objectives() -> None:
    # In minimisation space the points are (-4, 3) and (-3, 1), reference (-1, 10):
    # union of boxes = 3*7 + 2*7 - 2*7 (overlap) ... computed directly: a covers [-4,-1]x[3,10] = 21,
    # b covers [-3,-1]x[1,10] = 18, overlap [-3,-1]x[3,10] = 14, total 25.
    df = _trials([(4.0, 3.0), (3.0, 1.0)])
    assert hypervolume(df, JUDGE_ENERGY, REFERENCE) == pytest.approx(25.0)


def test_hypervolume_ignores_dominated_duplicate_nan_and_outside_points() -> None:
    base = _trials([(4.0, 3.0), (3.0, 1.0)])
    noisy = _trials(
        [
            (4.0, 3.0),
            (3.0, 1.0),
            (3.0, 1.0),  # duplicate
            (2.0, 5.0),  # dominated
            (float("nan"), 0.01),  # failed judge
            (0.5, 0.01),  # worse than the reference in judge score
            (4.5, 12.0),  # worse than the reference in energy
            (1.0, 0.5),  # equal to the reference in judge score: encloses no volume
        ]
    )
    assert hypervolume(noisy, JUDGE_ENERGY, REFERENCE) == pytest.approx(hypervolume(base, JUDGE_ENERGY, REFERENCE))


def test_hypervolume_of_nothing_inside_is_zero() -> None:
    assert hypervolume(_trials([(0.5, 20.0)]), JUDGE_ENERGY, REFERENCE) == 0.0
    assert hypervolume(_trials([]), JUDGE_ENERGY, REFERENCE) == 0.0


def test_hypervolume_three_objectives_hand_computed() -> None:
    objectives = (
        Objective("judge_score", "max"),
        Objective("energy_wh", "min"),
        Objective("val_loss", "min"),
    )
    df = pd.DataFrame({"judge_score": [3.0, 2.0], "energy_wh": [1.0, 0.5], "val_loss": [2.0, 1.0]})
    reference = {"judge_score": 1.0, "energy_wh": 2.0, "val_loss": 3.0}
    # boxes 2*1*1 = 2 and 1*1.5*2 = 3, overlap 1*1*1 = 1.
    assert hypervolume(df, objectives, reference) == pytest.approx(4.0)


def test_hypervolume_requires_a_reference_for_every_objective() -> None:
    with pytest.raises(KeyError, match="energy_wh"):
        hypervolume(_trials([(4.0, 3.0)]), JUDGE_ENERGY, {"judge_score": 1.0})


def _random_trials(rng: np.random.Generator, n_rows: int, n_objectives: int) -> tuple[pd.DataFrame, tuple]:
    modes = ["max", "min", "min", "max"][:n_objectives]
    objectives = tuple(Objective(f"m{i}_units", mode) for i, mode in enumerate(modes))
    # Rounded values make ties and duplicates likely.
    values = np.round(rng.uniform(0.0, 1.0, size=(n_rows, n_objectives)), 1)
    return pd.DataFrame(values, columns=[o.metric for o in objectives]), objectives


@pytest.mark.parametrize("n_objectives", [2, 3, 4])
def test_hypervolume_and_ranks_agree_with_moocore_on_random_fronts(n_objectives: int) -> None:
    rng = np.random.default_rng(n_objectives)
    for _ in range(25):
        df, objectives = _random_trials(rng, int(rng.integers(1, 40)), n_objectives)
        maximise = [o.mode == "max" for o in objectives]
        reference = {o.metric: (0.15 if o.mode == "max" else 0.85) for o in objectives}
        expected_hv = moocore.hypervolume(
            df.to_numpy(), ref=[reference[o.metric] for o in objectives], maximise=maximise
        )
        assert hypervolume(df, objectives, reference) == pytest.approx(expected_hv, rel=1e-9, abs=1e-12)
        expected_ranks = moocore.pareto_rank(df.to_numpy(), maximise=maximise)
        assert pareto_ranks(df, objectives).astype(int).tolist() == expected_ranks.tolist()


def test_hypervolume_curve_is_monotone_and_accumulates_cost_of_failed_trials() -> None:
    df = pd.DataFrame(
        {
            "judge_score": [3.0, float("nan"), 2.0, 4.0],
            "energy_wh": [2.0, 1.5, 1.0, 3.0],
            "end_time": [1, 2, 3, 4],
        },
        index=["t0", "t1", "t2", "t3"],
    )
    curve = hypervolume_curve(df, JUDGE_ENERGY, REFERENCE, order_by="end_time")
    assert curve["trial"].tolist() == ["t0", "t1", "t2", "t3"]
    assert curve["cumulative_energy_wh"].tolist() == [2.0, 3.5, 4.5, 7.5]
    assert "cumulative_train_seconds" not in curve.columns
    assert (np.diff(curve["hypervolume"]) >= 0).all()
    assert curve["hypervolume"].iloc[0] == pytest.approx(2.0 * 8.0)
    assert curve["hypervolume"].iloc[1] == curve["hypervolume"].iloc[0]  # NaN trial adds no volume
    assert curve["hypervolume"].iloc[-1] == pytest.approx(hypervolume(df, JUDGE_ENERGY, REFERENCE))


def test_hypervolume_curve_ineligible_rows_add_cost_but_no_volume() -> None:
    df = pd.DataFrame({"judge_score": [3.0, 4.5], "energy_wh": [1.0, 0.5]}, index=["ok", "failed"])
    eligible = pd.Series([True, False], index=df.index)
    curve = hypervolume_curve(df, JUDGE_ENERGY, REFERENCE, eligible=eligible)
    assert curve["hypervolume"].tolist() == [pytest.approx(2.0 * 9.0)] * 2
    assert curve["cumulative_energy_wh"].tolist() == [1.0, 1.5]


def test_hypervolume_curve_order_by_column() -> None:
    df = pd.DataFrame({"judge_score": [3.0, 4.0], "energy_wh": [1.0, 2.0], "end_time": [9, 1]})
    curve = hypervolume_curve(df, JUDGE_ENERGY, REFERENCE, order_by="end_time")
    assert curve["trial"].tolist() == [1, 0]
    assert curve["hypervolume"].iloc[0] == pytest.approx(3.0 * 8.0)


def test_knee_point_is_the_balanced_front_member() -> None:
    # Normalised front: extremes at (0,1)/(1,0); "mid" at (0.25,0.25) is closest to the ideal origin.
    df = _trials(
        [(5.0, 10.0), (4.0, 3.0), (1.0, 1.0), (2.0, 9.0)],
        index=["best_score", "mid", "cheapest", "dominated"],
    )
    assert knee_point(df, JUDGE_ENERGY) == "mid"


def test_knee_point_of_empty_and_single_fronts() -> None:
    assert knee_point(_trials([(float("nan"), 1.0)]), JUDGE_ENERGY) is None
    assert knee_point(_trials([(3.0, 1.0), (2.0, 2.0)], index=["x", "y"]), JUDGE_ENERGY) == "x"


def test_crowding_distance_hand_computed() -> None:
    df = _trials([(5.0, 4.0), (4.0, 2.0), (2.0, 1.0), (1.0, 0.0)], index=list("abcd"))
    distances = crowding_distance(df, JUDGE_ENERGY)
    assert math.isinf(distances["a"]) and math.isinf(distances["d"])
    # b: judge neighbours 5 and 2 over span 4 = 0.75; energy neighbours 4 and 1 over span 4 = 0.75.
    assert distances["b"] == pytest.approx(1.5)
    # c: judge 4 and 1 -> 0.75; energy 2 and 0 -> 0.5.
    assert distances["c"] == pytest.approx(1.25)


def test_crowding_distance_small_fronts_and_nan() -> None:
    distances = crowding_distance(_trials([(5.0, 4.0), (float("nan"), 1.0), (1.0, 0.0)]), JUDGE_ENERGY)
    assert math.isinf(distances.iloc[0]) and math.isnan(distances.iloc[1]) and math.isinf(distances.iloc[2])


def test_interactive_pareto_page_marks_the_front_and_shows_configs_on_hover():
    from reports.interactive import pareto_html

    df = pd.DataFrame(
        {
            "judge_score": [3.0, 2.0, 1.5],
            "energy_wh": [2.0, 1.0, 3.0],
            "rank": [16, 32, 8],
            "target_modules": ["qv"] * 3,
        }
    )
    front = pareto_ranks(df, DEFAULT_OBJECTIVES) == 0
    page = pareto_html(df, "energy_wh", "judge_score", front, ["rank", "target_modules"], "t", "energy_wh")
    assert page.count("<circle") == 3
    assert page.count('fill="#d62728"') == int(front.sum()) == 2
    assert "<title>rank: 16\ntarget_modules: qv</title>" in page
    assert "<script" not in page and "http://www.w3.org/2000/svg" in page
