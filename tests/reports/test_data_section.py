"""The data section's grouping maths: group means and paired differences over the scenario bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from front.uncertainty import Interval, cluster_bootstrap_counts
from reports.data_section import data_context, data_section, group_replicates, verdict


def _answers(scores: dict[str, list[float]], scenarios: list[str]) -> dict[str, pd.DataFrame]:
    return {
        trial: pd.DataFrame(
            {"id": [f"q{i}" for i in range(len(row))], "scenario_id": scenarios, "judge_score": row}
        )
        for trial, row in scores.items()
    }


def test_group_replicates_match_a_direct_loop_over_the_draws():
    rng = np.random.default_rng(3)
    scenarios = [f"s{i // 2}" for i in range(10)]
    values = rng.uniform(1, 5, size=(4, 10))
    values[1, 3] = np.nan  # a judge failure: left out of that trial's mean, never counted as 0
    scores = pd.DataFrame(values, index=["a", "b", "c", "d"])
    groups = {"x": ["a", "b"], "y": ["c", "d"]}
    estimates, replicates = group_replicates(scores, scenarios, groups, n_replicates=50, seed=7)
    counts = cluster_bootstrap_counts(scenarios, 50, 7)
    for r in range(50):
        for name, members in groups.items():
            means = []
            for trial in members:
                row = scores.loc[trial].to_numpy()
                ok = ~np.isnan(row)
                means.append((counts[r][ok] * row[ok]).sum() / counts[r][ok].sum())
            assert replicates[name][r] == pytest.approx(np.mean(means))
    assert estimates["x"] == pytest.approx(np.mean([np.nanmean(values[0]), np.nanmean(values[1])]))


def test_a_clear_gap_holds_a_reversed_one_does_not_and_noise_is_not_resolved():
    scenarios = [f"s{i}" for i in range(8)]
    trials = pd.DataFrame(
        {"corpus.generation": ["naive", "naive", "grounded", "grounded"], "energy_wh": [1.0, 2.0, 3.0, 5.0]},
        index=["t1", "t2", "t3", "t4"],
    )
    clear = _answers({"t1": [4.0] * 8, "t2": [5.0] * 8, "t3": [2.0] * 8, "t4": [3.0] * 8}, scenarios)
    section = data_section(trials, clear, n_replicates=200)
    (finding,) = section.findings
    assert finding.difference.estimate == pytest.approx(2.0)
    assert finding.verdict == "holds" and "naive over grounded: holds" in finding.sentence
    naive = next(g for g in section.groups if g.value == "naive")
    assert naive.judge_score.estimate == pytest.approx(4.5) and naive.energy_wh_mean == pytest.approx(1.5)
    assert (naive.energy_wh_min, naive.energy_wh_max) == (1.0, 2.0)

    reversed_ = _answers({"t1": [2.0] * 8, "t2": [2.0] * 8, "t3": [4.0] * 8, "t4": [4.0] * 8}, scenarios)
    assert data_section(trials, reversed_, n_replicates=200).findings[0].verdict == "does not hold"

    noisy_rows = [1.0, 5.0, 1.0, 5.0, 1.0, 5.0, 1.0, 5.0]
    noise = _answers({"t1": noisy_rows, "t2": noisy_rows[::-1], "t3": noisy_rows, "t4": noisy_rows[::-1]}, scenarios)
    assert data_section(trials, noise, n_replicates=200).findings[0].verdict == "not resolved"


def test_conceptual_share_compares_the_most_conceptual_with_the_least():
    scenarios = ["s0", "s0", "s1", "s1", "s2", "s2"]
    trials = pd.DataFrame(
        {"corpus.conceptual_share": ["0.0", "0.5", "1.0", "1.0"], "energy_wh": [1.0, 1.0, 1.0, 1.0]},
        index=["t1", "t2", "t3", "t4"],
    )
    answers = _answers({"t1": [2.0] * 6, "t2": [3.0] * 6, "t3": [3.0] * 6, "t4": [4.0] * 6}, scenarios)
    (finding,) = data_section(trials, answers, n_replicates=100).findings
    assert (finding.first, finding.second) == ("1.0", "0.0")
    assert finding.difference.estimate == pytest.approx(1.5)
    assert finding.sentence.startswith("conceptual over factual (conceptual share 1.0 minus 0.0): holds")


def test_no_data_axis_no_section_and_one_value_is_a_note():
    answers = _answers({"t1": [3.0, 4.0]}, ["s0", "s1"])
    assert data_section(pd.DataFrame({"rank": [8]}, index=["t1"]), answers) is None
    one = data_context(pd.DataFrame({"corpus.generation": ["grounded"], "energy_wh": [1.0]}, index=["t1"]), answers)
    assert one["findings"] == [] and "fewer than two values" in one["notes"][0]
    assert one["groups"][0]["judge_score"].startswith("3.500 [")


def test_verdict_reads_the_interval():
    assert verdict(Interval(0.3, 0.1, 0.5)) == "holds"
    assert verdict(Interval(-0.3, -0.5, -0.1)) == "does not hold"
    assert verdict(Interval(0.1, -0.1, 0.3)) == "not resolved"
    assert verdict(Interval(math.nan, math.nan, math.nan)) == "not resolved"


def test_one_judge_scenario_resolves_nothing():
    trials = pd.DataFrame({"corpus.generation": ["naive", "grounded"], "energy_wh": [1.0, 1.0]}, index=["t1", "t2"])
    answers = _answers({"t1": [5.0, 5.0], "t2": [1.0, 1.0]}, ["s0", "s0"])
    section = data_section(trials, answers, n_replicates=50)
    assert section.findings[0].verdict == "not resolved" and math.isnan(section.findings[0].difference.low)
    assert "one scenario" in section.notes[0]
