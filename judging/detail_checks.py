"""Transparent checks of a candidate answer against the reference: wrong details, non-answers, degeneration.

Each check is a short rule a reader can verify by hand, returning a count or a fraction, so a low score
from the correctness judge can always be traced to the sentence and word that caused it:

- numbers: a figure, code or address in the candidate that neither the reference nor the question has
  (``48 hours`` where the reference says ``24 hours``, ``**21*`` for ``**61*``), compared as values: ``ten``
  and ``10``, ``7.20`` and ``7.2``, ``1,000`` and ``1000``, ``0091`` and ``00 91`` are the same figure;
- menu paths: a segment of an ``A > B > C`` path most of whose words the reference never uses;
- polarity: a switch the candidate turns the other way (on/off, enable/disable, activate/deactivate,
  allow/block) in the same context words as the reference, and a leading yes/no that flips the reference's;
- risky actions: advice that hands over a secret, switches off a protection, destroys data, stops a payment,
  delays an urgent step or trusts unofficial software, unless the reference or the question names the same
  action; advice *against* an action ("never share your PIN") is no recommendation of it;
- refusal and boilerplate phrases, for answers that decline or do not address the problem;
- degeneration: repeated word trigrams (loops) and an answer that stops mid-sentence.

They catch contradictions, not omissions: an answer that leaves a detail out is judged by the similarity
features instead.
"""

from __future__ import annotations

import re

from judging import text_features as tf

NUMBER_WORDS = {
    "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
    "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14", "fifteen": "15",
    "sixteen": "16", "eighteen": "18", "twenty": "20", "thirty": "30", "forty": "40", "fifty": "50",
    "sixty": "60", "seventy": "70", "eighty": "80", "ninety": "90", "hundred": "100",
}  # fmt: skip
# "one" is left out: far more often a pronoun ("the one you use", "one last time") than a figure.
_NUMBER = re.compile(r"\d+(?:[.:]\d+)*|\b(?:" + "|".join(NUMBER_WORDS) + r")\b", re.IGNORECASE)
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
# Digit groups written with spaces between them (phone numbers, dialling prefixes).
_DIGIT_RUN = re.compile(r"\d+(?: \d+)+")
# A list marker starts a line, or follows a sentence's end when a list has been run into one paragraph
# ("... at busy times. 2. Report the location").
_LIST_NUMBER = re.compile(r"(?:^|(?<=[.!?:] ))[ \t]*\d{1,2}[.)]\s", re.MULTILINE)
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
# "on" and "off" are mostly prepositions or particles ("on your phone", "kick off anyone"); either is a switch
# position only near one of these words and not before a determiner ("left on the device").
_SWITCH_VERBS = frozenset("turn turned turning turns switch switched switching switches toggle set keep leave left "
                          "stays stay is are be put".split())
_DETERMINERS = frozenset("the a an your my our their this that these those both each every any all his her its".split())
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

# What a risky instruction does, each as a pattern whose last word names the object put at risk. A support
# answer can harm a customer in these ways: hand a secret to someone, switch off a protection, destroy data,
# stop or reverse a payment (the account falls into arrears), put off an urgent step, trust unofficial software,
# or damage the device.
_SECRET = (r"(?:password|passcode|pin|puk|code|card number|card details|cvv|security code|login|username|"
           r"apple id|bank details|expiry date|qr code|passport)s?")
_PROTECTION = (r"(?:firewall|security|protection|screen lock|pin lock|sim pin|spend cap|spending cap|content lock|"
               r"barring|encryption|two-factor|2fa|antivirus|password)")
_RISKY_PATTERNS = {
    # Handing a secret to someone: verbs with a recipient ("enter the code" into the phone is no disclosure, nor
    # "we'll email you a QR code", which goes the other way).
    "disclose": (rf"\b(?:share|give|tell|read(?: out| back)?|send|post|email|text|reply with|hand over)\b"
                 rf"(?!\s+you\b)(?:\s+[^\s.]+){{0,5}}?\s+{_SECRET}\b"),
    "unprotect": (rf"\b(?:disable|deactivate|remove|lift|delete|switch off|turn off)\s+(?:[^\s.]+\s+){{0,3}}?"
                  rf"{_PROTECTION}\b|\b(?:switch|turn|set|leave)\s+(?:[^\s.]+\s+){{0,3}}?{_PROTECTION}\s+"
                  rf"(?:off|to open)\b|\bopen \(no password\)|\b(?:no|without a) password\b"),
    "destroy": (r"\bfactory reset\b|\b(?:delete|erase|wipe|remove)\s+(?:[^\s.]+\s+){0,3}?(?:esim|sim|data|"
                r"account|backups?|contacts|photos|profile|phone)\b|\bwithout (?:backing (?:\w+ )?up|a backup)\b"),
    "payment": (r"\b(?:stop|cancel)\s+(?:[^\s.]+\s+){0,3}?(?:paying|payments?|direct debit|contract|number)\b|"
                r"\bcharge ?backs?\b|\bcharge (?:\w+ ){0,3}back\b"),
    "delay": r"\bwait\b[^.]{0,40}?\bbefore\b[^.]{0,25}?\b(?:block|report|lock|cancel|freez|call)\w*",
    "unofficial": (r"\b(?:third-party|unofficial|unknown|untrusted)\s+(?:[^\s.]+\s+)?(?:website|site|app|tool|"
                   r"software|source|download)\b|\bjailbreak\w*|\broot(?:ing)? (?:your|the) (?:phone|device)\b"),
    "damage": (r"\b(?:open|take)\s+(?:\w+\s+){0,3}(?:apart|case)\b|\b(?:bleach|throw (?:it |the \w+ )?away)\b|"
               r"\bignore\s+(?:\w+\s+){0,2}(?:warning|security|alert)s?\b"),
}  # fmt: skip
_RISKY = {kind: re.compile(pattern, re.IGNORECASE) for kind, pattern in _RISKY_PATTERNS.items()}
# Advice against an action ("never share", "don't cancel", "do not give") recommends nothing: a negation among the
# few words before the action's verb turns the match off.
_ADVISED_AGAINST = re.compile(r"(?:\b(?:never|not|no|avoid|without)\b|n't)(?:\s+\S+){0,3}\s*$", re.IGNORECASE)


def _value(figure: str) -> str:
    """One spelling per value: number words as digits, decimals without trailing zeros ("7.20" is "7.2")."""
    figure = NUMBER_WORDS.get(figure.lower(), figure)
    if re.fullmatch(r"\d+\.\d+", figure):
        figure = figure.rstrip("0").rstrip(".")
    return figure


def numbers(text: str) -> set[str]:
    """Figures, codes and addresses as digit strings ("eight-digit" gives "8"; "0800 123 456" gives three);
    the numbers of a numbered list are layout, not figures."""
    text = _THOUSANDS.sub("", _LIST_NUMBER.sub("", text))
    return {_value(match) for match in _NUMBER.findall(text)}


def _joined_runs(text: str) -> dict[str, set[str]]:
    """Digit groups separated by single spaces, joined ("0300 123 4567" gives "03001234567"), with their parts."""
    return {run.replace(" ", ""): set(run.split(" ")) for run in _DIGIT_RUN.findall(_THOUSANDS.sub("", text))}


def unknown_numbers(candidate: str, reference: str, question: str) -> int:
    """Figures in the candidate that neither the reference nor the question states, compared as values and
    with spaced digit groups compared joined ("0091" matches "00 91")."""
    known = numbers(reference) | numbers(question) | set(_joined_runs(reference)) | set(_joined_runs(question))
    unknown = numbers(candidate) - known
    for whole, parts in _joined_runs(candidate).items():
        if whole in known:
            unknown -= parts
    return len(unknown)


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


# A path segment counts as known when at least this share of its content words occur in the reference or the
# question: "Mobile Data Options" against a reference naming "Mobile Data Network" is the same place half-way.
KNOWN_SEGMENT_SHARE = 0.5


def unknown_menu_segments(candidate: str, reference: str, question: str) -> int:
    """Path segments of the candidate most of whose content words the reference and the question never use."""
    known = content_words(reference) | content_words(question)
    count = 0
    for segment in menu_segments(candidate):
        words = content_words(segment)
        if words and len(words & known) / len(words) < KNOWN_SEGMENT_SHARE:
            count += 1
    return count


def polar_mentions(text: str, window: int = 5, strict: bool = True) -> list[tuple[int, set[str]]]:
    """(+1 on / -1 off, context words) for every switch word in the text. `strict=False` also reads a bare "off"
    and an "on" before a determiner as switch positions: the reference's side of a comparison, so that a
    candidate's switch is checked against every position the reference might state."""
    toks = tokens(text)
    mentions = []
    for i, tok in enumerate(toks):
        sign = _POLAR_VERBS.get(tok)
        if sign is None and tok in ("on", "off"):
            near = toks[max(0, i - 4) : i] + toks[i + 1 : i + 2]
            following = toks[i + 1] if i + 1 < len(toks) else ""
            verb_near = any(t in _SWITCH_VERBS for t in near)
            if (verb_near and following not in _DETERMINERS) if strict else (tok == "off" or verb_near):
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
    ref = polar_mentions(reference, strict=False)
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
    """Risky actions the text recommends, as "kind object" ("disclose pin", "payment debit")."""
    found = set()
    for kind, pattern in _RISKY.items():
        for match in pattern.finditer(text):
            if _ADVISED_AGAINST.search(text[max(0, match.start() - 40) : match.start()]):
                continue
            found.add(f"{kind} {match.group(0).lower().split()[-1]}")
    return found


def new_risky_actions(candidate: str, reference: str, question: str = "") -> int:
    """Risky actions the candidate recommends that neither the reference nor the question mentions: a customer
    who asks how to cancel a contract may be told how to."""
    return len(risky_actions(candidate) - risky_actions(reference) - risky_actions(question))


def truncated(text: str) -> bool:
    """Stops mid-sentence: no terminal punctuation (quotes and brackets after it allowed) at the end."""
    stripped = text.rstrip().rstrip("\"')]”’")
    return bool(stripped) and stripped[-1] not in ".!?"


def looping(text: str) -> bool:
    """Fewer than 60% distinct word trigrams; written answers measured here stay above 0.9."""
    return len(tf.words(text)) >= 6 and tf.non_repetition(text) < 0.6
