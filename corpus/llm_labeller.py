"""The litellm conceptual/factual labeller: pairs go to the configured model in batches, labels come back as
JSON, each batch's reply is cached. Pairs whose batch fails (budget, call errors, a reply that stays malformed)
are labelled by the offline classifier instead, and counted, so every row has a label and the manifest says
which labeller gave it."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from common import llm
from corpus.backends import Expansion
from corpus.kind import KINDS, offline_classifier
from corpus.llm_calls import cached_call
from corpus.llm_expander import LitellmExpander

# Bump when the prompt changes: part of the labeller's identity, hence of the corpus hash and cache keys.
LABEL_PROMPT_VERSION = "kind-prompt-v1"
BATCH = 20
SYSTEM_PROMPT = (
    "You label question/answer pairs from a telecom customer-support corpus. Label a pair 'conceptual' when it "
    "explains why or how something works, or what something is (a mechanism, a reason, a purpose, a difference). "
    "Label it 'factual' when it states specific facts: numbers, prices, limits, durations, codes, settings and "
    "their values, menu paths, or the exact steps and values to enter. Reply with JSON only: "
    '{"labels": ["conceptual" or "factual", ...]}, one label per pair, in the order given.'
)


def build_messages(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    listing = "\n\n".join(f"Pair {i}:\nQ: {q}\nA: {a}" for i, (q, a) in enumerate(pairs, 1))
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": listing}]


def parse_labels(text: str, n: int) -> list[str] | None:
    """Exactly `n` labels from a reply (code fences and surrounding prose tolerated), else None."""
    try:
        data = llm.loads_repaired(text)
    except json.JSONDecodeError:
        return None
    labels = data.get("labels") if isinstance(data, dict) else data
    if not isinstance(labels, list) or len(labels) != n:
        return None
    labels = [str(label).strip().lower() for label in labels]
    return labels if all(label in KINDS for label in labels) else None


class LitellmKindLabeller:
    def __init__(self, caller: LitellmExpander):
        self.caller = caller
        self.identity = f"litellm:{caller.settings.model}:{LABEL_PROMPT_VERSION}"

    def label(self, questions: list[str], answers: list[str]) -> tuple[list[str], dict[str, Any]]:
        """A label per pair, and what it took: calls, cache hits, tokens, cost, pairs the fallback labelled."""
        pairs = list(zip(questions, answers, strict=True))
        batches = [pairs[i : i + BATCH] for i in range(0, len(pairs), BATCH)]

        def one(batch: list[tuple[str, str]]) -> tuple[list[str] | None, Expansion]:
            stats = Expansion()
            labels, _ = cached_call(self.caller, build_messages(batch), lambda t: parse_labels(t, len(batch)), stats)
            return labels, stats

        with ThreadPoolExecutor(self.caller.settings.max_concurrency) as pool:
            results = list(pool.map(one, batches))
        labels: list[str] = []
        summary = {"calls": 0, "cache_hits": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}
        failed: list[int] = []
        for batch, (batch_labels, stats) in zip(batches, results, strict=True):
            for key in summary:
                summary[key] += getattr(stats, key)
            if batch_labels is None:
                failed.extend(range(len(labels), len(labels) + len(batch)))
                batch_labels = [""] * len(batch)
            labels.extend(batch_labels)
        if failed:
            fallback = offline_classifier().predict([questions[i] for i in failed], [answers[i] for i in failed])
            for index, label in zip(failed, fallback, strict=True):
                labels[index] = label
        summary["offline_fallback"] = len(failed)
        return labels, summary
