"""Grounded generation (the study's D-RAG): a scenario's pairs are written from the article chunks retrieved
for it (corpus/retrieval.py), not from the glossary alone.

Two backends, chosen like the naive ones by `corpus.backend`:

- `template` -> the extractive backend, offline and deterministic: each pair takes one retrieved chunk and asks
  either a conceptual question (what it is, why or how it works) answered with the chunk's explanatory
  sentences, or a factual one (which values, codes, steps) answered with its sentences that carry numbers,
  settings, menu paths or list items; the answer is framed the way the support desk answers (an opener, the
  extracted text, the context's advice, a closer). Nothing is invented: every sentence of the body is the
  article's.
- `litellm` -> the configured model is given the chunks and asked for K pairs that use only what they say,
  through the litellm backend's call path, cache and budget.

Every pair records the chunk ids it came from (`GroundedExpansion.pair_chunk_ids`).
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field

from corpus.articles import split_sentences
from corpus.backends import Expansion
from corpus.glossary import Glossary
from corpus.llm_calls import cached_call
from corpus.llm_expander import LitellmExpander, parse_reply
from corpus.scenarios import Scenario
from corpus.settings import CorpusConfig
from corpus.templates import CLOSERS, OPENERS, PERSONAS, TONES, _lower_first, _sentence

# Bump when the extractive question forms or answer framing change: the generator name is in the corpus hash.
EXTRACTIVE_VERSION = "extractive-v1"
GROUNDED_PROMPT_VERSION = "grounded-prompt-v1"

CONCEPTUAL_QUESTIONS = (
    "what is {term}, and how does it work?",
    "can you explain how {term} works? {situation}.",
    "why does {term} matter here? {hint}.",
    "about {term}: I don't really understand {heading_lc}. Could you explain it? {situation}.",
    "what's the idea behind {term}? {hint}.",
    "how does {term} actually work on your network? {situation}.",
)
FACTUAL_QUESTIONS = (
    "what exactly do I need to set or check for {term}? {hint}.",
    "what are the exact details on {term}, {heading_lc} in particular? {situation}.",
    "which settings, codes or limits apply to {term}? {hint}.",
    "can you give me the steps and values for {term}? {situation}.",
    "what are the specifics on {heading_lc} for {term}? {hint}.",
    "what numbers or settings should I use for {term}? {situation}.",
)
# A sentence that states a specific: a digit, a menu path, a list item, a setting written as "Name: value".
_SPECIFIC = re.compile(r"\d|>|^(?:[-*•] |\d+[.)] )|\b[A-Z][\w ]{1,30}: \S")
_LIST_ITEM = re.compile(r"(?:[-*•] |\d+[.)] )")


@dataclass
class GroundedExpansion(Expansion):
    """An Expansion that also says which chunks produced each pair (space-separated ids, one string per pair)."""

    pair_chunk_ids: list[str] = field(default_factory=list)


def _is_specific(sentence: str) -> bool:
    return bool(_SPECIFIC.search(sentence))


def extract(text: str, factual: bool, limit: int, offset: int) -> list[str]:
    """Up to `limit` sentences of a chunk in their original order: the specific ones for a factual answer, the
    explanatory ones for a conceptual answer (the other kind when the chunk has none), starting at `offset`."""
    sentences = [s.strip() for paragraph in text.split("\n\n") for s in split_sentences(paragraph) if s.strip()]
    wanted = [s for s in sentences if _is_specific(s) == factual] or sentences
    start = offset % len(wanted)
    window = wanted[start : start + limit]
    if len(window) < limit:
        window += wanted[: min(start, limit - len(window))]
    return sorted(window, key=sentences.index)


def _join_units(units: list[str]) -> str:
    """Sentences run on with a space; a list item starts a line of its own, as the article wrote it."""
    out = ""
    for unit in units:
        out += ("\n" if out and _LIST_ITEM.match(unit) else " " if out else "") + unit
    return out


class ExtractiveExpander:
    """The offline grounded backend: K pairs per scenario from its retrieved chunks, alternating the two kinds."""

    generator = EXTRACTIVE_VERSION

    def __init__(self, glossary: Glossary, chunks: dict[str, dict], retrieved: dict[str, list[str]], seed: int):
        self.terms = {t.term: t for t in glossary.terms}
        self.causes = {c.cause: c for c in glossary.causes}
        self.contexts = {x.context: x for x in glossary.contexts}
        self.chunks = chunks
        self.retrieved = retrieved
        self.seed = seed

    def expand(self, scenario: Scenario, k: int) -> GroundedExpansion:
        chunk_ids = self.retrieved.get(scenario.scenario_id, [])
        if not chunk_ids:
            return GroundedExpansion(skipped="no_chunks")
        cause, context = self.causes[scenario.cause], self.contexts[scenario.context]
        rng = random.Random(hashlib.sha256(f"{self.seed}:grounded:{scenario.scenario_id}".encode()).digest())
        out = GroundedExpansion()
        seen: set[tuple[str, str]] = set()
        for index in range(4 * k):
            if len(out.pairs) == k:
                break
            chunk_id = chunk_ids[index % len(chunk_ids)]
            chunk = self.chunks[chunk_id]
            factual = (index // len(chunk_ids)) % 2 == 1
            forms = FACTUAL_QUESTIONS if factual else CONCEPTUAL_QUESTIONS
            greeting, sign_off = rng.choice(TONES)
            persona = rng.choice(PERSONAS)
            body = rng.choice(forms).format(
                term=scenario.term,
                heading_lc=_lower_first(chunk["heading"]),
                hint=_sentence(cause.hint)[:-1],
                situation=_sentence(context.situation)[:-1],
            )
            ask = body if greeting and not persona else _sentence(body)
            question = f"{greeting}{persona}{ask} {sign_off}".strip()
            sentences = extract(chunk["text"], factual, limit=rng.choice((2, 3, 4)), offset=index // 2)
            opener = rng.choice(OPENERS).format(term=scenario.term)
            answer = f"{opener} {_join_units(sentences)}\n\n{context.advice} {rng.choice(CLOSERS)}"
            if (question, answer) in seen:
                continue
            seen.add((question, answer))
            out.pairs.append((question, answer))
            out.pair_chunk_ids.append(chunk_id)
        return out


GROUNDED_SYSTEM_PROMPT = (
    "You write training data for a telecom customer-support assistant from the operator's help articles. Each "
    "item is a realistic customer question and a helpful agent answer. Use only what the article extracts say: "
    "no facts, numbers or steps they do not contain. Vary the customers' wording, tone and background. Never "
    'include personal data. Reply with JSON only: {"pairs": [{"question": "...", "answer": "..."}, ...]}.'
)


def build_grounded_messages(glossary: Glossary, scenario: Scenario, chunks: list[dict], k: int) -> list[dict[str, str]]:
    cause = next(c for c in glossary.causes if c.cause == scenario.cause)
    context = next(x for x in glossary.contexts if x.context == scenario.context)
    extracts = "\n\n".join(f"[{c['chunk_id']}] {c['title']} - {c['heading']}\n{c['text']}" for c in chunks)
    user = (
        f"Help-article extracts:\n{extracts}\n\n"
        f"Topic: {scenario.term}. Likely cause: {cause.description}. Context: {context.description}.\n"
        f"Write {k} different question/answer pairs for this situation, answered from the extracts."
    )
    return [{"role": "system", "content": GROUNDED_SYSTEM_PROMPT}, {"role": "user", "content": user}]


class GroundedLitellmExpander:
    """The grounded litellm backend: one cached call per scenario, all its retrieved chunks in the prompt."""

    def __init__(self, caller: LitellmExpander, chunks: dict[str, dict], retrieved: dict[str, list[str]]):
        self.caller = caller
        self.chunks = chunks
        self.retrieved = retrieved
        self.generator = f"litellm:{caller.settings.model}:{GROUNDED_PROMPT_VERSION}"

    def expand(self, scenario: Scenario, k: int) -> GroundedExpansion:
        chunk_ids = self.retrieved.get(scenario.scenario_id, [])
        out = GroundedExpansion()
        if not chunk_ids:
            out.skipped = "no_chunks"
            return out
        messages = build_grounded_messages(self.caller.glossary, scenario, [self.chunks[c] for c in chunk_ids], k)
        pairs, out.skipped = cached_call(self.caller, messages, lambda text: parse_reply(text, k), out)
        out.pairs = [tuple(p) for p in pairs or []]
        out.pair_chunk_ids = [" ".join(chunk_ids)] * len(out.pairs)
        return out


def make_grounded_expander(
    cfg: CorpusConfig, glossary: Glossary, cache_root: str, chunks: dict[str, dict], retrieved: dict[str, list[str]]
) -> ExtractiveExpander | GroundedLitellmExpander:
    if cfg.backend == "litellm":
        return GroundedLitellmExpander(
            LitellmExpander(glossary, cfg.litellm, seed=cfg.seed, cache_root=cache_root), chunks, retrieved
        )
    return ExtractiveExpander(glossary, chunks, retrieved, cfg.seed)
