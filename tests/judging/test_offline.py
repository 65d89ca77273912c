"""The offline `local/reference-judge`: discriminates, is deterministic, and runs through litellm."""

from __future__ import annotations

import json
import math

import litellm
import pytest

from judging import local_judges, offline
from judging.panel import JudgeItem, Panel
from judging.prompt import build_messages
from judging.rubric import Rubric
from tests.helpers import FIXTURES

FIXTURE = FIXTURES / "judging" / "telecom_items.jsonl"
ROWS = [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.strip()]


def items(kind: str) -> list[JudgeItem]:
    return [JudgeItem(r["id"], r["question"], r["reference"], r[kind]) for r in ROWS]


@pytest.fixture(scope="module")
def scores() -> dict[str, list[float]]:
    panel = Panel([offline.MODEL])  # no cache: every score here is computed
    return {kind: list(panel.score(items(kind)).items["judge_score"]) for kind in ("correct", "unrelated", "garbled")}


def test_fixture_is_big_enough():
    assert len(ROWS) >= 20


@pytest.mark.parametrize("worse", ["unrelated", "garbled"])
def test_correct_answers_outrank_worse_ones(scores, worse):
    wins = sum(c > w for c, w in zip(scores["correct"], scores[worse], strict=True))
    assert wins / len(ROWS) >= 0.9, (wins, len(ROWS))


def test_scores_spread_enough_to_separate_trials(scores):
    mean = {kind: sum(v) / len(v) for kind, v in scores.items()}
    assert mean["correct"] - mean["unrelated"] > 1.0
    assert mean["correct"] - mean["garbled"] > 1.0
    assert all(1.0 <= s <= 5.0 for v in scores.values() for s in v)


def test_deterministic():
    panel = Panel([offline.MODEL])
    first = panel.score(items("correct")[:5]).items["judge_score"].tolist()
    second = panel.score(items("correct")[:5]).items["judge_score"].tolist()
    assert first == second


def test_same_code_path_as_a_remote_judge():
    local_judges.register()
    row = ROWS[0]
    messages = build_messages(Rubric(), row["question"], row["reference"], row["correct"])
    reply = litellm.completion(model=offline.MODEL, messages=messages)
    parsed = json.loads(reply.choices[0].message.content)
    assert set(parsed["scores"]) == set(Rubric().criteria)
    assert parsed["rationale"].startswith("Offline proxy, not a language model")


def test_register_keeps_other_custom_providers(monkeypatch):
    other = {"provider": "someone-else", "custom_handler": object()}
    monkeypatch.setattr(litellm, "custom_provider_map", [other])
    local_judges.register()
    local_judges.register()
    providers = [entry["provider"] for entry in litellm.custom_provider_map]
    assert providers == ["someone-else", offline.PROVIDER]


def test_unknown_criterion_is_nan_with_reason_not_a_guess():
    rubric = Rubric(weights={"relevance": 0.5, "empathy": 0.5}, version="custom")
    result = Panel([offline.MODEL], rubric).score(items("correct")[:1])
    assert math.isnan(result.judge_score)
    assert "empathy" in result.items.loc[0, "error"]


def test_documented_as_a_proxy():
    assert "PROXY, NOT A LANGUAGE MODEL" in offline.__doc__
