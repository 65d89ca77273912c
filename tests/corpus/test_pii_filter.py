"""The PII model's pre-filter (corpus/pii_filter.py) and the synthetic address forms the model trains on
(corpus/pii_addresses.py, corpus/pii_data.py)."""

from __future__ import annotations

import random
import re

import pytest
from faker import Faker

from corpus.pii import find_pii_batch
from corpus.pii_addresses import street_address
from corpus.pii_data import synthetic_tickets
from corpus.pii_filter import model_chunks, needs_model, segments


@pytest.mark.parametrize(
    "sentence",
    [
        "Please restart your phone and try again.",
        "Thanks for waiting, the roaming charges have been refunded.",
        "Will you check my data settings?",  # an ambiguous word first in its sentence is no name
    ],
)
def test_ordinary_sentences_skip_the_model(sentence: str) -> None:
    assert not needs_model(sentence, caseless=False)


@pytest.mark.parametrize(
    ("sentence", "caseless"),
    [
        ("My son Oluwaseun can't make calls.", False),  # unknown word
        ("hi this is ngozi", True),  # unknown word in lower case
        ("Please ask for Grace when you call.", False),  # a common word, capitalised mid-sentence
        ("please ask for grace when you call", True),  # no capitals in the text: case says nothing
        ("I live at 27 the green.", False),  # a digit
        ("Rose Cottage, Mill Lane please.", False),  # an address without a number
    ],
)
def test_sentences_that_can_hold_personal_data_go_to_the_model(sentence: str, caseless: bool) -> None:
    assert needs_model(sentence, caseless)


def test_segments_cover_the_text_and_keep_titles_whole() -> None:
    text = "Hi Mr. Lopez. Thanks!\nI live at 3 St. Mary's Rd."
    assert [text[s:e] for s, e in segments(text)] == ["Hi Mr. Lopez.", "Thanks!", "I live at 3 St. Mary's Rd."]


def test_a_short_sentence_is_read_with_the_one_before() -> None:
    text = "Sorry for the wait, your refund is done. Kind regards,\nAmara"
    assert [text[s:e] for s, e in model_chunks(text)] == ["Kind regards,\nAmara"]
    assert model_chunks("Please restart your phone. Thanks for waiting.") == []


def test_prefiltered_spans_keep_their_place_in_the_text() -> None:
    text = "Please restart your phone. Thanks for waiting. My new address is 14 Carrow Road, the engineer is Tomasz."
    (spans,) = find_pii_batch([text], prefilter=True)
    found = {(s.kind, text[s.start : s.end]) for s in spans}
    assert ("ADDRESS", "14 Carrow Road") in found and ("NAME", "Tomasz") in found


def test_address_forms_beyond_fakers_one_line() -> None:
    rng, fake = random.Random(3), Faker("en_GB")
    fake.seed_instance(3)
    addresses = [street_address(fake, rng, held_out=False) for _ in range(600)]
    forms = {
        "flat or unit": r"(?i)\b(?:flat|apt|apartment|unit|suite|studio)\b",
        "house number with a letter": r"\b\d+[A-Da-d]\b",
        "unit/number": r"\b\d+/\d+\b",
        "PO box": r"(?i)\b(?:p\.?o\.? box|postfach|private bag|locked bag)\b",
        "house name": r"\b(?:Cottage|Farm|Lodge|Croft|Bungalow)\b",
        "rural route": r"\b(?:RR|Rural Route|HC|RD) \d",
        "several lines": r"\n",
    }
    for form, pattern in forms.items():
        assert any(re.search(pattern, a) for a in addresses), form


def test_multi_line_addresses_are_labelled_line_by_line() -> None:
    seen_multi_line = False
    for text, spans in synthetic_tickets(1500, seed=11, split="train"):
        for start, end, kind in spans:
            value = text[start:end]
            assert "\n" not in value and value.strip() == value and value, (kind, value)
        addresses = [(s, e) for s, e, k in spans if k == "ADDRESS"]
        for (_, end), (next_start, _) in zip(addresses, addresses[1:], strict=False):
            seen_multi_line |= text[end:next_start].strip() == "" and "\n" in text[end:next_start]
    assert seen_multi_line
