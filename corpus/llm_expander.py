"""The `litellm` backend: one call per scenario asks a model for K pairs as JSON.

Replies are validated against a schema; a malformed one is repaired (code fences, surrounding prose) or
asked for once more, then the scenario is skipped and counted. Transient failures (429, 5xx, timeouts,
dropped connections) are retried with exponential backoff (common/llm.py, shared with the judges). Every
parsed reply is cached on disk under a key of model, prompt and seed, so a rerun with the same inputs makes
no calls. Tokens and cost come from litellm's own accounting, and a budget cap stops new calls once reached,
keeping what was generated.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import logging
import threading
from pathlib import Path

import litellm
from pydantic import BaseModel, Field, ValidationError

from common import atomic, llm
from corpus.backends import Expansion
from corpus.glossary import Glossary
from corpus.scenarios import Scenario
from corpus.settings import LitellmSettings

# Bump when the prompt text changes: part of the generator name, hence of the corpus hash and cache key.
PROMPT_VERSION = "prompt-v1"
# Failures retried inside a call; once retries run out they, like any other API error, skip the scenario.
_TRANSIENT = llm.retryable_errors()
# The first wait before a retry; it doubles each time, up to 30 s.
BACKOFF_SECONDS = 1.0
log = logging.getLogger(__name__)


class _Pair(BaseModel):
    question: str = Field(min_length=5)
    answer: str = Field(min_length=10)


class _Reply(BaseModel):
    pairs: list[_Pair] = Field(min_length=1)


SYSTEM_PROMPT = (
    "You write training data for a telecom customer-support assistant. Each item is a realistic customer "
    "question and a helpful, accurate agent answer. Vary the customers' wording, tone and background. "
    "Answers explain the relevant term in plain language and give concrete steps. Never include real "
    'personal data. Reply with JSON only: {"pairs": [{"question": "...", "answer": "..."}, ...]}.'
)


def build_messages(glossary: Glossary, scenario: Scenario, k: int) -> list[dict[str, str]]:
    term = next(t for t in glossary.terms if t.term == scenario.term)
    cause = next(c for c in glossary.causes if c.cause == scenario.cause)
    context = next(x for x in glossary.contexts if x.context == scenario.context)
    user = (
        f"Domain: {glossary.domain}.\n"
        f"Term: {term.term}: {term.definition} (where to look: {term.check})\n"
        f"Likely cause: {cause.cause}: {cause.description}. Fix: {'; '.join(cause.fix)}.\n"
        f"Context: {context.context}: {context.description}. {context.advice}\n"
        f"Write {k} different question/answer pairs for this situation."
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def parse_reply(text: str, k: int) -> list[tuple[str, str]] | None:
    """Pairs from a model reply, repairing the usual damage (code fences, prose around the JSON,
    a bare list); None when nothing valid can be recovered."""
    for candidate in llm.json_candidates(text):
        try:
            data = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(data, list):
            data = {"pairs": data}
        try:
            reply = _Reply.model_validate(data)
        except ValidationError:
            continue
        return [(" ".join(p.question.split()), p.answer.strip()) for p in reply.pairs[:k]]
    return None


def run_setup_hooks(hooks: tuple[str, ...]) -> None:
    """Call each "module:function" or "path/to/file.py:function" (e.g. to register a custom provider)."""
    for hook in hooks:
        target, _, attr = hook.rpartition(":")
        if target.endswith(".py"):
            spec = importlib.util.spec_from_file_location(Path(target).stem, target)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
        getattr(module, attr)()


class LitellmExpander:
    def __init__(self, glossary: Glossary, settings: LitellmSettings, seed: int, cache_root: str):
        self.glossary = glossary
        self.settings = settings
        self.seed = seed
        self.cache_dir = Path(cache_root)
        self.generator = f"litellm:{settings.model}:{PROMPT_VERSION}"
        self._lock = threading.Lock()
        self.spent_usd = 0.0
        run_setup_hooks(settings.setup_hooks)

    def cache_key(self, messages: list[dict[str, str]], attempt: int) -> str:
        material = {
            "model": self.settings.model,
            "messages": messages,
            "seed": self.seed,
            "temperature": self.settings.temperature,
            "attempt": attempt,
        }
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()

    def _over_budget(self) -> bool:
        cap = self.settings.max_cost_usd
        with self._lock:
            return cap is not None and self.spent_usd >= cap

    def _charge(self, cost: float) -> None:
        with self._lock:
            self.spent_usd += cost

    def _call(self, messages: list[dict[str, str]], expansion: Expansion) -> str:
        """One completion, retried on transient errors; adds calls, tokens and cost to `expansion`."""
        spent = expansion.cost_usd
        try:
            return llm.complete(
                self.settings.model,
                messages,
                expansion,
                max_retries=self.settings.max_retries,
                backoff_seconds=BACKOFF_SECONDS,
                api_base=self.settings.api_base,
                temperature=self.settings.temperature,
                seed=self.seed,
                timeout=self.settings.timeout_seconds,
                drop_params=True,
            )
        finally:
            self._charge(expansion.cost_usd - spent)

    def expand(self, scenario: Scenario, k: int) -> Expansion:
        expansion = Expansion()
        messages = build_messages(self.glossary, scenario, k)
        # A malformed reply gets one more try with a fresh cache key, so the retry is cached as well.
        for attempt in range(2):
            cache_file = self.cache_dir / f"{self.cache_key(messages, attempt)}.json"
            if cache_file.is_file():
                cached = json.loads(cache_file.read_text())
                expansion.cache_hits += 1
                pairs = [tuple(p) for p in cached["pairs"]] if cached["pairs"] is not None else None
            else:
                if self._over_budget():
                    expansion.skipped = "budget"
                    return expansion
                try:
                    text = self._call(messages, expansion)
                except (*_TRANSIENT, litellm.APIError) as err:
                    log.warning("scenario %s skipped: %s", scenario.scenario_id, type(err).__name__)
                    expansion.skipped = "call_failed"
                    return expansion
                pairs = parse_reply(text, k)
                atomic.write_json(cache_file, {"model": self.settings.model, "pairs": pairs})
            if pairs:
                expansion.pairs = list(pairs)
                return expansion
        expansion.skipped = "malformed_reply"
        return expansion
