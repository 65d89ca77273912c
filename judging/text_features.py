"""Transparent surface features of an answer, each a quality in [0, 1], for the offline judge's form criteria.

These measure form, not truth: a fluent wrong answer scores well here and is caught by relevance.
Each function is short enough to read in full, so a score can always be traced to its cause.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_VOWEL = re.compile(r"[aeiouy]", re.IGNORECASE)
_TRIPLE_LETTER = re.compile(r"([a-z])\1\1", re.IGNORECASE)
_LIST_ITEM = re.compile(r"^\s*(?:\d+[.)]|[-*\u2022])\s+", re.MULTILINE)
_CLEAN_CHARS = re.compile(r"[A-Za-z0-9\s.,;:!?'\"()\-/%&@+#*$\u2022\u2013\u2014\u2019]")
_POLITE = re.compile(
    r"\b(please|thank|thanks|sorry|happy to|glad to|you can|we can|let us know|feel free|help you)\b",
    re.IGNORECASE,
)
_SECOND_PERSON = re.compile(r"\b(you|your|you're|you'll)\b", re.IGNORECASE)
# An answer that addresses the grader instead of the customer is a style defect, whatever it asks for. "Ignore"
# alone is no sign of it: "ignore the message" is sound advice to a customer.
_GRADER_TALK = re.compile(
    r"\b(rubric|evaluator|grader|judge|ignore (?:all |any |the |your )?(?:previous|prior|above|earlier) ?\w*"
    r"|ignore (?:all|any|the|your) (?:instructions|rules|criteria)"
    r"|give (?:me |this |it )?(?:a )?(?:5|five|full marks))\b",
    re.IGNORECASE,
)
# The verbs support answers instruct with. Instructions speak to the customer as much as "you" does: a sentence
# that starts with one (after "first", "then", "please" ...) is an imperative addressed to them.
INSTRUCTION_VERBS = frozenset(
    "add allow ask back block buy call cancel change check choose clear click close confirm connect contact copy "
    "delete dial disable download enable end enter find follow forget give go hang head hold insert install keep "
    "leave log look make move open order pair pay pick plug power press put reboot register reinsert remove "
    "re-enter reinstall renew reply report request reset restart restore return run save scan select send set "
    "sign start stop swap switch take tap test text toggle try turn type unlock unplug update upgrade use visit "
    "wait forward drop eject wipe scan accept ring buy share tell erase note write print reconnect disconnect "
    "transfer withhold hide apply tick untick uncheck swipe avoid mute unmute activate deactivate unblock permit "
    "deny".split()
)
_INSTRUCTION_LEAD = re.compile(r"^(?:(?:and|then|first(?:ly)?|next|after(?:wards| that| this)?|finally|lastly|now|"
                               r"also|second(?:ly)?|third(?:ly)?|last|please|just|simply|begin by|start by|to (?:start|"
                               r"begin|finish)|step \d+:?)\b[\s,]*)+", re.IGNORECASE)


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text.strip()) if s]


def wordlike_fraction(text: str) -> float:
    """Share of words that could be English: a vowel, no triple letters, a plausible length."""
    ws = words(text)
    if not ws:
        return 0.0
    ok = sum(1 for w in ws if _VOWEL.search(w) and not _TRIPLE_LETTER.search(w) and len(w) <= 18)
    return ok / len(ws)


def clean_char_fraction(text: str) -> float:
    """Share of characters that belong in a support answer (letters, digits, ordinary punctuation)."""
    if not text:
        return 0.0
    return len(_CLEAN_CHARS.findall(text)) / len(text)


def sentence_form(text: str) -> float:
    """Share of sentences that start with a capital (or digit) and end with terminal punctuation."""
    parts = sentences(text)
    if not parts:
        return 0.0
    ok = sum(1 for s in parts if s[0].isupper() or s[0].isdigit() or _LIST_ITEM.match(s))
    ends = 1.0 if text.rstrip()[-1:] in ".!?" else 0.5
    return ok / len(parts) * ends


def non_repetition(text: str) -> float:
    """Distinct word trigrams over all trigrams: degenerate generation repeats itself."""
    ws = [w.lower() for w in words(text)]
    if len(ws) < 3:
        return 1.0 if ws else 0.0
    trigrams = list(zip(ws, ws[1:], ws[2:], strict=False))
    return len(set(trigrams)) / len(trigrams)


def length_fit(text: str, low: int = 12, high: int = 180) -> float:
    """1 inside the [low, high] word range a support answer needs; falls off linearly outside it."""
    n = len(words(text))
    if n < low:
        return n / low
    if n > high:
        return max(0.0, 1.0 - (n - high) / high)
    return 1.0


def sentence_length_fit(text: str) -> float:
    """Mean sentence length near 8-28 words: neither fragments nor run-ons."""
    parts = sentences(text)
    if not parts:
        return 0.0
    mean = sum(len(words(s)) for s in parts) / len(parts)
    if mean < 8:
        return mean / 8
    if mean > 28:
        return max(0.0, 1.0 - (mean - 28) / 28)
    return 1.0


def organisation(text: str) -> float:
    """Two or more finished sentences, or a list of steps: an answer with parts the customer can follow."""
    if _LIST_ITEM.search(text):
        return 1.0
    finished = [s for s in sentences(text) if s.rstrip()[-1:] in ".!?"]
    return min(1.0, len(finished) / 2)


def politeness(text: str) -> float:
    return min(1.0, len(_POLITE.findall(text)) / 2)


def instruction(clause: str) -> str:
    """The clause without its lead-in ("first", "then", "please") when it tells the reader to do something;
    else ""."""
    body = _INSTRUCTION_LEAD.sub("", clause.strip())
    first = words(body)[:1]
    return body if first and first[0].lower() in INSTRUCTION_VERBS else ""


def addresses_customer(text: str) -> float:
    """1 when the answer says "you" or tells the customer what to do (an imperative sentence or list item)."""
    if _SECOND_PERSON.search(text):
        return 1.0
    parts = [_LIST_ITEM.sub("", s) for line in text.splitlines() for s in sentences(line)]
    return 1.0 if any(instruction(p) for p in parts) else 0.0


def calm_tone(text: str) -> float:
    """Penalise shouting: runs of all-caps words and of exclamation marks. A lone all-caps word is a keyword or
    an acronym ("text STOP to 85075", "the IMEI"), not shouting."""
    ws = words(text)
    if not ws:
        return 0.0
    caps = [len(w) > 1 and w.isupper() for w in ws]
    in_run = [c and ((i > 0 and caps[i - 1]) or (i + 1 < len(caps) and caps[i + 1])) for i, c in enumerate(caps)]
    shouted = sum(1 for w, run in zip(ws, in_run, strict=True) if run and len(w) > 3)
    bangs = text.count("!")
    return max(0.0, 1.0 - shouted / len(ws) * 4 - 0.2 * max(0, bangs - 1))


def no_grader_talk(text: str) -> float:
    return 0.0 if _GRADER_TALK.search(text) else 1.0
