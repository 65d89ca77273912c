"""Answers cut off by the token limit are cut back to their last complete sentence; finished answers are kept."""

from __future__ import annotations

import pytest

from judging.degeneration import stops_mid_sentence
from trainables.generate import whole_sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I'm sorry to hear that. Please check the", "I'm sorry to hear that."),
        ("What to do:\n1. Check the bill.\n2. In the", "What to do:\n1. Check the bill."),
        ('Restart it! Then say "done." and the', 'Restart it! Then say "done."'),
        ("Your allowance is 3.5 GB. It renews on the", "Your allowance is 3.5 GB."),
        ("Dial 112 in an emergency. Then", "Dial 112 in an emergency."),
        ("Is roaming on? If not, open Settings > Mobile", "Is roaming on?"),
    ],
)
def test_cut_back_to_the_last_complete_sentence(text, expected):
    assert whole_sentences(text) == expected
    assert not stops_mid_sentence(whole_sentences(text))


@pytest.mark.parametrize("text", ["1. Open the", "no sentence ends here", "  the a a a a a  "])
def test_an_answer_without_a_complete_sentence_is_kept_and_still_counts_as_truncated(text):
    assert whole_sentences(text) == text.strip()
    assert stops_mid_sentence(whole_sentences(text))
