"""Replace personal data in free text with typed placeholders (<EMAIL>, <PHONE>, <CARD>, <IBAN>, <IMEI>, ...).

Detection leans on well-kept validators rather than bare regexes: libphonenumber (the `phonenumbers`
port) for phone numbers and MSISDNs, python-stdnum for IBAN mod-97, IMEI and Luhn check digits, and
Faker's per-locale first/last-name lists as a name gazetteer. Presidio was tried first: its pattern
recognizers work offline, but its NER needs a spaCy model that cannot be downloaded here, and importing
it pulls in transformers and torch (7 s of CPU per Ray worker, more than a whole local corpus build).
"""

from __future__ import annotations

import importlib
import ipaddress
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import phonenumbers
from stdnum import iban, imei, luhn

# Placeholder per kind; the order breaks ties when two kinds claim the same span with equal confidence
# (an IMEI is also a Luhn-valid 15-digit number, an ICCID a 19-digit one).
PLACEHOLDERS = {
    "EMAIL": "<EMAIL>",
    "IBAN": "<IBAN>",
    "ICCID": "<ICCID>",
    "IMEI": "<IMEI>",
    "CARD": "<CARD>",
    "PHONE": "<PHONE>",
    "IP": "<IP>",
    "NAME": "<NAME>",
}
_PRIORITY = {kind: rank for rank, kind in enumerate(PLACEHOLDERS)}
_PHONE_REGIONS = ("GB", "US", "IE", "DE", "FR", "ES", "IT", "NL", "AU", "IN")
_NAME_LOCALES = (
    "en_US", "en_GB", "en_IE", "en_IN", "en_NG", "de_DE", "fr_FR", "es_ES", "es_MX", "it_IT", "nl_NL",
    "pl_PL", "pt_BR", "pt_PT", "sv_SE", "da_DK", "no_NO", "fi_FI", "tr_TR", "ro_RO", "cs_CZ", "hu_HU",
)  # fmt: skip
# Capitalised words that appear in the name lists but, in support text, mostly are not names.
_NOT_NAMES = frozenset(
    """will may mark bill june april august grant rich chance faith hope joy page price long young case bank
    sim phone mobile data call calls text network signal home abroad business account support team thanks
    line lines cell port number code pin puk hotspot fair router fibre wifi roaming contract plan billing
    thank hello hi dear regards best kind cheers sorry please yes no ok okay apple samsung google android
    iphone pixel galaxy monday tuesday wednesday thursday friday saturday sunday january february march july
    september october november december english french german spanish internet broadband credit card debit
    service customer agent manager mr mrs ms miss dr sir madam street road avenue lane close drive court
    park hill green new old north south east west summer winter autumn spring dawn sky ray royal king queen
    prince major general else more my noone per us the this that it he she we they you i a an""".split()
)
_TITLE = r"(?:mr|mrs|ms|miss|dr)\.?"
_NAME_WORDS = r"([A-Z][\w'’-]+(?:\s+[A-Z][\w'’-]+){0,2})"
# Cues after which a capitalised word is taken as a name even if the gazetteer does not know it.
_CUE_STRONG = re.compile(
    rf"(?i:\bmy name is|\bname\s*:|\bdear(?:\s+{_TITLE})?|\bregards,?|\bthanks,|\bcheers,|\bsigned,?|"
    rf"\bsincerely,?|\b{_TITLE})\s+{_NAME_WORDS}"
)
# Cues that also precede ordinary words ("I'm Travelling"), so the first word must be a known first name.
_CUE_WEAK = re.compile(r"(?i:\bI am|\bI'm|\bI’m|\bthis is|\bspeak to|\bask for|\bcalled)\s+" + _NAME_WORDS)
_CAPITALISED = re.compile(r"\b[A-Z][a-z'’-]*[a-z]\b|\b[A-Z][a-z]+[A-Z][a-z]+\b")
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_DIGIT_RUN = re.compile(r"(?<![\w+])\+?\d(?:[ -]?\d){6,19}(?!\w)")
_IBAN_START = re.compile(r"\b[A-Z]{2}\d{2}(?=[ ]?[A-Z0-9])")
_IPV4 = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b")
_CARD_WORDS = ("card", "visa", "amex", "american express", "mastercard", "debit", "credit")
_PHONE_WORDS = ("msisdn", "line", "number", "phone", "mobile", "call", "text me", "whatsapp")
_HAS_DIGITS_7 = re.compile(r"\d(?:[\s().+-]*\d){6}")


@dataclass(frozen=True)
class Span:
    kind: str
    start: int
    end: int
    # Confidence in [0, 1]: checksum-validated identifiers 1.0, gazetteer names lower.
    score: float


@dataclass
class ScrubResult:
    text: str
    counts: Counter


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _numeric_ids(text: str) -> Iterator[Span]:
    """Cards, IMEIs, ICCIDs and bare MSISDNs: digit runs accepted only when their check digit is right."""
    for match in _DIGIT_RUN.finditer(text):
        raw = match.group()
        digits = _digits(raw)
        start, end = match.span()
        # A 15-digit Luhn-valid number is an IMEI or an American Express card; the words before it decide.
        before = text[max(0, start - 40) : start].casefold()
        card_context = any(word in before for word in _CARD_WORDS) and "imei" not in before
        if len(digits) == 15 and imei.is_valid(digits):
            yield Span("IMEI", start, end, 0.95 if card_context else 1.0)
        if digits.startswith("89") and len(digits) in (19, 20) and luhn.is_valid(digits):
            yield Span("ICCID", start, end, 1.0)
        if 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn.is_valid(digits):
            yield Span("CARD", start, end, 1.0)
        if " " not in raw and "-" not in raw and 10 <= len(digits) <= 15:
            # An MSISDN: international form without '+', as billing systems print it.
            try:
                number = phonenumbers.parse("+" + digits.removeprefix("00"))
            except phonenumbers.NumberParseException:
                continue
            # Bare digit runs are often order or reference numbers: only a valid number counts, unless the
            # words before it say it is a line (as presidio's context words do).
            phone_context = any(word in before for word in _PHONE_WORDS)
            if phonenumbers.is_valid_number(number) or (phone_context and phonenumbers.is_possible_number(number)):
                yield Span("PHONE", start, end, 0.9)


def _phones(text: str) -> Iterator[Span]:
    # Leniency POSSIBLE, not VALID: reserved and fictional ranges (UK 07700 900xxx) still identify a line.
    for region in _PHONE_REGIONS:
        for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.POSSIBLE):
            # Possible-number matching also accepts short codes (112, "24 hours"); a line has 7+ digits.
            # A bare run of 12+ digits is a reference number far more often than a national phone number;
            # bare international numbers are left to the stricter MSISDN check.
            digits = _digits(match.raw_string)
            if len(digits) >= 7 and not (match.raw_string == digits and len(digits) > 11):
                yield Span("PHONE", match.start, match.end, 0.8)


def _ibans(text: str) -> Iterator[Span]:
    for match in _IBAN_START.finditer(text):
        # Take the longest prefix of the following characters (single spaces allowed) that passes mod-97.
        chars = re.match(r"(?:[ ]?[A-Z0-9]){0,30}", text[match.end() :]).group()
        for length in range(len(chars), 10, -1):
            candidate = match.group() + chars[:length]
            if not candidate.endswith(" ") and iban.is_valid(candidate):
                yield Span("IBAN", match.start(), match.start() + len(candidate), 1.0)
                break


def _ips(text: str) -> Iterator[Span]:
    for match in _IPV4.finditer(text):
        try:
            ipaddress.IPv4Address(match.group())
        except ValueError:
            continue
        yield Span("IP", match.start(), match.end(), 0.9)


@cache
def _name_gazetteer() -> tuple[frozenset[str], frozenset[str]]:
    first: set[str] = set()
    last: set[str] = set()
    for locale in _NAME_LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        first.update(str(n) for n in getattr(provider, "first_names", ()))
        last.update(str(n) for n in getattr(provider, "last_names", ()))
    blocked = _NOT_NAMES
    return (
        frozenset(n for n in first if n.casefold() not in blocked and len(n) > 1),
        frozenset(n for n in last if n.casefold() not in blocked and len(n) > 1),
    )


def _names(text: str) -> Iterator[Span]:
    first_names, last_names = _name_gazetteer()
    blocked = _NOT_NAMES
    for cue, score in ((_CUE_STRONG, 0.85), (_CUE_WEAK, 0.8)):
        for match in cue.finditer(text):
            words = match.group(1).split()
            # Stop at the first ordinary word ("Dear Anna Thanks" must not swallow "Thanks").
            kept = []
            for word in words:
                if word.casefold() in blocked:
                    break
                kept.append(word)
            if not kept or (cue is _CUE_WEAK and kept[0] not in first_names):
                continue
            start = match.start(1)
            yield Span("NAME", start, start + len(" ".join(kept)), score)
    # Gazetteer pass: a known first name, extended over up to two following capitalised words.
    tokens = list(_CAPITALISED.finditer(text))
    for i, token in enumerate(tokens):
        if token.group() not in first_names:
            continue
        end = token.end()
        for nxt in tokens[i + 1 : i + 3]:
            if text[end : nxt.start()].strip() or nxt.group().casefold() in blocked:
                break
            end = nxt.end()
        yield Span("NAME", token.start(), end, 0.75 if end > token.end() else 0.6)
    for token in tokens:
        if token.group() in last_names and re.search(rf"(?i:\b{_TITLE})\s$", text[: token.start()][-6:]):
            yield Span("NAME", token.start(), token.end(), 0.85)


def _resolve_overlaps(spans: list[Span]) -> list[Span]:
    """Keep the best of overlapping spans (score, then kind priority, then length), in text order."""
    ranked = sorted(spans, key=lambda s: (-s.score, _PRIORITY[s.kind], s.start - s.end))
    kept: list[Span] = []
    for candidate in ranked:
        if all(candidate.end <= k.start or candidate.start >= k.end for k in kept):
            kept.append(candidate)
    return sorted(kept, key=lambda s: s.start)


def find_pii(text: str) -> list[Span]:
    spans: list[Span] = list(_names(text))
    # Cheap gates first: most support text has no '@' and no run of 7 digits, and libphonenumber's
    # matcher costs far more than these regexes.
    if "@" in text:
        spans += [Span("EMAIL", m.start(), m.end(), 1.0) for m in _EMAIL.finditer(text)]
    if _HAS_DIGITS_7.search(text):
        spans += [*_numeric_ids(text), *_phones(text), *_ips(text)]
    if _IBAN_START.search(text):
        spans += list(_ibans(text))
    return _resolve_overlaps(spans)


def scrub(text: str) -> ScrubResult:
    counts: Counter = Counter()
    pieces = []
    cursor = 0
    for span in find_pii(text):
        placeholder = PLACEHOLDERS[span.kind]
        pieces += [text[cursor : span.start], placeholder]
        counts[placeholder] += 1
        cursor = span.end
    pieces.append(text[cursor:])
    return ScrubResult("".join(pieces), counts)
