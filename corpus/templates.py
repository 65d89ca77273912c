"""Offline, deterministic expansion: varied customer questions and informative agent answers from the glossary.

Each pair picks a distinct combination of question phrasing, persona, tone, answer structure, opener and
closer, so 19 pairs per scenario never repeat; every answer carries the term's definition, the
cause-specific fix steps and the context's advice, because these answers are both fine-tuning targets
and the reference an embedding-similarity judge compares against.
"""

from __future__ import annotations

import hashlib
import random

from corpus.backends import Expansion
from corpus.glossary import Cause, Context, Glossary, Term
from corpus.scenarios import Scenario

# Bump when any template text changes: it is part of the corpus hash, so old corpora are rebuilt.
TEMPLATE_VERSION = "template-v1"

PERSONAS = (
    "",
    "I'm not very technical, so please keep it simple. ",
    "I'm a student and on a tight budget. ",
    "I work from home and rely on this every day. ",
    "I'm retired and my grandson usually helps me with the phone. ",
    "I run a small shop and customers call me on this number. ",
    "I'm a nurse on night shifts, so I need this sorted quickly. ",
    "I manage the family plan for my kids. ",
    "I've been a customer for over ten years. ",
    "I only switched to you last month. ",
    "I use my phone for work calls all day. ",
    "I'm writing for my elderly mother who is on my account. ",
)

TONES = (
    ("", "Thanks in advance."),
    ("Hi there, ", "Could you help me, please?"),
    ("This is really frustrating. ", "I need this fixed today."),
    ("Quick question: ", "What should I do?"),
    ("Sorry if this is a silly question, but ", "I'm a bit lost here."),
)

QUESTIONS = (
    "my {term} is not working. {hint}. {situation}.",
    "I'm having trouble with {term}. {situation}, and {hint_lc}.",
    "what is going on with my {term}? {hint}. {situation}.",
    "can you explain why {term} stopped working for me? {situation}. {hint}.",
    "{situation}. Since yesterday {term} has been a problem and {hint_lc}.",
    "how do I fix a {term} problem? {hint}. {situation}.",
    "is there something wrong with {term} on your side? {situation}, and {hint_lc}.",
    "I don't really understand {term}, and now it seems broken. {hint}. {situation}.",
    "{term} keeps failing on my line. {situation}. {hint}.",
    "my partner says the problem is {term}. {hint}. {situation}.",
    "I need help with {term} urgently. {situation}; {hint_lc}.",
    "why does {term} not work for me? {situation}. Also, {hint_lc}.",
    "could you check {term} on my account? {hint}. {situation}.",
    "what can I do about {term}? {situation}. {hint}.",
    "I tried everything I know with {term}. {hint}. {situation}.",
)

OPENERS = (
    "Thanks for getting in touch about {term}.",
    "I'm sorry you're having trouble with {term}.",
    "Happy to help with {term}.",
    "Good question, and it's a common one.",
    "Thanks for the details, they help narrow it down.",
    "I understand how annoying this is.",
    "Let's get {term} working again.",
    "Thanks for your patience.",
)

CLOSERS = (
    "If it still fails after these steps, reply here and we'll look at your line directly.",
    "Let us know how it goes.",
    "If none of this helps, our support team can run a network check on your number.",
    "Once that's done, everything should work as normal.",
    "Feel free to come back to us if anything is unclear.",
    "If the problem comes back, note the time and place so we can trace it.",
    "We're here if you need more help.",
    "I hope this sorts it out quickly.",
)

STEP_LEADS = (("First", "Next", "Finally"), ("To start", "Then", "Last"), ("Begin by", "After that", "Lastly"))

STRUCTURES = ("steps", "prose", "short", "explain_first")


def _capitalise(text: str) -> str:
    # Leave mixed-case names such as "eSIM" alone.
    return text if text[1:2].isupper() else text[:1].upper() + text[1:]


def _sentence(text: str) -> str:
    text = _capitalise(text.strip())
    return text + ("" if text.endswith((".", "?", "!")) else ".")


def _lower_first(text: str) -> str:
    # Acronyms ("DNS", "PUK") and the pronoun "I" keep their case.
    return text if text[1:2].isupper() or text[:2] in ("I ", "I'") else text[:1].lower() + text[1:]


def _answer(structure: str, term: Term, cause: Cause, context: Context, opener: str, closer: str, leads: tuple) -> str:
    check = f"check {term.check}"
    steps = [check, *cause.fix]
    why = f"With {term.term}, the most likely cause here is that {cause.description}."
    if structure == "steps":
        body = "\n".join(f"{i}. {_sentence(s)}" for i, s in enumerate(steps, 1))
        return f"{opener} {term.definition}\n\n{why} Please try these steps:\n{body}\n\n{context.advice} {closer}"
    if structure == "prose":
        first, nxt, last = leads
        middle = "; ".join(_lower_first(s) for s in cause.fix[:-1])
        return (
            f"{opener} {why} {term.definition} {first}, {check}. {nxt}, {middle}. "
            f"{last}, {_lower_first(cause.fix[-1])}. {context.advice} {closer}"
        )
    if structure == "short":
        return (
            f"{_capitalise(term.term)}: {term.definition} It looks like {cause.description}, so "
            f"{_lower_first(cause.fix[0])}, then {_lower_first(cause.fix[1])}. {context.advice} {closer}"
        )
    bullets = "\n".join(f"- {_sentence(s)}" for s in steps)
    return (
        f"{opener} In short: {_lower_first(term.definition)} From what you describe, {cause.description}.\n"
        f"What to do:\n{bullets}\n{context.advice} {closer}"
    )


class TemplateExpander:
    """The `template` backend: no network, no randomness beyond the seed."""

    generator = TEMPLATE_VERSION

    def __init__(self, glossary: Glossary, seed: int):
        self.seed = seed
        self.terms = {t.term: t for t in glossary.terms}
        self.causes = {c.cause: c for c in glossary.causes}
        self.contexts = {x.context: x for x in glossary.contexts}
        self.axes = (QUESTIONS, PERSONAS, TONES, STRUCTURES, OPENERS, CLOSERS, STEP_LEADS)

    def _combinations(self, scenario: Scenario, k: int) -> list[tuple[int, ...]]:
        """K index tuples over the variation axes that give K different texts, chosen by a per-scenario
        seeded draw. Axes a structure does not use are zeroed first, so two draws that differ only there
        count as the same text."""
        digest = hashlib.sha256(f"{self.seed}:{scenario.scenario_id}".encode()).digest()
        rng = random.Random(digest)
        total = 1
        for axis in self.axes:
            total *= len(axis)
        combos: dict[tuple[int, ...], None] = {}
        for flat in rng.sample(range(total), min(total, 50 * k)):
            indexes = []
            for axis in self.axes:
                flat, index = divmod(flat, len(axis))
                indexes.append(index)
            q, p, t, s, o, c, lead = indexes
            if STRUCTURES[s] != "prose":
                lead = 0
            if STRUCTURES[s] == "short":
                o = 0
            combos.setdefault((q, p, t, s, o, c, lead))
            if len(combos) == k:
                break
        return list(combos)

    def expand(self, scenario: Scenario, k: int) -> Expansion:
        term = self.terms[scenario.term]
        cause = self.causes[scenario.cause]
        context = self.contexts[scenario.context]
        pairs = []
        for q, p, t, s, o, c, lead in self._combinations(scenario, k):
            greeting, sign_off = TONES[t]
            body = QUESTIONS[q].format(
                term=term.term,
                hint=_sentence(cause.hint)[:-1],
                hint_lc=_lower_first(cause.hint),
                situation=_sentence(context.situation)[:-1],
            )
            # The body continues the greeting's sentence only when no persona sentence sits between them.
            ask = body if greeting and not PERSONAS[p] else _sentence(body)
            question = f"{greeting}{PERSONAS[p]}{ask} {sign_off}".strip()
            answer = _answer(
                STRUCTURES[s], term, cause, context, OPENERS[o].format(term=term.term), CLOSERS[c], STEP_LEADS[lead]
            )
            pairs.append((question, answer))
        return Expansion(pairs=pairs)
