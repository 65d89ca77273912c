"""The PII scrubber (issue 19): the planted holdout, context the rules cannot read, numbered placeholders within a
ticket, the shipped weights' hashes, and the Ray Data path giving what one process gives."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from corpus.pii import find_pii, scrub, scrub_ticket
from corpus.pii_eval import FIELDS, compute_holdout_scores, load_holdout
from corpus.pii_model import WEIGHTS, TokenTagger
from corpus.pii_ray import scrub_frame
from tests.helpers import FIXTURES

HOLDOUT = FIXTURES / "corpus" / "pii_holdout.jsonl"


def _kinds(text: str) -> list[tuple[str, str]]:
    return [(s.kind, text[s.start : s.end]) for s in find_pii(text)]


def test_holdout_recall_and_precision_reach_the_target() -> None:
    from corpus.pii import find_pii_batch

    rows = load_holdout(HOLDOUT)
    spans = find_pii_batch([row[field] for row in rows for field in FIELDS])
    per_row = [dict(zip(FIELDS, spans[2 * i : 2 * i + 2], strict=True)) for i in range(len(rows))]
    scores = compute_holdout_scores(rows, per_row)
    assert scores["planted"] >= 120 and len(scores["planted_by_kind"]) == 12
    # The target, 0.95 (benchmarks/bench_pii.py); last measured 0.960 with the pre-filter, 0.976 without.
    assert scores["recall"] >= 0.95, scores["misses"]
    assert scores["recall_by_kind"]["ADDRESS"] >= 0.9, scores["misses"]
    assert scores["precision"] >= 0.95, scores["false_spans"]
    assert scores["decoys_kept"] >= 0.95, scores["broken_decoys"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("New IBAN without spaces: ES9121000418450200051332 please", ("IBAN", "ES9121000418450200051332")),
        ("my iban is gb29 nwbk 6016 1331 9268 19", ("IBAN", "gb29 nwbk 6016 1331 9268 19")),
        # Wrong check digit, but the cue word says what it is: still the customer's device.
        ("IMEI 353911101234567 is blocked", ("IMEI", "353911101234567")),
        ("imei: 35875605112233 7 shows emergency calls only", ("IMEI", "35875605112233 7")),
        ("ICCID 8901260123456789015 needs a new PUK", ("ICCID", "8901260123456789015")),
        ("customer ID CX-882190, the router is down", ("CUSTOMER_ID", "CX-882190")),
        ("account number 44102933, please check", ("ACCOUNT", "44102933")),
        ("DOB 1990-07-22, I want to port out", ("DATE_OF_BIRTH", "1990-07-22")),
        ("I was born on 9 August 1983 and want a discount", ("DATE_OF_BIRTH", "9 August 1983")),
        ("amex 378282246310005 was charged twice", ("CARD", "378282246310005")),
    ],
)
def test_structured_kinds_with_and_without_valid_check_digits(text: str, expected: tuple[str, str]) -> None:
    assert expected in _kinds(text)


def test_context_finds_lower_case_names_of_any_origin_and_keeps_towns() -> None:
    text = "hi this is ngozi eze from Florence, my galaxy s23 has no volte since Monday"
    found = _kinds(text)
    assert ("NAME", "ngozi eze") in found
    assert all(kind != "NAME" or "Florence" not in value for kind, value in found)
    assert "galaxy s23" in scrub(text).text and "Florence" in scrub(text).text


def test_dates_that_are_not_birth_dates_and_menu_paths_survive() -> None:
    text = "My bill dated 12/05/2024 is wrong. Settings > Mobile network > Access Point Names shows APN 'wap'."
    assert scrub(text).text == text


def test_an_address_run_on_over_the_town_ends_before_it() -> None:
    from corpus.pii import _keep_towns
    from corpus.pii_span import Span

    text = "the engineer should come to Flat 2, 40 Mill Road, Saltash PL12 6DT"
    address, postcode = text.index("Flat"), text.index("PL12")
    spans = [Span("ADDRESS", address, postcode - 1, 0.9), Span("POSTCODE", postcode, len(text), 0.9)]
    kept = _keep_towns(text, spans)
    assert text[kept[0].start : kept[0].end] == "Flat 2, 40 Mill Road" and kept[1] == spans[1]
    # Without a postcode after it the last part may be the street itself: nothing is cut.
    assert _keep_towns(text[:postcode], spans[:1]) == spans[:1]


def test_placeholders_are_numbered_per_ticket_and_match_the_same_person() -> None:
    result = scrub_ticket(
        "Hello, I'm Maria Lopez and my husband Kenji Watanabe can't call. My number is +44 7700 900123.",
        "Hi Maria, I've fixed Kenji's line; Ms Lopez, we'll text +44 7700 900123 to confirm.",
    )
    question, answer = result.texts
    assert "<NAME_1>" in question and "<NAME_2>" in question and "<PHONE_1>" in question
    assert answer.startswith("Hi <NAME_1>,") and "<NAME_2>" in answer and "<PHONE_1>" in answer
    assert "Ms <NAME_1>" in answer
    assert not re.search(r"Maria|Lopez|Kenji|Watanabe|7700", question + answer)
    assert result.counts["<NAME>"] == 5 and result.counts["<PHONE>"] == 2


def test_a_changed_weight_file_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "weights"
    shutil.copytree(WEIGHTS, copy)
    head = copy / "head.safetensors"
    data = bytearray(head.read_bytes())
    data[-1] ^= 0xFF
    head.write_bytes(bytes(data))
    with pytest.raises(RuntimeError, match="sha256"):
        TokenTagger(copy)


@pytest.fixture
def local_ray():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_data_actor_pool_gives_what_one_process_gives(local_ray) -> None:
    rows = load_holdout(HOLDOUT)[:30]
    frame = pd.DataFrame([{f: row[f] for f in FIELDS} for row in rows], index=range(100, 130))
    alone, alone_counts = scrub_frame(frame, use_ray=False)
    on_ray, ray_counts = scrub_frame(frame, use_ray=True)
    pd.testing.assert_frame_equal(alone, on_ray)
    assert alone_counts == ray_counts and alone_counts["<NAME>"] > 10


@pytest.mark.parametrize(
    ("value", "kept"),
    [("SW1A 1AA", True), ("d02 x285", True), ("10115", True), ("12345-6789", True), ("1234 AB", True),
     ("LV-1050", True), ("00-950", True), ("T006", False), ("A54", False), ("4G", False)],
)  # fmt: skip
def test_a_model_postcode_needs_a_postcode_shape(value, kept):
    from corpus.pii import _plausible

    assert _plausible(value, "POSTCODE", 0.99, f"ref {value} here") is kept
