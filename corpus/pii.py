"""Replace personal data in support text with placeholders that say what was there (<NAME_1>, <IMEI_1>, ...).

Two halves. Identifiers with a structure are found by validators: libphonenumber (`phonenumbers`) for phone
numbers, python-stdnum for IBAN mod-97 and the Luhn digit of cards, IMEIs and ICCIDs. A customer's typo is
still their device's identifier, so a number right after its cue word ("IMEI", "ICCID", "account number",
"customer ID") is taken whatever its check digit. Names, street addresses, postcodes and dates of birth need
context, which a token classifier over MiniLM reads (corpus/pii_model.py); a date next to a birth cue and the
postcode formats with a fixed shape (UK, Irish Eircode, Canadian) are also taken by rule.

Placeholders are numbered per kind within a ticket (`scrub_ticket`): the same person is <NAME_1> in the
question and in the answer ("Maria Lopez", then "Maria", then "Ms Lopez"), a second person <NAME_2>; the same
phone number written twice is one <PHONE_1>. Every kind is numbered, so a tuned model learns where a value
goes and whether two mentions are the same one, never the value. `scrub(text)`, for a text without a ticket
(the synthetic corpus), writes the kind alone: <NAME>.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache

import phonenumbers
from stdnum import iban, luhn

from corpus.pii_filter import model_chunks
from corpus.pii_span import Span

# Order breaks ties between kinds claiming the same span with equal confidence: the more specific first.
KINDS = (
    "EMAIL", "IBAN", "ICCID", "IMEI", "CARD", "ACCOUNT", "CUSTOMER_ID", "DATE_OF_BIRTH", "IP", "PHONE",
    "POSTCODE", "ADDRESS", "NAME",
)  # fmt: skip
PLACEHOLDERS = {kind: f"<{kind}>" for kind in KINDS}
_PRIORITY = {kind: rank for rank, kind in enumerate(KINDS)}
MODEL_KINDS = frozenset({"NAME", "ADDRESS", "POSTCODE", "DATE_OF_BIRTH"})
# A model span below this mean token probability is not replaced (dev split: see corpus/pii_train.py).
MODEL_THRESHOLD = 0.5
# ... and a span that has only ordinary words of support text (see `plain_words`) needs this much.
STRONG_EVIDENCE = 0.9

_PHONE_REGIONS = ("GB", "US", "IE", "DE", "FR", "ES", "IT", "NL", "IN", "AU", "BR", "NG")
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_IBAN_START = re.compile(r"\b[A-Za-z]{2}\d{2}(?=[ ]?[A-Za-z0-9])")
_DIGIT_RUN = re.compile(r"(?<![\w+])\+?\d(?:[ -]?\d){5,22}(?![\w-]*\d)")
_IPV4 = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b")
# Cue words close before a number (at most `_CUE_GAP` characters of other words between: "the IMEI on my
# receipt is 3520...").
_CUE_GAP = 32
_CUES = {
    "IMEI": re.compile(r"(?i)\bimei\b"),
    "ICCID": re.compile(r"(?i)\b(?:iccid|sim (?:card )?(?:number|no\.?|serial))\b"),
    "ACCOUNT": re.compile(r"(?i)\b(?:account|acct|acc|a/c)\.?(?:\s*(?:number|no\.?|num|#))?\b"),
    "CUSTOMER_ID": re.compile(r"(?i)\b(?:customer|client|cust)\.?\s*(?:number|no\.?|id|ref(?:erence)?|#)"),
    "CARD": re.compile(r"(?i)\b(?:card|visa|amex|american express|mastercard|debit|credit)\b"),
    "PHONE": re.compile(r"(?i)\b(?:phone|mobile|msisdn|landline|call|text|number|whatsapp|tel)\b"),
}
_NOT_PHONE = re.compile(r"(?i)\b(?:order|invoice|ref|reference|ticket|case|tracking)\b")
# An identifier after a customer/account cue may carry letters and dashes: "CX-882190", "77-310-5542".
_CUE_TOKEN = re.compile(r"[.:#]?\s*(?:is\s+)?([A-Za-z]{0,4}[-/]?\d[\dA-Za-z]*(?:[- /]\d[\dA-Za-z]*)*)")
_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|"
          r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")  # fmt: skip
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_DATE = re.compile(
    rf"(?i)\b(?:\d{{4}}-\d{{1,2}}-\d{{1,2}}|\d{{1,2}}[/.-]\d{{1,2}}[/.-](?:\d{{4}}|\d{{2}})|"
    rf"{_DAY}(?:\s+of)?\s+{_MONTH}\.?,?\s+\d{{2,4}}|{_MONTH}\.?\s+{_DAY},?\s+\d{{4}})\b"
)
_BIRTH_CUE = re.compile(
    r"(?i)\b(?:born|birth|birthday|dob|d\.o\.b\.?|date of birth|birth date|fecha de nacimiento|geburtsdatum|"
    r"date de naissance|data di nascita)\b"
)
_POSTCODE_SHAPES = re.compile(
    r"\b(?:[A-Z]{1,2}\d[A-Z\d]?\s?\d[ABD-HJLNP-UW-Z]{2}|[AC-FHKNPRTV-Y]\d{2}\s?[0-9AC-FHKNPRTV-Y]{4}|"
    r"[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z]\s?\d[ABCEGHJ-NPRSTV-Z]\d)\b"
)
# Words around a name in greetings and sign-offs that the model, on phrasings it did not train on, sometimes
# tags with it (seen on the dev split: "Hiya", "Good afternoon", "Speak soon").
_NOT_NAME_WORDS = frozenset(
    """hi hiya hey hello dear good morning afternoon evening night soon thanks thank you cheers regards best
    wishes kind sincerely yours team support agent customer sir madam all there mr mrs ms miss dr one two
    three four five six seven eight nine ten""".split()
)
# Postcode shapes of other countries, for the model's POSTCODE spans (the UK, Irish and Canadian ones are above):
# digits only (US, DE, FR, AU, IN, ...), digits in two groups (SE, GR, CZ, JP, PL, PT, BR, US ZIP+4), NL's digits
# and letters, a country prefix (LV-1050, LT-12345, D-10115) and Argentina's CPA. A ticket reference such as
# "T006" or a model name such as "A54" has none of these shapes: the int8 model, whose activation scale is set per
# batch, once tagged "[T006]" as a postcode in one batch and not in another.
_OTHER_POSTCODES = re.compile(
    r"\d{4,6}|\d{2,5}[ -]\d{2,4}|\d{5}\d{3}|\d{4} ?[A-Z]{2}|[A-Z]{1,2}-?\d{4,5}|[A-Z]\d{4}[A-Z]{3}", re.IGNORECASE
)
_HAS_DIGITS_6 = re.compile(r"\d(?:[\s().+-]*\d){5}")


@dataclass
class ScrubResult:
    text: str
    counts: Counter


@dataclass
class TicketResult:
    """One ticket's texts with placeholders; `counts` by kind placeholder (`<NAME>`: 3 mentions)."""

    texts: list[str]
    counts: Counter
    spans: list[list[Span]] = field(default_factory=list)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _nearest_cue(text: str, start: int, kinds: Sequence[str]) -> str | None:
    """The cue kind whose word ends closest before `start`, within the gap."""
    window = text[max(0, start - _CUE_GAP) : start]
    # A cue speaks for the number only within its clause, and not across another kind of reference
    # ("*#06# shows the IMEI, and reference 4901..." is an order reference).
    window = re.split(r"[,;!?]|\.\s+(?=[A-Z])", window)[-1]
    best, best_end = None, -1
    for kind in kinds:
        for match in _CUES[kind].finditer(window):
            if match.end() > best_end:
                best, best_end = kind, match.end()
    return None if _NOT_PHONE.search(window, max(0, best_end)) else best


def _numeric_ids(text: str) -> Iterator[Span]:
    """Cards, IMEIs, ICCIDs and account numbers in runs of digits (single spaces or dashes between)."""
    for match in _DIGIT_RUN.finditer(text):
        raw, start, end = match.group(), match.start(), match.end()
        digits = _digits(raw)
        cue = _nearest_cue(text, start, ("IMEI", "ICCID", "ACCOUNT", "CARD", "CUSTOMER_ID"))
        if cue == "IMEI" and 14 <= len(digits) <= 17:
            yield Span("IMEI", start, end, 0.97)
        elif cue == "ICCID" and 18 <= len(digits) <= 22:
            yield Span("ICCID", start, end, 0.97)
        elif cue == "ACCOUNT" and 6 <= len(digits) <= 18:
            yield Span("ACCOUNT", start, end, 0.97)
        if digits.startswith("89") and 18 <= len(digits) <= 22 and luhn.is_valid(digits):
            yield Span("ICCID", start, end, 1.0)
        if len(digits) == 15 and luhn.is_valid(digits):
            # A Luhn-valid 15-digit number is an IMEI or an American Express card; the cue word decides.
            yield Span("CARD" if cue == "CARD" else "IMEI", start, end, 1.0)
        elif 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn.is_valid(digits):
            yield Span("CARD", start, end, 1.0)


def _cued_identifiers(text: str) -> Iterator[Span]:
    """Customer and account identifiers written after their cue, letters and dashes allowed."""
    for kind in ("CUSTOMER_ID", "ACCOUNT"):
        for cue in _CUES[kind].finditer(text):
            token = _CUE_TOKEN.match(text, cue.end())
            if token and len(_digits(token.group(1))) >= 5:
                # "customer number 99172834" is a customer number even where "number" is also an account cue.
                yield Span(kind, token.start(1), token.end(1), 0.97 if kind == "CUSTOMER_ID" else 0.96)


def _phones(text: str) -> Iterator[Span]:
    dates = [m.span() for m in _DATE.finditer(text)]
    # A dotted quad is an address, never a phone number, whether or not it is personal (see _ips).
    seen: set[tuple[int, int]] = {m.span() for m in _IPV4.finditer(text)}
    for region in _PHONE_REGIONS:
        # Leniency POSSIBLE, not VALID: reserved and fictional ranges (UK 07700 900xxx) still identify a line.
        for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.POSSIBLE):
            span = (match.start, match.end)
            digits = _digits(match.raw_string)
            if span in seen or len(digits) < 7 or any(s <= match.start < e for s, e in dates):
                continue
            seen.add(span)
            before = text[max(0, match.start - _CUE_GAP) : match.start]
            # A bare run of digits is a reference number more often than a phone number unless a cue says so.
            bare = match.raw_string.isdigit()
            if _NOT_PHONE.search(before) and not _CUES["PHONE"].search(before):
                continue
            if bare and not (_CUES["PHONE"].search(before) or phonenumbers.is_valid_number(match.number)):
                continue
            yield Span("PHONE", match.start, match.end, 0.9 if not bare else 0.85)


def _ibans(text: str) -> Iterator[Span]:
    for match in _IBAN_START.finditer(text):
        # The longest run of the following characters (single spaces allowed) that passes mod-97.
        chars = re.match(r"(?:[ ]?[A-Za-z0-9]){0,30}", text[match.end() :]).group()
        for length in range(len(chars), 10, -1):
            candidate = match.group() + chars[:length]
            if not candidate.endswith(" ") and iban.is_valid(candidate.upper()):
                yield Span("IBAN", match.start(), match.start() + len(candidate), 1.0)
                break


def _ips(text: str) -> Iterator[Span]:
    """Public IPv4 addresses. A private, loopback or link-local one (a router's 192.168.1.1, which the help centre
    tells every customer to open) identifies no one and is kept."""
    for match in _IPV4.finditer(text):
        try:
            address = ipaddress.IPv4Address(match.group())
        except ValueError:
            continue
        if address.is_private or address.is_loopback or address.is_link_local or address.is_unspecified:
            continue
        yield Span("IP", match.start(), match.end(), 0.9)


def _birth_dates(text: str) -> Iterator[Span]:
    for match in _DATE.finditer(text):
        # The cue must be in the same clause, with no other date between ("DOB 31 Oct 69, since 2023-03-06").
        before = re.split(r"[.!?;)\n]\s|\n", text[max(0, match.start() - 40) : match.start()])[-1]
        cues = list(_BIRTH_CUE.finditer(before))
        cue = cues[-1] if cues else None
        after = text[match.end() : match.end() + 12]
        if (cue and not _DATE.search(before, cue.end())) or re.match(r"(?i)\W*\(?(?:dob|d\.o\.b|born)\b", after):
            yield Span("DATE_OF_BIRTH", match.start(), match.end(), 0.98)


def _postcodes(text: str) -> Iterator[Span]:
    for match in _POSTCODE_SHAPES.finditer(text):
        yield Span("POSTCODE", match.start(), match.end(), 0.9)


# Two or three capitalised words: "Sarah Jones", "Maria de Souza" is left to the model.
_CAPITALISED_PAIR = re.compile(r"\b([A-Z][a-z'’-]+)((?:\s+[A-Z][a-z'’-]+){1,2})\b")


def _full_names(text: str) -> Iterator[Span]:
    """A known first name followed by a known last name, both capitalised and neither a plain word of the corpus:
    the model alone missed "engineer Sarah Jones" in a glossary's answer."""
    from corpus.pii_data import first_and_last_names

    first, last = first_and_last_names()
    plain = plain_words()
    for match in _CAPITALISED_PAIR.finditer(text):
        words = [match.group(1), *match.group(2).split()]
        given, family = words[0].casefold(), words[-1].casefold()
        if given in first and family in last and not ({given, family} & (plain | _NOT_NAME_WORDS)):
            yield Span("NAME", match.start(), match.end(), 0.9)


def rule_spans(text: str) -> list[Span]:
    """Every candidate the validators and cue rules find (overlaps not yet resolved)."""
    spans = [*_birth_dates(text), *_postcodes(text), *_full_names(text)]
    if "@" in text:
        spans += [Span("EMAIL", m.start(), m.end(), 1.0) for m in _EMAIL.finditer(text)]
    # Cheap gates first: libphonenumber's matcher costs far more than these regexes.
    if _HAS_DIGITS_6.search(text):
        spans += [*_numeric_ids(text), *_cued_identifiers(text), *_phones(text), *_ips(text)]
    if _IBAN_START.search(text):
        spans += list(_ibans(text))
    return spans


def resolve_overlaps(spans: list[Span]) -> list[Span]:
    """Keep the best of overlapping spans (score, then kind priority, then length), in text order."""
    ranked = sorted(spans, key=lambda s: (-s.score, _PRIORITY[s.kind], s.start - s.end))
    kept: list[Span] = []
    for candidate in ranked:
        if all(candidate.end <= k.start or candidate.start >= k.end for k in kept):
            kept.append(candidate)
    return sorted(kept, key=lambda s: s.start)


def _plausible(value: str, kind: str, score: float, text: str) -> bool:
    """Drop model spans of a shape the kind cannot have: a name or address with no letter; a "name" made of
    greeting or sign-off words ("Good afternoon", "Hiya"); a short all-capitals word in mixed-case text, which
    is an acronym (PUK, APN) far more often than a name."""
    if kind in ("NAME", "ADDRESS") and not re.search(r"[^\W\d_]", value):
        return False
    if kind == "POSTCODE":
        value = value.strip()
        return bool(_OTHER_POSTCODES.fullmatch(value) or _POSTCODE_SHAPES.fullmatch(value.upper()))
    if kind == "ADDRESS":
        return bool(re.search(r"\d", value)) or score >= STRONG_EVIDENCE
    if kind != "NAME":
        return True
    words = re.findall(r"[\w'’-]+", value)
    if not text.isupper() and all(w.isupper() and len(w) <= 5 for w in words):
        return False
    if all(w.casefold() in plain_words() for w in words) and score < STRONG_EVIDENCE:
        return False
    return any(word.casefold() not in _NOT_NAME_WORDS for word in words)


@cache
def plain_words() -> frozenset[str]:
    """Words of the project's template corpus that no Faker locale lists as a first or last name ("trace",
    "note", "data", but not "will" or "grace"): as a name they need strong evidence. On the template corpus
    such words made 23 of 23 false spans at threshold 0.5 (1,800 texts)."""
    from corpus.pii_data import name_words, template_sentences

    words = {w.casefold() for text in template_sentences() for w in re.findall(r"[\w'’-]+", text)}
    return frozenset(words - name_words())


def _model_spans(texts: Sequence[str], prefilter: bool = True) -> list[list[Span]]:
    """The model's plausible spans per text. With `prefilter`, the model reads only the sentences of each text
    that corpus/pii_filter.py says can hold one of its kinds (a short one with the sentence before it)."""
    from corpus.pii_model import tagger

    chunks = [model_chunks(text) if prefilter else [(0, len(text))] for text in texts]
    pieces = list(dict.fromkeys(text[s:e] for text, spans in zip(texts, chunks, strict=True) for s, e in spans))
    found = dict(zip(pieces, tagger().spans(pieces), strict=True)) if pieces else {}
    out = []
    for text, text_chunks in zip(texts, chunks, strict=True):
        spans = [
            Span(s.kind, s.start + begin, s.end + begin, s.score)
            for begin, end in text_chunks
            for s in found[text[begin:end]]
        ]
        keep = [s for s in spans if s.score >= MODEL_THRESHOLD]
        out.append([s for s in keep if _plausible(text[s.start : s.end], s.kind, s.score, text)])
    return out


def find_pii_batch(texts: Sequence[str], prefilter: bool = True) -> list[list[Span]]:
    """Resolved spans per text; the model reads the whole batch at once, each distinct text once (a support
    desk's answers repeat). `prefilter=False` has the model read every sentence (the benchmark's baseline)."""
    distinct = [t for t in dict.fromkeys(texts) if t.strip()]
    model = dict(zip(distinct, _model_spans(distinct, prefilter), strict=True)) if distinct else {}
    return [_keep_towns(text, resolve_overlaps(rule_spans(text) + model.get(text, []))) for text in texts]


_TOWN_BEFORE_POSTCODE = re.compile(r",\s*([^\W\d_][^,\d]{0,40})$")


def _keep_towns(text: str, spans: list[Span]) -> list[Span]:
    """End an address before the town in "3 Wellington Terrace, Gateshead NE8 4AB": a last comma-separated part
    with no digit, right before a postcode, is the town, which is kept (the model, on a holdout ticket, ran the
    address on over it)."""
    out = list(spans)
    for i, (span, after) in enumerate(zip(spans, spans[1:], strict=False)):
        if span.kind != "ADDRESS" or after.kind != "POSTCODE" or text[span.end : after.start].strip(" ,"):
            continue
        town = _TOWN_BEFORE_POSTCODE.search(text, span.start, span.end)
        if town and town.start() > span.start:
            out[i] = Span(span.kind, span.start, town.start(), span.score)
    return out


def find_pii(text: str) -> list[Span]:
    return find_pii_batch([text])[0]


def _entity_key(kind: str, value: str) -> frozenset[str] | str:
    if kind == "NAME":
        words = re.sub(r"['’]s\b", "", value.casefold()).replace(".", " ").split()
        return frozenset(w for w in words if w not in {"mr", "mrs", "ms", "miss", "dr", "mx"})
    if kind in ("EMAIL", "ADDRESS", "POSTCODE", "DATE_OF_BIRTH"):
        return " ".join(re.sub(r"[^\w]", " ", value.casefold()).split())
    return re.sub(r"[^0-9A-Za-z]", "", value).upper()


class _Numbering:
    """Numbers entities per kind within one ticket; a name matches an earlier one it is part of."""

    def __init__(self) -> None:
        self.seen: dict[str, list[frozenset[str] | str]] = {}

    def number(self, kind: str, value: str) -> int:
        key = _entity_key(kind, value)
        known = self.seen.setdefault(kind, [])
        for i, other in enumerate(known):
            if key == other or (kind == "NAME" and key and other and (key <= other or other <= key)):
                if kind == "NAME" and other < key:
                    known[i] = key  # "Maria" first, then "Maria Lopez": remember the fuller name
                return i + 1
        known.append(key)
        return len(known)


def _apply(text: str, spans: list[Span], numbering: _Numbering | None) -> tuple[str, Counter]:
    counts: Counter = Counter()
    pieces, cursor = [], 0
    for span in spans:
        suffix = f"_{numbering.number(span.kind, text[span.start : span.end])}" if numbering else ""
        pieces += [text[cursor : span.start], f"<{span.kind}{suffix}>"]
        counts[PLACEHOLDERS[span.kind]] += 1
        cursor = span.end
    pieces.append(text[cursor:])
    return "".join(pieces), counts


def scrub_tickets(tickets: Sequence[Sequence[str]], prefilter: bool = True) -> list[TicketResult]:
    """Scrub many tickets (each a sequence of texts: question, answer) in one model batch."""
    flat = [text for ticket in tickets for text in ticket]
    spans = find_pii_batch(flat, prefilter)
    results, cursor = [], 0
    for ticket in tickets:
        numbering, counts, texts = _Numbering(), Counter(), []
        ticket_spans = spans[cursor : cursor + len(ticket)]
        for text, found in zip(ticket, ticket_spans, strict=True):
            scrubbed, text_counts = _apply(text, found, numbering)
            texts.append(scrubbed)
            counts.update(text_counts)
        results.append(TicketResult(texts, counts, ticket_spans))
        cursor += len(ticket)
    return results


def scrub_ticket(*texts: str) -> TicketResult:
    return scrub_tickets([texts])[0]


def scrub(text: str) -> ScrubResult:
    """One text with no ticket around it: placeholders carry the kind only (<NAME>)."""
    scrubbed, counts = _apply(text, find_pii(text), None)
    return ScrubResult(scrubbed, counts)
