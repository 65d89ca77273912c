"""`local/correctness-judge`: wrong details, non-answers and degenerate answers score low; right answers high."""

from __future__ import annotations

import json
import math

import litellm
import pytest

from benchmarks.bench_judge import GOALS, goals_met, read_holdout, summarise
from common.errors import InputError
from judging import correctness, local_judges, offline
from judging import detail_checks as dc
from judging.panel import JudgeItem, Panel
from judging.preflight import probe_model
from judging.prompt import build_messages
from judging.rubric import Rubric

QUESTION = "How do I stop my phone using data abroad?"
REFERENCE = (
    "Open Settings > Network > Roaming and switch Data roaming off. Calls and texts keep working. "
    "Roaming data costs 3 pounds per MB outside the EU, so check it is off before you land."
)


def test_numbers_ignore_list_markers_and_read_number_words():
    assert dc.numbers("Steps:\n1. Wait twenty minutes.\n2. Dial *#06#.") == {"20", "06"}
    assert dc.unknown_numbers("Wait 48 hours.", "Wait 24 hours.", "Is it 12 hours?") == 1
    assert dc.unknown_numbers("Wait 12 hours.", "Wait 24 hours.", "Is it 12 hours?") == 0


def test_menu_segments_the_reference_never_names():
    wrong = "Open Settings > Display > Roaming and switch Data roaming off."
    assert dc.unknown_menu_segments(wrong, REFERENCE, QUESTION) == 1
    assert dc.unknown_menu_segments("Go to Settings > Network > Roaming.", REFERENCE, QUESTION) == 0


def test_switch_turned_the_other_way():
    assert dc.flipped_switches("Turn Data roaming on in Settings.", REFERENCE) >= 1
    assert dc.flipped_switches("Make sure Data roaming is switched off in Settings.", REFERENCE) == 0
    assert dc.flipped_switches("No, you cannot.", "Yes, you can.") == 1


def test_risky_actions_new_to_the_candidate():
    reference = "Never share your PIN with anyone who calls."
    assert dc.new_risky_actions("Share your PIN with the caller so they can help.", reference) == 0  # same words
    assert dc.new_risky_actions("Tell them your password and do a factory reset.", reference) == 2


def test_degeneration_checks():
    assert dc.looping("Open the app and Open the app and Open the app and Open the app and Open the app")
    assert not dc.looping(REFERENCE)
    assert dc.truncated("Open Settings > Network and switch")
    assert not dc.truncated('Reply "STOP".')


@pytest.fixture(scope="module")
def holdout_scores() -> tuple[list[dict], list[float]]:
    rows = read_holdout()
    items = [JudgeItem(r["id"], r["question"], r["reference"], r["answer"]) for r in rows]
    result = Panel([correctness.MODEL]).score(items)
    return rows, [float(v) for v in result.items["judge_score"]]


def test_holdout_goals(holdout_scores):
    rows, scores = holdout_scores
    summary = summarise(rows, scores)
    assert summary["pairs"] >= 48
    met = goals_met(summary)
    assert all(met.values()), (met, summary)
    assert summary["pairs_ordered"] >= GOALS["pairs_ordered"]


def test_every_criterion_moves_for_a_refusal():
    refusal = "I'm sorry, but I can't help with that."
    reply = Panel([correctness.MODEL]).score([JudgeItem("r", QUESTION, REFERENCE, refusal)])
    row = reply.items.iloc[0]
    assert all(row[f"judge_{c}"] <= 2.5 for c in correctness.CRITERIA), row.to_dict()
    assert "not a language model" in row["rationale"]


def test_same_litellm_path_and_proxy_label():
    local_judges.register()
    messages = build_messages(Rubric(), QUESTION, REFERENCE, REFERENCE)
    reply = json.loads(litellm.completion(model=correctness.MODEL, messages=messages).choices[0].message.content)
    assert set(reply["scores"]) == set(correctness.CRITERIA)
    assert "PROXY" in correctness.__doc__ and "not a language model" in reply["rationale"]
    again = json.loads(litellm.completion(model=correctness.MODEL, messages=messages).choices[0].message.content)
    assert again == reply


def test_preflight_knows_both_local_judges_and_no_other():
    probe_model(correctness.MODEL)
    probe_model(offline.MODEL)
    with pytest.raises(InputError, match="local/no-such-judge"):
        probe_model("local/no-such-judge")


def test_altered_head_is_refused_and_scores_nan(monkeypatch):
    monkeypatch.setattr(correctness, "HEAD_SHA256", "0" * 64)
    correctness.head.cache_clear()
    try:
        result = Panel([correctness.MODEL], max_retries=0).score([JudgeItem("x", QUESTION, REFERENCE, REFERENCE)])
        assert math.isnan(result.judge_score)
        assert "sha256" in result.items.iloc[0]["error"]
    finally:
        monkeypatch.undo()
        correctness.head.cache_clear()
