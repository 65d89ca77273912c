"""Agreement statistics on fixed fixtures, checked against hand values and an independent implementation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from judging.agreement import length_correlation, pair_agreement, panel_agreement
from tests.helpers import FIXTURES

FIXTURE = FIXTURES / "judging" / "two_judges.csv"


def test_identical_and_reversed_raters_by_hand():
    a = np.array([1, 2, 3, 4, 5], dtype=float)
    assert pair_agreement(a, a) == pytest.approx({"spearman": 1.0, "kendall": 1.0, "kappa_quadratic": 1.0})
    # Reversal of a uniform 1-5 rating: observed quadratic disagreement 0.5, expected 0.25 -> kappa -1.
    reversed_ = pair_agreement(a, a[::-1])
    assert reversed_ == pytest.approx({"spearman": -1.0, "kendall": -1.0, "kappa_quadratic": -1.0})


def test_fixture_matches_pandas_rank_correlations():
    scores = pd.read_csv(FIXTURE).set_index("item")
    got = panel_agreement(scores)
    assert got["spearman"] == pytest.approx(scores.corr(method="spearman").iloc[0, 1])
    assert got["kendall"] == pytest.approx(scores.corr(method="kendall").iloc[0, 1])
    assert got["kappa_quadratic"] == pytest.approx(quadratic_kappa_by_formula(scores["judge_a"], scores["judge_b"]))


def quadratic_kappa_by_formula(a: pd.Series, b: pd.Series) -> float:
    """Cohen's quadratic-weighted kappa written out, on scores rounded half-up to 1-5."""
    x = np.floor(a.to_numpy() + 0.5).astype(int) - 1
    y = np.floor(b.to_numpy() + 0.5).astype(int) - 1
    observed = np.zeros((5, 5))
    np.add.at(observed, (x, y), 1)
    observed /= observed.sum()
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0))
    weights = np.subtract.outer(np.arange(5), np.arange(5)) ** 2
    return 1 - (weights * observed).sum() / (weights * expected).sum()


def test_half_points_round_up():
    # 4.5 vs 5 agree after rounding; numpy's half-to-even would have made it 4 vs 5.
    a = np.array([1.0, 2.0, 3.0, 4.5])
    b = np.array([1.0, 2.0, 3.0, 5.0])
    assert pair_agreement(a, b)["kappa_quadratic"] == pytest.approx(1.0)


def test_nan_items_are_dropped_not_zeroed():
    a = pd.Series([1.0, 2.0, 3.0, 4.0, math.nan])
    b = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0])
    assert pair_agreement(a, b)["spearman"] == pytest.approx(1.0)


def test_undefined_cases_are_nan():
    assert all(math.isnan(v) for v in panel_agreement(pd.DataFrame({"only": [1.0, 2.0, 3.0]})).values())
    assert all(math.isnan(v) for v in pair_agreement([3, 3, 3], [1, 2, 3]).values())
    assert all(math.isnan(v) for v in pair_agreement([1, 2], [1, 2]).values())


def test_three_raters_average_the_pairs():
    frame = pd.DataFrame({"a": [1, 2, 3, 4], "b": [1, 2, 3, 4], "c": [4, 3, 2, 1]}, dtype=float)
    # Pairs: (a,b)=1, (a,c)=-1, (b,c)=-1 -> mean -1/3.
    assert panel_agreement(frame)["spearman"] == pytest.approx(-1 / 3)


def test_length_correlation_sees_verbosity_bias():
    answers = ["ok", "a bit longer", "longer still than that", "the longest answer of them all here"]
    assert length_correlation([1.0, 2.0, 3.0, 4.0], answers) == pytest.approx(1.0)
    assert length_correlation([4.0, 3.0, 2.0, 1.0], answers) == pytest.approx(-1.0)
    assert math.isnan(length_correlation([3.0, 3.0, 3.0, 3.0], answers))
