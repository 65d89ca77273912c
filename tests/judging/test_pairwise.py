"""Pairwise mode: both orders asked, only order-consistent preferences counted."""

from __future__ import annotations

import json
import math
import threading

import litellm
import pytest

from judging import offline
from judging.pairwise import compare, outcome
from judging.panel import JudgeItem, Panel
from tests.helpers import FIXTURES

FIXTURE = FIXTURES / "judging" / "telecom_items.jsonl"
ROWS = [json.loads(line) for line in FIXTURE.read_text().splitlines()[:6]]


def items(kind: str) -> list[JudgeItem]:
    return [JudgeItem(r["id"], r["question"], r["reference"], r[kind]) for r in ROWS]


@pytest.mark.parametrize(
    ("first", "swapped", "expected"),
    [("A", "B", "win"), ("B", "A", "loss"), ("tie", "tie", "tie"), ("A", "A", "inconsistent"),
     ("B", "tie", "inconsistent"), (None, "A", "failed")],
)  # fmt: skip
def test_outcome_table(first, swapped, expected):
    assert outcome(first, swapped) == expected


def test_offline_judge_prefers_the_correct_answer_in_both_orders():
    result = compare(Panel([offline.MODEL]), items("correct"), [r["garbled"] for r in ROWS])
    assert result.counts["win"] == len(ROWS) and result.win_rate == 1.0 and result.consistency == 1.0
    reverse = compare(Panel([offline.MODEL]), items("unrelated"), [r["correct"] for r in ROWS])
    assert reverse.win_rate == 0.0
    assert result.usage["calls"] == 2 * len(ROWS)


def test_position_biased_judge_counts_nothing(monkeypatch):
    """A judge that always says "A" (a remote provider stand-in) is inconsistent on every pair."""
    real = litellm.completion
    lock = threading.Lock()
    seen = []

    def always_first(**kwargs):
        with lock:
            seen.append(kwargs["messages"][1]["content"])
        return real(**{**kwargs, "mock_response": json.dumps({"preferred": "A", "rationale": "first"})})

    monkeypatch.setattr(litellm, "completion", always_first)
    result = compare(Panel(["gpt-4o"]), items("correct")[:3], [r["garbled"] for r in ROWS[:3]])
    assert result.counts["inconsistent"] == 3 and result.counts["win"] == 0
    assert math.isnan(result.win_rate) and result.consistency == 0.0
    # Both orders really were asked: the candidate appears once as answer A and once as answer B.
    candidate = ROWS[0]["correct"]
    assert sum(f"<answer_a>\n{candidate}\n" in s for s in seen) == 1
    assert sum(f"<answer_b>\n{candidate}\n" in s for s in seen) == 1


def test_baseline_count_must_match():
    with pytest.raises(ValueError, match="baseline"):
        compare(Panel([offline.MODEL]), items("correct"), ["only one"])
