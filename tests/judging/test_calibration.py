"""The calibration set: a judge that tells right from wrong passes silently; one that cannot gets a warning."""

from __future__ import annotations

import json
import math

from judging import correctness
from judging.calibration import PASS_ACCURACY, accuracy_by_judge, calibrate, load_items
from judging.panel import Panel


def test_set_has_good_wrong_and_looping_answers_per_question():
    items = load_items()
    groups = {it.group for it in items}
    assert len(groups) >= 4
    for group in groups:
        assert sorted(it.expect for it in items if it.group == group) == ["good", "looping", "wrong"]


def test_accuracy_counts_nan_as_a_wrong_ranking():
    items = load_items()[:3]
    accuracy, pairs = accuracy_by_judge(items, {"a": [4.0, 2.0, 1.0], "b": [4.0, math.nan, 4.5]})
    assert pairs == 2
    assert accuracy == {"a": 1.0, "b": 0.0}


def test_correctness_judge_passes():
    result = calibrate(Panel([correctness.MODEL]))
    assert result.accuracy[correctness.MODEL] >= PASS_ACCURACY
    assert result.warnings == []
    assert result.metrics() == {f"calibration_accuracy__{correctness.MODEL}": result.accuracy[correctness.MODEL]}


def test_a_judge_that_scores_everything_alike_is_warned_about():
    # litellm's mock response stands in for a remote judge that gives every answer the same scores.
    same = json.dumps({"scores": dict.fromkeys(correctness.CRITERIA, 4), "rationale": "fine"})
    panel = Panel(["openai/gpt-4o-mini"], completion_kwargs={"mock_response": same})
    result = calibrate(panel)
    assert result.accuracy["openai/gpt-4o-mini"] == 0.0
    assert len(result.warnings) == 1 and "openai/gpt-4o-mini" in result.warnings[0]
