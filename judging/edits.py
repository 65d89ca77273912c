"""Local edits of a near-copy: what an answer that repeats the reference word for word changed in it.

A wrong answer is often the right one with one instruction changed ("turn it on" for "turn it off", another
menu, another figure, a step replaced, a harmful sentence slipped in), and its similarity to the reference is
then higher than a real paraphrase's, so closeness can only mislead. This check diffs the two texts token by
token (difflib). Changed stretches separated by fewer than ANCHOR_TOKENS equal tokens are one edit; when the
edits are at most MAX_EDITS and cover at most NEAR_COPY of the reference, the answer is a near-copy and each
edit is read on its own:

- a figure or code changed, a word swapped for its opposite (on/off, before/after, keep/drop, plus/minus, ...,
  or by a negating affix: plugged/unplugged, corded/cordless), a negation added or dropped: always a change of
  meaning;
- the same content words after normalising (number words as digits, plurals and possessives), words of the
  same everyday class (tap/select/choose, open/go to, phone/handset, router/hub) or filler and politeness
  (please, just, thanks ...) moved or added: no change;
- other replacements: a change unless the two sides mean the same to the sentence embedding (MiniLM cosine at
  least SAME_SHORT for a word or two, SAME_LONG for longer stretches, where related but different instructions
  already reach 0.6-0.7);
- a stretch added: a change when it holds an instruction, a figure, a negation or risky advice; dropped: when
  it holds an instruction, a figure or at least NEW_WORDS content words; neither when it is the same text
  moved elsewhere (a whole instruction or a stretch of MOVED_MIN_WORDS content words, or two such swapped), a
  closing line or a polite remark. Two short stretches swapped within a sentence, or the same words in another
  order, swap roles ("the modem first, then the box"; "sequential rather than simultaneous"): a change.

Measured on the project's holdouts (tests/fixtures/judging): one-fact-wrong answers written on the reference
have edits covering 0.01-0.35 of it, paraphrases 0.52-1.0, so a paraphrase is never read edit by edit.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass

from judging import detail_checks as dc
from judging import text_features as tf

# Words, figures with their separators ("192.168.1.254", "£2.50", "wpa2/wpa3") and single punctuation marks.
_TOKEN = re.compile(r"[a-z0-9£$€*#]+(?:[-'.,:/][a-z0-9*#]+)*|[^\sa-z0-9]")
# Fewer equal tokens than this between two changed stretches make them one edit.
ANCHOR_TOKENS = 4
# Edits covering at most this share of the reference's tokens make the answer a near-copy (see module doc) ...
NEAR_COPY = 0.45
# ... and so do at most this many edits: one wrong instruction is one to three edits (a figure given twice, a
# word and its echo), while an answer built from the same sentences in another order and other joins (as the
# corpus's own template answers are) makes five to ten.
MAX_EDITS = 3
# MiniLM cosine at which two replaced stretches mean the same. Measured here: synonyms of a word or two
# (restart/reboot 0.85, problem/issue 0.83, usually/normally 0.79, phone/handset 0.60) against different menu
# items and objects (Mobile data/Calls 0.26, Security/Guest Wi-Fi 0.17, green Phone/yellow LAN 0.33), but single
# words of different actions come close too (restart/reset 0.75), so a short stretch needs 0.8 (or SAME_CLASS);
# longer stretches of different instructions reach 0.6-0.7 (another place for a booster 0.70, another PUK step
# 0.60).
SAME_SHORT = 0.8
SAME_LONG = 0.85
SHORT_WORDS = 2
# A dropped stretch with this many content words carries information of its own.
NEW_WORDS = 3
# ... unless it is a support desk's closing line of at most this many content words.
CLOSING_WORDS = 6
# A stretch is the same text moved when this share of its content words is what the other edits add or drop.
MOVED_WORDS = 0.8
# Words that only soften or join ("please just do it") and change no instruction.
FILLER = frozenset(
    "please just simply also now kindly quickly actually really first thanks thank sure okay ok then and or "
    "so well still again back".split()
)
# Words a support answer uses interchangeably: a swap inside one class is a rewording.
SAME_CLASS = tuple(
    frozenset(group.split())
    for group in (
        "tap select choose pick press click hit", "open go head navigate", "check ensure make verify confirm look",
        "turn switch toggle set", "restart reboot", "phone handset device mobile", "router hub modem",
        "problem issue fault", "contact call ring phone", "wait give", "remove take", "fix sort solve resolve",
        "usually normally often typically", "screen display", "menu page screen section", "app application",
        "ask request", "likely probable", "few several", "remember recall", "help assist", "quick fast",
    )
)  # fmt: skip
# Everyday phrases (their content words) and the one word they stand for, so that "bear in mind" for "remember"
# or "get in touch with" for "contact" is a word of one class, not a replaced stretch.
PHRASES = {("bear", "mind"): "remember", ("get", "touch"): "contact"}
# Words and their opposites: either swapped for the other turns an instruction round.
OPPOSITES = {
    frozenset(pair.split("/"))
    for pair in (
        "on/off enable/disable enabled/disabled allow/block allow/deny allowed/blocked allowed/denied before/after "
        "add/remove keep/drop keep/remove keep/delete include/exclude included/excluded plus/minus more/less "
        "higher/lower increase/decrease increase/reduce up/down always/never can/can't can/cannot must/needn't "
        "same/different open/close opened/closed start/stop lock/unlock locked/unlocked show/hide visible/hidden "
        "accept/decline accept/reject public/private connect/disconnect connected/disconnected plug/unplug "
        "install/uninstall subscribe/unsubscribe activate/deactivate mute/unmute tick/untick ticked/unticked "
        "check/uncheck checked/unchecked first/last minimum/maximum inside/outside near/far closest/furthest "
        "nearest/furthest yes/no upload/download incoming/outgoing send/receive automatic/manual "
        "automatically/manually "
        "with/without will/won't is/isn't are/aren't does/doesn't do/don't should/shouldn't need/needn't "
        "has/hasn't"
    ).split()
}  # fmt: skip
_NEGATION = frozenset("not no never cannot can't don't doesn't won't isn't aren't shouldn't needn't without".split())
NEGATING_PREFIXES = ("un", "dis", "non", "in", "im")
# A stretch dropped here and added there is the same text moved (a sentence or clause in another place, which
# changes nothing) when it is a whole instruction or holds at least this many content words; shorter stretches swapped
# within a sentence swap roles ("power cycle the box first, then the modem" as "the modem first, then the box").
MOVED_MIN_WORDS = 3


@dataclass(frozen=True)
class Edit:
    """One changed stretch: the reference's tokens it replaces and the candidate's tokens in their place."""

    removed: tuple[str, ...]
    added: tuple[str, ...]

    @property
    def removed_text(self) -> str:
        return " ".join(self.removed)

    @property
    def added_text(self) -> str:
        return " ".join(self.added)


def tokens(text: str) -> list[str]:
    """Lower-cased tokens without list markers ("1. ", "2) "): a list retold as bullets changes no figure."""
    return _TOKEN.findall(dc.LIST_NUMBER.sub(" ", text).lower().replace("’", "'"))


def near_copy_edits(reference: str, candidate: str) -> list[Edit] | None:
    """The edits that turn the reference into the candidate, or None when the candidate is no near-copy (its
    edits cover more than NEAR_COPY of the reference: a rewording, judged by the other checks)."""
    ref, cand = tokens(reference), tokens(candidate)
    if not ref:
        return None
    spans: list[list[int]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, ref, cand, autojunk=False).get_opcodes():
        if tag == "equal" and i2 - i1 >= ANCHOR_TOKENS:
            spans.append([])
        elif spans and spans[-1]:
            spans[-1][1], spans[-1][3] = i2, j2
        else:
            spans.append([i1, i2, j1, j2])
    spans = [s for s in spans if s]
    if len(spans) > MAX_EDITS or sum(i2 - i1 for i1, i2, _, _ in spans) > NEAR_COPY * len(ref):
        return None
    edits = [Edit(tuple(ref[i1:i2]), tuple(cand[j1:j2])) for i1, i2, j1, j2 in spans]
    return [e for e in edits if e.removed != e.added]


def _normal(token: str) -> str:
    token = dc.NUMBER_WORDS.get(token, token).removesuffix("'s")
    return token[:-1] if len(token) > 3 and token.endswith("s") and not token.endswith("ss") else token


def _content(words: tuple[str, ...]) -> list[str]:
    content = [_normal(w) for w in words if w[0].isalnum() and w not in dc.STOPWORDS and w not in FILLER]
    for phrase, word in PHRASES.items():
        for i in range(len(content) - len(phrase) + 1):
            if tuple(content[i : i + len(phrase)]) == phrase:
                content[i : i + len(phrase)] = [word]
                break
    return content


def _figures(words: tuple[str, ...]) -> list[str]:
    return sorted(_normal(w) for w in words if any(ch.isdigit() for ch in _normal(w)) or w[:1] in "*#")


def _same_class(removed: list[str], added: list[str]) -> bool:
    """Each side's words pair up with the other's as equals or words of one class."""
    if len(removed) != len(added):
        return False
    return all(a == b or any({a, b} <= group for group in SAME_CLASS) for a, b in zip(removed, added, strict=True))


def affix_opposites(a: str, b: str) -> bool:
    """Words made opposites by a negating prefix or suffix: plugged/unplugged, blocked/unblocked,
    active/inactive, corded/cordless, wired/wireless."""
    for word, other in ((a, b), (b, a)):
        if any(word == prefix + other for prefix in NEGATING_PREFIXES if len(other) >= 4):
            return True
        stem = word.removesuffix("less")
        if stem != word and len(stem) >= 3 and other.startswith(stem) and not other.endswith("less"):
            return True
    return False


def opposite_swapped(edit: Edit) -> bool:
    """A word of the removed side swapped for its opposite (from OPPOSITES or by its affixes), or a negation
    added or dropped."""
    removed, added = set(edit.removed), set(edit.added)
    swapped = [(a, b) for a in removed - added for b in added - removed]
    if any(frozenset((a, b)) in OPPOSITES or affix_opposites(a, b) for a, b in swapped):
        return True
    return len(removed & _NEGATION) != len(added & _NEGATION)


def _instruction(words: tuple[str, ...]) -> bool:
    return any(w in tf.INSTRUCTION_VERBS for w in words)


def texts_to_embed(reference: str, candidate: str) -> list[str]:
    """The replaced stretches `changed_details` may compare, so a batch can embed them first."""
    return [text for e in near_copy_edits(reference, candidate) or [] if e.removed and e.added
            for text in (e.removed_text, e.added_text)]  # fmt: skip


def changes_meaning(edit: Edit, similarity: Callable[[str, str], float], others: tuple[Edit, ...] = ()) -> bool:
    """Whether one edit of a near-copy changes what the answer tells the customer (see the module doc). `others`
    are the answer's other edits: a stretch dropped here and added there (a sentence moved, two swapped) or a
    figure given in another place changes nothing."""
    elsewhere_added = tuple(t for other in others for t in other.added)
    elsewhere_removed = tuple(t for other in others for t in other.removed)
    # A whole instruction moved, however short ("Restart the router."), is a sentence in another place too.
    sentence = any(t in (".", "!", "?") for t in edit.removed + edit.added) and _instruction(edit.removed + edit.added)
    long = max(len(_content(edit.removed)), len(_content(edit.added))) >= MOVED_MIN_WORDS or sentence
    if others and long and _found_in(edit.removed, elsewhere_added) and _found_in(edit.added, elsewhere_removed):
        return False
    lost = set(_figures(edit.removed)) - set(_figures(edit.added + elsewhere_added))
    gained = set(_figures(edit.added)) - set(_figures(edit.removed + elsewhere_removed))
    if lost or gained or opposite_swapped(edit):
        return True
    removed, added = _content(edit.removed), _content(edit.added)
    # The same words in another order swap roles ("simultaneous rather than sequential"); in the same order they
    # only lost or gained filler.
    if removed == added or _same_class(removed, added):
        return False
    if sorted(removed) == sorted(added):
        return True
    if not removed or not added:
        words = edit.added if added else edit.removed
        text = " ".join(words)
        # A closing line ("contact us if you have any other questions") gives no instruction of the fix.
        closing = dc.boilerplate_phrases(text) > 0 and len(removed or added) <= CLOSING_WORDS
        polite = tf.politeness(text) > 0 and not _instruction(words)
        # An added sentence matters when it tells the customer to do something (a harmful step slipped in); an
        # added remark ("we're here if you need anything else") does not. A dropped stretch matters when it held
        # an instruction or a condition of some length ("with other devices disconnected").
        substantial = _instruction(words) or (not added and len(removed) >= NEW_WORDS)
        return bool(dc.risky_actions(text)) or (substantial and not (closing or polite))
    short = max(len(removed), len(added)) <= SHORT_WORDS
    return similarity(edit.removed_text, edit.added_text) < (SAME_SHORT if short else SAME_LONG)


def changed_details(reference: str, candidate: str, similarity: Callable[[str, str], float]) -> int:
    """Edits of a near-copy of the reference that change its meaning; 0 for an answer that is no near-copy.
    A stretch moved elsewhere is no change here: the order of steps is judged by
    `detail_checks.reversed_steps`."""
    edits = near_copy_edits(reference, candidate)
    if not edits:
        return 0
    return sum(changes_meaning(edit, similarity, tuple(edits[:k] + edits[k + 1 :])) for k, edit in enumerate(edits))


def _found_in(words: tuple[str, ...], pool: tuple[str, ...]) -> bool:
    """Most (MOVED_WORDS) of the stretch's content words are in the pool; an empty stretch always is."""
    content = set(_content(words))
    return not content or len(content & set(_content(pool))) / len(content) >= MOVED_WORDS
