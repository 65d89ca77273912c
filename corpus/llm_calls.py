"""Cached, budgeted litellm calls for the corpus stages beyond expansion (grounded generation, kind labels).

Each goes through the litellm backend's own call path (`LitellmExpander._call`: retries with backoff on
transient errors, litellm's token and cost accounting, the shared budget cap) and its cache directory and
keys, so a rerun with the same inputs makes no calls. A malformed reply is asked for once more under a fresh
key; the parsed reply (or None) is what gets cached.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import litellm

from common import atomic, llm
from corpus.backends import Expansion
from corpus.llm_expander import LitellmExpander


def cached_call(
    caller: LitellmExpander, messages: list[dict[str, str]], parse: Callable[[str], Any], stats: Expansion
) -> tuple[Any, str | None]:
    """(parsed reply, None), or (None, why: "budget", "call_failed", "malformed_reply"); counts go to `stats`."""
    for attempt in range(2):
        cache_file = caller.cache_dir / f"{caller.cache_key(messages, attempt)}.json"
        if cache_file.is_file():
            stats.cache_hits += 1
            parsed = json.loads(cache_file.read_text())["reply"]
        else:
            if caller._over_budget():
                return None, "budget"
            try:
                text = caller._call(messages, stats)
            except (*llm.retryable_errors(), litellm.APIError):
                return None, "call_failed"
            parsed = parse(text)
            atomic.write_json(cache_file, {"model": caller.settings.model, "reply": parsed})
        if parsed is not None:
            return parsed, None
    return None, "malformed_reply"
