"""Transparent checks of a candidate answer against the reference: wrong details, non-answers, degeneration.

Each check is a short rule a reader can verify by hand, returning a count or a fraction, so a low score
from the correctness judge can always be traced to the sentence and word that caused it:

- numbers: a figure, code or address in the candidate that neither the reference nor the question has
  (``48 hours`` where the reference says ``24 hours``, ``**21*`` for ``**61*``);
- menu paths: a segment of an ``A > B > C`` path whose words the reference never uses;
- polarity: a switch the candidate turns the other way (on/off, enable/disable, activate/deactivate,
  allow/block) in the same context words as the reference, and a leading yes/no that flips the reference's;
- refusal and boilerplate phrases, for answers that decline or do not address the problem;
- degeneration: repeated word trigrams (loops) and an answer that stops mid-sentence.

They catch contradictions, not omissions: an answer that leaves a detail out is judged by the similarity
features instead.
"""

from __future__ import annotations

import re

from judging import text_features as tf

_NUMBER_WORDS = {
    "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
    "ten": "10", "eleven": "11", "twelve": "12", "fourteen": "14", "fifteen": "15", "twenty": "20",
    "thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "ninety": "90", "hundred": "100",
}  # fmt: skip
# "one" is left out: far more often a pronoun ("the one you use", "one last time") than a figure.
_NUMBER = re.compile(r"\d+(?:[.:]\d+)*|\b(?:" + "|".join(_NUMBER_WORDS) + r")\b", re.IGNORECASE)
_LIST_NUMBER = re.compile(r"^\s*\d+[.)]\s", re.MULTILINE)
_PATH = re.compile(r"[^\s>→»][^>→»\n]*?(?:\s*(?:>|→|»)\s*[^>→»\n]+)+")
_PATH_SEPARATOR = re.compile(r"\s*(?:>|→|»)\s*")
_TOKEN = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
STOPWORDS = frozenset(
    "a an the and or but if then so to of in on off at by for from with without into onto over under is are was "
    "were be been being it its this that these those you your yours we our us i my me he she they them their "
    "his her do does did done can could will would should may might must have has had not no yes than as up "
    "out all any some each every there here when where which who what how why also just only still even more "
    "most very too again once after before while until please".split()
)
# Switch words and the way they turn something: +1 on, -1 off.
_POLAR_VERBS = {
    "enable": 1, "enabled": 1, "enables": 1, "enabling": 1,
    "disable": -1, "disabled": -1, "disables": -1, "disabling": -1,
    "activate": 1, "activated": 1, "activates": 1, "activating": 1,
    "deactivate": -1, "deactivated": -1, "deactivates": -1, "deactivating": -1,
    "allow": 1, "allowed": 1, "allows": 1, "block": -1, "blocked": -1, "blocks": -1,
}  # fmt: skip
# "on" is mostly a preposition ("on your phone"); it is a switch position only near one of these words.
_SWITCH_VERBS = frozenset("turn turned turning turns switch switched switching switches toggle set keep leave left "
                          "stays stay is are be put".split())
_NEGATION = re.compile(r"\b(?:not|no|never|cannot|without|nothing|none)\b|n't\b", re.IGNORECASE)
_REFUSAL = re.compile(
    r"\b(?:(?:i'?m|i am|we'?re|we are)\s+(?:\w+\s+){0,2}(?:unable|not able|not equipped|afraid|not allowed|not in a "
    r"position)|(?:can(?:no|')t|can not|unable to|not able to)\s+(?:\w+\s+){0,2}(?:help|assist|provide|answer|make|"
    r"diagnose|troubleshoot|support)|as an ai|language model|don'?t have access)\b",
    re.IGNORECASE,
)
_BOILERPLATE = re.compile(
    r"\b(?:visit our (?:website|online help|help centre|store)|contact (?:our|the|customer|your)\s+\w+|"
    r"reach out|valued customer|thank you for (?:choosing|being|your|contacting|reaching)|thanks for (?:being|"
    r"choosing|your)|don'?t hesitate|we(?:'re| are) (?:always|committed|proud|here for you)|"
    r"(?:top|our) priority|great value|let us know if|if you have any (?:other|more|further)? ?questions|"
    r"appropriate department|relevant team|qualified professional)\b",
    re.IGNORECASE,
)

# Handing over secrets, destroying data or hardware, stopping payment, overriding security.
_RISKY = re.compile(
    r"\b(?:share|give|tell|read|send|post|email|text)\b(?:\s+\S+){0,4}?\s+(?:password|pin|puk|code|card number|"
    r"passport|qr code)s?\b|\bfactory reset\b|\b(?:stop|cancel)\s+(?:\w+\s+){0,2}(?:paying|payment|direct debit)\b|"
    r"\bignore\s+(?:\w+\s+){0,2}(?:warning|security|alert)s?\b|\b(?:open|take)\s+(?:\w+\s+){0,3}(?:apart|case)\b|"
    r"\b(?:bleach|throw (?:it |the \w+ )?away)\b|\blook into\b",
    re.IGNORECASE,
)


def numbers(text: str) -> set[str]:
    """Figures, codes and addresses as digit strings ("eight-digit" gives "8"; "0800 123 456" gives three);
    the numbers of a numbered list are layout, not figures."""
    found = set()
    for match in _NUMBER.findall(_LIST_NUMBER.sub("", text)):
        found.add(_NUMBER_WORDS.get(match.lower(), match))
    return found


def unknown_numbers(candidate: str, reference: str, question: str) -> int:
    """Figures in the candidate that neither the reference nor the question states."""
    return len(numbers(candidate) - numbers(reference) - numbers(question))


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def content_words(text: str) -> set[str]:
    return {t for t in tokens(text) if t not in STOPWORDS and len(t) > 2}


def menu_segments(text: str) -> list[str]:
    """The segments of every ``A > B > C`` path; the first keeps its last words, the last its first words."""
    segments = []
    for path in _PATH.findall(text):
        parts = _PATH_SEPARATOR.split(path.strip())
        for i, part in enumerate(parts):
            words = part.split()
            if i == 0:
                words = words[-2:]
            elif i == len(parts) - 1:
                words = words[:3]
            segments.append(" ".join(words))
    return segments


def unknown_menu_segments(candidate: str, reference: str, question: str) -> int:
    """Path segments of the candidate that share no content word with the reference or the question."""
    known = content_words(reference) | content_words(question)
    count = 0
    for segment in menu_segments(candidate):
        words = content_words(segment)
        if words and not words & known:
            count += 1
    return count


def polar_mentions(text: str, window: int = 5) -> list[tuple[int, set[str]]]:
    """(+1 on / -1 off, context words) for every switch word in the text."""
    toks = tokens(text)
    mentions = []
    for i, tok in enumerate(toks):
        sign = _POLAR_VERBS.get(tok)
        if sign is None and tok in ("on", "off"):
            near = toks[max(0, i - 4) : i] + toks[i + 1 : i + 2]
            if tok == "off" or any(t in _SWITCH_VERBS for t in near):
                sign = 1 if tok == "on" else -1
        if sign is None:
            continue
        context = {
            t for t in toks[max(0, i - window) : i + window + 1]
            if t not in STOPWORDS and t not in _POLAR_VERBS and t not in _SWITCH_VERBS and len(t) > 2
        }  # fmt: skip
        mentions.append((sign, context))
    return mentions


def flipped_switches(candidate: str, reference: str) -> int:
    """Candidate switch words whose best-matching reference mention (most shared context words) points the
    other way, and none of the equally good matches agrees."""
    ref = polar_mentions(reference)
    flips = 0
    for sign, context in polar_mentions(candidate):
        overlaps = [(len(context & ref_context), ref_sign) for ref_sign, ref_context in ref]
        best = max((o for o, _ in overlaps), default=0)
        if best >= 1 and all(s != sign for o, s in overlaps if o == best):
            flips += 1
    return flips + _flipped_yes_no(candidate, reference)


def _flipped_yes_no(candidate: str, reference: str) -> int:
    first = [tokens(text)[:1] for text in (candidate, reference)]
    return int({first[0][0] if first[0] else "", first[1][0] if first[1] else ""} == {"yes", "no"})


def negated(sentence: str) -> bool:
    return bool(_NEGATION.search(sentence))


def refusal_phrases(text: str) -> int:
    return len(_REFUSAL.findall(text))


def boilerplate_phrases(text: str) -> int:
    return len(_BOILERPLATE.findall(text))


def risky_actions(text: str) -> set[str]:
    """Actions that can cost a customer money, access or safety, as (verb, object) words found."""
    return {" ".join(m.lower().split()[:1] + m.lower().split()[-1:]) for m in _RISKY.findall(text)}


def new_risky_actions(candidate: str, reference: str) -> int:
    """Risky actions the candidate recommends that the reference does not mention at all."""
    return len(risky_actions(candidate) - risky_actions(reference))


def truncated(text: str) -> bool:
    """Stops mid-sentence: no terminal punctuation (quotes and brackets after it allowed) at the end."""
    stripped = text.rstrip().rstrip("\"')]”’")
    return bool(stripped) and stripped[-1] not in ".!?"


def looping(text: str) -> bool:
    """Fewer than 60% distinct word trigrams; written answers measured here stay above 0.9."""
    return len(tf.words(text)) >= 6 and tf.non_repetition(text) < 0.6
