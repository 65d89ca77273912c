"""Conceptual or factual (issue 20): the offline classifier reaches the goal on the held-out pairs, the seed
and held-out sets are apart, bad labelled files are one error, and the litellm labeller labels in batches,
caches, and falls back to the offline classifier (counted) when the model's replies are unusable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.errors import InputError
from corpus.kind import HELDOUT_FILE, KINDS, SEED_FILE, kind_shares, offline_classifier, read_pairs
from corpus.llm_expander import LitellmExpander
from corpus.llm_labeller import BATCH, LitellmKindLabeller, parse_labels
from corpus.settings import LitellmSettings
from tests.helpers import FIXTURES


def test_offline_classifier_meets_the_goal_on_held_out_pairs() -> None:
    heldout = read_pairs(HELDOUT_FILE)
    assert len(heldout) >= 100 and {p.kind for p in heldout} == set(KINDS)
    accuracy = offline_classifier().accuracy(heldout)
    assert accuracy >= 0.85, accuracy


def test_seed_and_held_out_sets_share_no_pair() -> None:
    seed, heldout = read_pairs(SEED_FILE), read_pairs(HELDOUT_FILE)
    assert len(seed) >= 200
    normalise = lambda text: " ".join(text.casefold().split())  # noqa: E731
    assert not {normalise(p.question) for p in seed} & {normalise(p.question) for p in heldout}
    assert not {normalise(p.answer) for p in seed} & {normalise(p.answer) for p in heldout}


def test_classifier_follows_the_definitions_on_pairs_it_never_saw() -> None:
    questions = [
        "Why does my phone lose signal in lifts?",
        "What is the difference between a SIM PIN and a phone passcode?",
        "What is the price of the 10 GB roaming pass?",
        "Which APN do I type for picture messages?",
    ]
    answers = [
        "Lifts are metal boxes that block radio waves, so the signal from the mast cannot reach the phone inside.",
        "The SIM PIN protects the SIM card in any phone, while the passcode protects the phone itself.",
        "The 10 GB roaming pass costs 15.00 and lasts 30 days.",
        "Enter internet as the APN, with MMS proxy 10.0.0.10 and port 8080.",
    ]
    assert offline_classifier().predict(questions, answers) == ["conceptual", "conceptual", "factual", "factual"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "line 1, column 1: not JSON"),
        ('{"question": "Q?", "answer": "A.", "kind": "opinion"}', "line 1: kind: must be one of"),
        ('{"question": "", "answer": "A.", "kind": "factual"}', "line 1: question: must be non-empty text"),
        ("[1, 2]", "line 1: expected a JSON object"),
    ],
)
def test_bad_labelled_file_is_one_input_error(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(InputError, match=message):
        read_pairs(path)


def test_shares_count_each_class() -> None:
    assert kind_shares(["conceptual", "factual", "factual", "factual"]) == {"conceptual": 0.25, "factual": 0.75}
    assert kind_shares([]) == {"conceptual": 0.0, "factual": 0.0}


def test_labels_are_parsed_only_when_complete_and_valid() -> None:
    assert parse_labels('```json\n{"labels": ["Conceptual", "factual"]}\n```', 2) == ["conceptual", "factual"]
    assert parse_labels('{"labels": ["conceptual"]}', 2) is None
    assert parse_labels('{"labels": ["conceptual", "opinion"]}', 2) is None
    assert parse_labels("no JSON here", 1) is None


def _labeller(tmp_path: Path, model: str) -> LitellmKindLabeller:
    settings = LitellmSettings(model=model, setup_hooks=(f"{FIXTURES / 'corpus' / 'fake_data_llm.py'}:register",))
    return LitellmKindLabeller(LitellmExpander(None, settings, seed=0, cache_root=str(tmp_path / "cache")))


def test_litellm_labeller_batches_caches_and_falls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "calls.log"
    log.touch()
    monkeypatch.setenv("FAKE_LLM_CALL_LOG", str(log))
    n = BATCH + 5
    questions = [
        f"Why does feature {i} drop at night?" if i % 2 else f"Which code turns on feature {i}?" for i in range(n)
    ]
    answers = [f"Answer {i}." for i in range(n)]
    expected = ["conceptual" if i % 2 else "factual" for i in range(n)]

    labels, summary = _labeller(tmp_path, "fakedata/good").label(questions, answers)
    assert labels == expected
    assert summary["calls"] == 2 and summary["cache_hits"] == 0 and summary["offline_fallback"] == 0
    assert len(log.read_text().splitlines()) == 2

    again, summary = _labeller(tmp_path, "fakedata/good").label(questions, answers)
    assert again == expected and summary["calls"] == 0 and summary["cache_hits"] == 2
    assert len(log.read_text().splitlines()) == 2, "a rerun is served from the cache"

    fallback, summary = _labeller(tmp_path, "fakedata/malformed").label(questions[:4], answers[:4])
    assert summary["offline_fallback"] == 4 and summary["calls"] == 2, "asked once more, then the fallback"
    assert fallback == offline_classifier().predict(questions[:4], answers[:4])
    assert set(fallback) <= set(KINDS)
    cached = [json.loads(p.read_text()) for p in (tmp_path / "cache").glob("*.json")]
    assert len(cached) == 4 and all(set(entry) == {"model", "reply"} for entry in cached)
