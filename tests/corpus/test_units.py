"""Corpus parts that need no Ray: glossary validation, scenarios, templates, filters, PII scrub, the
litellm backend (against a local stand-in provider) and the corpus hash."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from common.errors import InputError
from corpus import llm_expander
from corpus.filters import drop_exact_duplicates, drop_near_duplicates, drop_out_of_bounds
from corpus.glossary import load_glossary
from corpus.llm_expander import LitellmExpander, parse_reply
from corpus.pii import find_pii, find_pii_batch, scrub
from corpus.pipeline import corpus_inputs, hash_inputs
from corpus.scenarios import build_scenarios, scenario_id
from corpus.settings import CorpusConfig, FilterSettings, LitellmSettings, SplitFractions
from corpus.templates import TemplateExpander
from tests.helpers import FIXTURES

FIXTURES = FIXTURES / "corpus"
FAKE_HOOK = f"{FIXTURES / 'fake_llm.py'}:register"
GLOSSARY = load_glossary(CorpusConfig().glossary)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "glossary.yaml"
    path.write_text(text)
    return path


MINIMAL = """
terms:
  - {term: APN, definition: the internet gateway setting, check: the APN list}
  - {term: eSIM, definition: a built-in SIM, check: the SIM manager}
causes:
  - {cause: bad settings, description: a setting is wrong, hint: I changed something, fix: [reset it]}
contexts:
  - {context: home, description: at home, situation: I'm at home, advice: Try Wi-Fi.}
"""


def test_shipped_glossary_has_the_study_grid() -> None:
    assert (len(GLOSSARY.terms), len(GLOSSARY.causes), len(GLOSSARY.contexts)) == (52, 10, 3)
    names = {t.term for t in GLOSSARY.terms}
    assert {"APN", "eSIM", "roaming", "number porting", "VoLTE", "SIM swap", "fair-use policy"} <= names


def test_minimal_glossary_loads(tmp_path: Path) -> None:
    glossary = load_glossary(_write(tmp_path, MINIMAL))
    assert [t.term for t in glossary.terms] == ["APN", "eSIM"]
    assert glossary.causes[0].fix == ("reset it",)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("check: the SIM manager", "chek: the SIM manager"), "terms[1] ('eSIM').chek: unknown field"),  # unknown field
        ((", check: the SIM manager", ""), "terms[1] ('eSIM').check: missing"),
        (("term: eSIM", "term: apn"), "terms[1] ('apn').term: duplicate term 'apn'"),
        (("fix: [reset it]", "fix: []"), "causes[0] ('bad settings').fix"),
        (("advice: Try Wi-Fi.", "advice: ''"), "contexts[0] ('home').advice: must be non-empty"),
        (("terms:", "terms: ["), "malformed YAML"),
    ],
)
def test_glossary_errors_name_file_entry_and_field(tmp_path: Path, edit: tuple[str, str], expected: str) -> None:
    path = _write(tmp_path, MINIMAL.replace(*edit))
    with pytest.raises(InputError) as err:
        load_glossary(path)
    message = str(err.value)
    assert str(path) in message and expected in message and "\n" not in message


def test_missing_glossary_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read glossary"):
        load_glossary(tmp_path / "absent.yaml")


def test_scenarios_cover_the_product_with_stable_ids_and_disjoint_splits() -> None:
    scenarios = build_scenarios(GLOSSARY, SplitFractions(), seed=0)
    assert len(scenarios) == 1560 == len({s.scenario_id for s in scenarios})
    first = scenarios[0]
    assert first.scenario_id == scenario_id(first.term, first.cause, first.context)
    by_split = {split: {s.scenario_id for s in scenarios if s.split == split} for split in ("train", "val", "judge")}
    assert len(by_split["val"]) == 156 and len(by_split["judge"]) == 78
    assert not (by_split["train"] & by_split["val"] or by_split["train"] & by_split["judge"])
    # A seed gives the same sample; max_scenarios takes a subset of the same ids.
    again = build_scenarios(GLOSSARY, SplitFractions(), seed=0, max_scenarios=120)
    assert [s.scenario_id for s in again] == [s.scenario_id for s in scenarios[:120]]
    other = build_scenarios(GLOSSARY, SplitFractions(), seed=1, max_scenarios=120)
    assert {s.scenario_id for s in other} != {s.scenario_id for s in again}


def test_template_backend_gives_about_30000_distinct_informative_pairs() -> None:
    expander = TemplateExpander(GLOSSARY, seed=0)
    scenarios = build_scenarios(GLOSSARY, SplitFractions(), seed=0)
    pairs = [pair for s in scenarios for pair in expander.expand(s, 19).pairs]
    assert len(pairs) == 1560 * 19
    assert len(set(pairs)) == len(pairs)
    assert len({q for q, _ in pairs}) > 25_000
    # Every answer carries the term's definition and the first fix step of its cause.
    terms = {t.term: t for t in GLOSSARY.terms}
    causes = {c.cause: c for c in GLOSSARY.causes}
    for scenario in scenarios[:200]:
        for question, answer in expander.expand(scenario, 19).pairs:
            definition = terms[scenario.term].definition
            assert definition[1:] in answer or definition[1:].lower() in answer.lower()
            assert causes[scenario.cause].fix[0][1:] in answer
            assert scenario.term.casefold() in question.casefold()
    assert expander.expand(scenarios[5], 19).pairs == TemplateExpander(GLOSSARY, seed=0).expand(scenarios[5], 19).pairs


def test_template_pairs_of_one_scenario_are_not_near_duplicates() -> None:
    expander = TemplateExpander(GLOSSARY, seed=0)
    scenario = build_scenarios(GLOSSARY, SplitFractions(), seed=0)[0]
    rows = pd.DataFrame(expander.expand(scenario, 19).pairs, columns=["question", "answer"])
    kept, dropped = drop_near_duplicates(rows, ("question", "answer"), FilterSettings().near_duplicate_threshold)
    assert dropped == 0 and len(kept) == 19


def test_exact_and_near_duplicates_and_length_bounds_are_dropped_and_counted() -> None:
    base = "My eSIM profile disappeared after the update and now I have no service at all in the office"
    answer = "Reinstall the eSIM from the QR code in your account, then restart the phone and check the signal."
    rows = pd.DataFrame(
        {
            "question": [base, base.upper(), base + " today", "Why is roaming so expensive on cruise ships?", "Hi?"],
            "answer": [answer, "  " + answer, answer, "Ships use satellite networks charged at special rates.", answer],
        }
    )
    kept, exact = drop_exact_duplicates(rows, ("question", "answer"))
    assert exact == 1 and list(kept.index) == [0, 2, 3, 4]
    kept, near = drop_near_duplicates(kept, ("question", "answer"), threshold=0.8)
    assert near == 1 and list(kept.index) == [0, 3, 4]
    kept, short = drop_out_of_bounds(kept, FilterSettings())
    assert short == 1 and list(kept.index) == [0, 3]


@pytest.mark.parametrize(
    ("text", "value", "placeholder"),
    [
        ("Write to me at jo.bloggs@example.com please", "jo.bloggs@example.com", "<EMAIL>"),
        ("My number is +44 7911 123456.", "+44 7911 123456", "<PHONE>"),
        ("Call (415) 555-2671 after six", "(415) 555-2671", "<PHONE>"),
        ("Billing shows MSISDN 447911654321", "447911654321", "<PHONE>"),
        ("Card 4111 1111 1111 1111 was charged", "4111 1111 1111 1111", "<CARD>"),
        ("Pay into GB82 WEST 1234 5698 7654 32 now", "GB82 WEST 1234 5698 7654 32", "<IBAN>"),
        ("IMEI 49-015420-323751-8 is stolen", "49-015420-323751-8", "<IMEI>"),
        ("SIM ICCID 89441000000000000000 inactive", "89441000000000000000", "<ICCID>"),
        ("Thanks, regards, Priya Raman", "Priya Raman", "<NAME>"),
        ("Dear Mrs O'Brien, your order shipped", "O'Brien", "<NAME>"),
        ("My home IP 81.2.69.160 is blocked", "81.2.69.160", "<IP>"),
    ],
)
def test_scrub_replaces_each_kind_with_its_placeholder(text: str, value: str, placeholder: str) -> None:
    result = scrub(text)
    assert value not in result.text
    assert result.counts[placeholder] == 1, result.text


def test_scrub_keeps_router_and_other_private_addresses() -> None:
    # The help centre tells every customer to open 192.168.1.1: a private address identifies no one.
    text = "Open 192.168.1.1 or 10.0.0.138 in a browser; 127.0.0.1 is this computer."
    assert find_pii(text) == []


def test_scrub_leaves_checksum_failures_and_short_codes_alone() -> None:
    # A 15-digit number with a wrong check digit is neither an IMEI nor a card; 112 and *#06# are codes.
    text = "Dial 112 in an emergency, *#06# shows the IMEI, and reference 490154203237519 is an order."
    assert find_pii(text) == []


def test_scrub_barely_touches_template_answers() -> None:
    # The names model is statistical (issue 19): a rare false span on text with nothing personal is allowed,
    # a rule that fires on a whole template is not. Measured: 1 span in 1,800 texts.
    expander = TemplateExpander(GLOSSARY, seed=0)
    texts = [text for scenario in build_scenarios(GLOSSARY, SplitFractions(), seed=3, max_scenarios=300)
             for pair in expander.expand(scenario, 3).pairs for text in pair]  # fmt: skip
    touched = [(text, spans) for text, spans in zip(texts, find_pii_batch(texts), strict=True) if spans]
    assert len(touched) <= len(texts) // 200, touched


def test_parse_reply_repairs_fences_and_rejects_garbage() -> None:
    good = '{"pairs": [{"question": "Why no data?", "answer": "Check the APN setting first."}]}'
    assert parse_reply(good, 5) == [("Why no data?", "Check the APN setting first.")]
    assert parse_reply(f"Sure!\n```json\n{good}\n```\nHope that helps.", 5) == parse_reply(good, 5)
    assert parse_reply('[{"question": "Why no data?", "answer": "Check the APN setting first."}]', 5)
    assert parse_reply("no JSON here", 5) is None
    assert parse_reply('{"pairs": [{"question": "Why?"}]}', 5) is None


def _expander(tmp_path: Path, model: str, **settings) -> LitellmExpander:
    return LitellmExpander(
        GLOSSARY,
        LitellmSettings(model=model, setup_hooks=(FAKE_HOOK,), **settings),
        seed=0,
        cache_root=str(tmp_path / "cache"),
    )


@pytest.fixture
def call_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "calls.log"
    path.touch()
    monkeypatch.setenv("FAKE_LLM_CALL_LOG", str(path))
    monkeypatch.setattr(llm_expander, "BACKOFF_SECONDS", 0.01)
    return path


def _calls(log: Path) -> int:
    return len(log.read_text().splitlines())


def test_litellm_backend_generates_caches_and_accounts(tmp_path: Path, call_log: Path) -> None:
    scenarios = build_scenarios(GLOSSARY, SplitFractions(), seed=0, max_scenarios=4)
    first = [_expander(tmp_path, "fake/good").expand(s, 3) for s in scenarios]
    assert [len(e.pairs) for e in first] == [3, 3, 3, 3]
    assert _calls(call_log) == 4 == sum(e.calls for e in first)
    assert all(e.prompt_tokens > 0 and e.completion_tokens > 0 and e.cost_usd > 0 for e in first)
    assert scenarios[0].term in first[0].pairs[0][0]
    # A rerun with the same model, prompt and seed is served from the disk cache: zero calls.
    again = [_expander(tmp_path, "fake/good").expand(s, 3) for s in scenarios]
    assert _calls(call_log) == 4 and [e.pairs for e in again] == [e.pairs for e in first]
    assert sum(e.cache_hits for e in again) == 4 and sum(e.calls for e in again) == 0
    # Another seed is another prompt key: new calls.
    other_seed = LitellmExpander(
        GLOSSARY,
        LitellmSettings(model="fake/good", setup_hooks=(FAKE_HOOK,)),
        seed=1,
        cache_root=str(tmp_path / "cache"),
    )
    other_seed.expand(scenarios[0], 3)
    assert _calls(call_log) == 5
    assert not any("sk-" in p.read_text() for p in (tmp_path / "cache").iterdir())


def test_litellm_backend_repairs_retries_and_skips(tmp_path: Path, call_log: Path) -> None:
    scenario = build_scenarios(GLOSSARY, SplitFractions(), seed=0, max_scenarios=1)[0]
    fenced = _expander(tmp_path, "fake/fenced").expand(scenario, 2)
    assert len(fenced.pairs) == 2 and fenced.calls == 1
    malformed = _expander(tmp_path, "fake/malformed").expand(scenario, 2)
    assert malformed.pairs == [] and malformed.skipped == "malformed_reply" and malformed.calls == 2
    flaky = _expander(tmp_path, "fake/flaky").expand(scenario, 2)  # a 429, then a reply
    assert len(flaky.pairs) == 2 and flaky.calls == 2 and flaky.skipped is None
    assert _calls(call_log) == 5


def test_litellm_budget_cap_stops_new_calls_and_keeps_what_was_made(tmp_path: Path, call_log: Path) -> None:
    scenarios = build_scenarios(GLOSSARY, SplitFractions(), seed=0, max_scenarios=6)
    expander = _expander(tmp_path, "fake/good", max_cost_usd=0.05)
    results = [expander.expand(s, 3) for s in scenarios]
    made = [r for r in results if r.pairs]
    skipped = [r for r in results if r.skipped == "budget"]
    assert made and skipped and len(made) + len(skipped) == 6
    # Each call costs about 0.028 USD with the fake price, so the cap of 0.05 allows exactly two.
    assert _calls(call_log) == len(made) == 2
    assert expander.spent_usd >= 0.05 and all(r.calls == 0 for r in skipped)


def test_corpus_hash_covers_every_input(tmp_path: Path) -> None:
    base = CorpusConfig(max_scenarios=30)
    digest = hash_inputs(corpus_inputs(base, "template-v1"))
    assert digest == hash_inputs(corpus_inputs(CorpusConfig(max_scenarios=30), "template-v1"))
    assert digest != hash_inputs(corpus_inputs(base, "template-v2"))
    assert digest != hash_inputs(corpus_inputs(base.model_copy(update={"seed": 1}), "template-v1"))
    assert digest != hash_inputs(corpus_inputs(base.model_copy(update={"pairs_per_scenario": 5}), "template-v1"))
    copy = tmp_path / "telecom.yaml"
    copy.write_bytes(Path(base.glossary).read_bytes())
    moved = base.model_copy(update={"glossary": copy})
    assert digest == hash_inputs(corpus_inputs(moved, "template-v1")), "a moved glossary is the same input"
    copy.write_text(copy.read_text().replace("Access Point Name", "access point name"))
    assert digest != hash_inputs(corpus_inputs(moved, "template-v1")), "an edited glossary is a new input"
    llm = CorpusConfig(backend="litellm", max_scenarios=30)
    llm_digest = hash_inputs(corpus_inputs(llm, "litellm:x"))
    faster = llm.model_copy(update={"litellm": LitellmSettings(max_concurrency=16)})
    assert llm_digest == hash_inputs(corpus_inputs(faster, "litellm:x")), "concurrency does not change content"
    other_model = llm.model_copy(update={"litellm": LitellmSettings(model="gpt-4o-mini")})
    assert llm_digest != hash_inputs(corpus_inputs(other_model, "litellm:x"))
