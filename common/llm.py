"""The plumbing every LLM call shares, in one place: retries with backoff, token and cost accounting, repair of
JSON wrapped in fences or prose, and the one secret redactor (used by corpus, judging and reports).

litellm is imported only by `complete` and `account`, so the report's redaction does not load it.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import time
from collections.abc import Iterable
from typing import Any, Protocol

log = logging.getLogger(__name__)
REDACTED = "[redacted]"

# Key shapes, each seen in provider docs or error echoes. A value of this shape is a secret wherever it appears.
_KEY_SHAPES = (
    r"\b(?:sk|pk|rk)-(?:ant-|proj-)?[A-Za-z0-9_*-]{8,}",  # OpenAI, Anthropic (sk-ant-), Stripe-style pk-/rk-
    r"\b(?:sk|pk|rk|key|AIza)[-_A-Za-z0-9*]{10,}",  # the same families with _ separators, key-..., Google AIza...
    r"\bhf_[A-Za-z0-9]{8,}",  # Hugging Face
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",  # AWS access key ids
    r"\bxox[abposr]-[A-Za-z0-9-]{8,}",  # Slack
    r"\b(?:gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{16,})",  # GitHub
    r"\bBearer\s+[A-Za-z0-9._~+/=-]+",  # an Authorization header's value
)
_KEY_LIKE = re.compile("|".join(_KEY_SHAPES))
# `?key=...&token=...`: the parameter name stays, its value goes (Gemini's REST API takes its key this way).
_SECRET_PARAM = re.compile(
    r"([?&;](?:api[_-]?key|key|token|access[_-]?token|auth|secret|password|sig|signature)=)[^&;#\s\"']+",
    re.IGNORECASE,
)
# Names of settings and environment variables that hold credentials. `token` alone would also hide harmless
# settings such as max_tokens, so only a trailing `token` after a separator counts.
SECRET_NAME = re.compile(
    r"(api[_-]?key|secret|password|passwd|credential|access[_-]?token|auth[_-]?token|(^|[._-])token$)",
    re.IGNORECASE,
)
_MIN_SECRET_CHARS = 8  # shorter environment values (e.g. `1`, `true`) would redact ordinary words


def secret_values(extra: Iterable[str] = ()) -> list[str]:
    """Values of credential-named environment variables, plus `extra`, longest first."""
    values = [v for k, v in os.environ.items() if SECRET_NAME.search(k) and len(v) >= _MIN_SECRET_CHARS]
    values += [s for s in extra if s and len(s) >= _MIN_SECRET_CHARS]
    return sorted(set(values), key=len, reverse=True)


def redact(text: str, extra_secrets: Iterable[str] = ()) -> str:
    """Text safe for logs, results, caches and reports: known secret values and key-shaped tokens removed."""
    for secret in secret_values(extra_secrets):
        text = text.replace(secret, REDACTED)
    text = _SECRET_PARAM.sub(lambda m: m.group(1) + REDACTED, text)
    return _KEY_LIKE.sub(REDACTED, text)


def json_candidates(text: str | None) -> list[str]:
    """Strings worth `json.loads`-ing from a model reply, most literal first: the reply without a ```json fence,
    then the outermost {...} and [...] spans (prose around the JSON)."""
    text = re.sub(r"^```(?:json)?\s*|\s*```$", "", (text or "").strip())
    fenced = re.search(r"```(?:json)?\s*(.*?)\s*```", text, re.DOTALL)
    candidates = [text, *([fenced.group(1)] if fenced else [])]
    for opener, closer in (("{", "}"), ("[", "]")):
        start, end = text.find(opener), text.rfind(closer)
        if 0 <= start < end:
            candidates.append(text[start : end + 1])
    return list(dict.fromkeys(candidates))


def loads_repaired(text: str | None) -> Any:
    """The first candidate that parses as JSON; raises the literal reply's JSONDecodeError if none does."""
    first_error: json.JSONDecodeError | None = None
    for candidate in json_candidates(text):
        try:
            return json.loads(candidate)
        except json.JSONDecodeError as err:
            first_error = first_error or err
    raise first_error  # type: ignore[misc]  # json_candidates always returns at least the reply itself


class Counts(Protocol):
    """Where a call's cost is counted (judging's Usage, the corpus's Expansion)."""

    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


def retryable_errors() -> tuple[type[BaseException], ...]:
    """Transient failures worth waiting out; anything else (bad key, unknown model, bad request) is not."""
    import litellm

    return (
        litellm.RateLimitError,
        litellm.InternalServerError,
        litellm.ServiceUnavailableError,
        litellm.Timeout,
        litellm.APIConnectionError,
    )


def is_retryable(err: BaseException) -> bool:
    if isinstance(err, retryable_errors()):
        return True
    status = getattr(err, "status_code", None)
    return isinstance(status, int) and (status == 429 or status >= 500)


def complete(
    model: str,
    messages: list[dict[str, str]],
    counts: Counts,
    *,
    max_retries: int,
    backoff_seconds: float = 1.0,
    max_backoff_seconds: float = 30.0,
    **kwargs: Any,
) -> str:
    """One chat completion: the reply text. Transient failures are retried with doubling, jittered waits (so
    parallel workers do not retry in lockstep); the last one, or any other failure, is raised. Every attempt
    counts a call into `counts`, the reply its tokens and cost."""
    import litellm

    attempt = 0
    while True:
        counts.calls += 1
        try:
            response = litellm.completion(model=model, messages=messages, **kwargs)
            break
        except Exception as err:
            if attempt >= max_retries or not is_retryable(err):
                raise
            delay = min(backoff_seconds * 2**attempt, max_backoff_seconds) * (1 + random.random())
            log.warning("transient %s from %s; retrying in %.1f s", type(err).__name__, model, delay)
            time.sleep(delay)
            attempt += 1
    account(response, counts, model)
    return response.choices[0].message.content or ""


def account(response: Any, counts: Counts, model: str | None = None) -> None:
    """Add a reply's tokens and cost (litellm's own price table; 0 for a model it has no price for)."""
    import litellm

    tokens = getattr(response, "usage", None)
    if tokens is not None:
        counts.prompt_tokens += int(getattr(tokens, "prompt_tokens", 0) or 0)
        counts.completion_tokens += int(getattr(tokens, "completion_tokens", 0) or 0)
    cost = (getattr(response, "_hidden_params", None) or {}).get("response_cost")
    if cost is None:
        try:
            # The model is passed again because a reply names it without its provider prefix.
            cost = litellm.completion_cost(completion_response=response, model=model)
        except Exception:  # litellm raises a bare Exception for models without a price (local servers)
            cost = 0.0
    counts.cost_usd += float(cost or 0.0)
