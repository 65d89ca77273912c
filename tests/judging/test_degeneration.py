"""Degeneration figures on hand-made answers: loops, truncations, collapsed and healthy answer sets."""

from __future__ import annotations

import math

import pytest

from judging.degeneration import (
    compute_degeneration,
    distinct_n,
    repetition,
    stops_mid_sentence,
    truncated_share,
)

HEALTHY = [
    "Your eSIM profile was deleted when the phone was reset. Scan the QR code from the app again to restore it.",
    "Roaming data is off by default. Turn on Data Roaming in Settings > Mobile data, then restart the phone.",
    "The APN settings are wrong. Set the APN to internet.operator and save; mobile data should work within a minute!",
]
# What the random-weight tiny model produced after tuning.
LOOP = "Thanks for the most likely cause here is that the most likely cause here is that the most likely cause"
BABBLE = "the " + "a " * 30


def test_healthy_answers_have_no_repetition_or_truncation():
    figures = compute_degeneration(HEALTHY)
    assert figures.repetition == 0.0
    assert figures.truncated_share == 0.0
    assert figures.distinct_2 > 0.9  # a few bigrams ("the phone") recur


def test_a_loop_is_mostly_repeated_trigrams():
    # 20 words, 18 trigrams, 9 distinct: "thanks for the", "for the most" and the 7 of the 7-word cycle.
    assert repetition([LOOP]) == pytest.approx(9 / 18)
    # 31 words, 29 trigrams, 2 distinct ("the a a", "a a a").
    assert repetition([BABBLE]) == pytest.approx(27 / 29)
    assert repetition([LOOP, BABBLE]) == pytest.approx((9 + 27) / (18 + 29))  # pooled over n-grams, not answers


def test_phrases_shared_between_answers_are_not_loops():
    same = ["Restart the phone and try again."] * 4
    assert repetition(same) == 0.0
    # ... but they collapse the set's diversity: 5 distinct bigrams out of 20.
    assert distinct_n(same, 2) == pytest.approx(5 / 20)


@pytest.mark.parametrize(
    ("answer", "cut"),
    [
        ("Restart the phone.", False),
        ("Is the SIM inserted?", False),
        ("Call us now!", False),
        ('The agent said "restart it."', False),
        ("Open Settings (Mobile data.)", False),
        ("Wait for it…", False),
        ("**Restart the phone.**", False),
        ("Restart the phone.   \n", False),
        ("Restart the phone and then", True),
        ("Steps to follow:", True),
        ("The most likely cause here is that the", True),
        ("", True),
        ("   ", True),
    ],
)
def test_stops_mid_sentence(answer, cut):
    assert stops_mid_sentence(answer) is cut


def test_truncated_share_counts_answers():
    answers = ["Done.", "Restart the phone and then", "", "Fixed!"]
    assert truncated_share(answers) == pytest.approx(2 / 4)


def test_nothing_to_measure_is_nan_never_zero():
    assert math.isnan(repetition([]))
    assert math.isnan(repetition(["Too short"]))  # no trigram at all
    assert math.isnan(truncated_share([]))
    assert math.isnan(distinct_n(["Hi"], 2))
    figures = compute_degeneration([])
    assert all(math.isnan(v) for v in figures.metrics().values())


def test_metric_names_for_the_trial_record():
    figures = compute_degeneration([LOOP, "Restart the phone."])
    metrics = figures.metrics()
    assert set(metrics) == {"answer_repetition", "answer_truncated_share", "answer_distinct_2"}
    assert metrics["answer_truncated_share"] == pytest.approx(0.5)
    assert 0 < metrics["answer_repetition"] < 1 and 0 < metrics["answer_distinct_2"] < 1
