"""A reference judged against itself is a correct answer: no check may read a contradiction in identical text.

A check that compares one clause with a whole sentence, or reads the reference's own wording as advice it warns
against, fires on the reference itself; such a judge marks a tuned model down for repeating the right answer."""

from __future__ import annotations

import json

import pytest

from judging import correctness
from judging import detail_checks as dc
from tests.helpers import FIXTURES

# Holdouts whose authors' wording the judge may be checked on (the newest blind one is measured, never tested on).
HOLDOUTS = ("correctness_holdout", "correctness_holdout_blind", "correctness_holdout_blind2",
            "correctness_holdout_blind3", "correctness_holdout_blind4", "correctness_holdout_blind5",
            "correctness_holdout_blind6", "correctness_holdout_blind7",
            "correctness_reworded")  # fmt: skip
CONTRADICTIONS = ("unknown_numbers", "unknown_menu_segments", "flipped_switches", "negation_flips",
                  "new_risky_actions", "missing_steps", "reversed_steps", "changed_details")  # fmt: skip


@pytest.mark.parametrize(
    "reference",
    [
        "Unplug the router for 30 seconds, but never press the reset button on the back.",
        "Calls over Wi-Fi use your normal minutes and don't use your data allowance. Turn Wi-Fi Calling on first.",
        "You can keep your number; do not cancel the old contract until the transfer is done, and avoid resetting "
        "the phone before then.",
    ],
)
def test_the_reference_against_itself_has_no_contradiction(reference):
    question = "My phone has a problem, what should I do?"
    values = correctness.features(question, reference, reference)
    assert {k: values[k] for k in CONTRADICTIONS} == dict.fromkeys(CONTRADICTIONS, 0)
    assert correctness.judge(question, reference, reference)[0]["relevance"] == 5.0


def test_a_warning_broken_in_another_answer_still_counts():
    """The self-baseline takes away only what the reference reads in itself: turning its warning round counts."""
    reference = "Calls over Wi-Fi use your normal minutes and don't use your data allowance."
    assert dc.broken_warnings(reference, reference) == 0
    assert dc.broken_warnings("Never press reset. Use your data allowance for the calls.", "Never press reset. "
                              "Don't use your data allowance for the calls.") == 1  # fmt: skip


def test_every_holdout_reference_against_itself_scores_as_correct():
    pairs = {
        (row["question"], row["reference"])
        for name in HOLDOUTS
        for row in map(json.loads, (FIXTURES / "judging" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines())
    }
    assert len(pairs) > 100
    marked_down = [ref[:60] for question, ref in pairs if correctness.judge(question, ref, ref)[0]["relevance"] < 5]
    assert marked_down == []
