"""One litellm chat call with retries on rate limits, server errors and timeouts, and its accounting."""

from __future__ import annotations

import os
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any

import litellm

from judging.judgement import Usage

# Transient failures worth waiting out; anything else (bad key, unknown model, bad request) is not.
RETRYABLE = (
    litellm.RateLimitError,
    litellm.InternalServerError,
    litellm.ServiceUnavailableError,
    litellm.Timeout,
    litellm.APIConnectionError,
)

litellm.suppress_debug_info = True

_SECRET_ENV = re.compile(r"(API_KEY|TOKEN|SECRET|PASSWORD)$", re.IGNORECASE)
# Provider error messages sometimes echo part of a key (OpenAI: "Incorrect API key provided: sk-ab***yz").
_KEY_LIKE = re.compile(r"\b(sk|pk|rk|key|AIza)[-_A-Za-z0-9*]{10,}")


def redact(text: str, extra_secrets: tuple[str, ...] = ()) -> str:
    """Text safe for logs, results and caches: known secret values and key-shaped tokens removed."""
    secrets = [v for k, v in os.environ.items() if _SECRET_ENV.search(k) and len(v) >= 8]
    secrets += [s for s in extra_secrets if s and len(s) >= 8]
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    return _KEY_LIKE.sub("[redacted]", text)


@dataclass(frozen=True)
class CallSettings:
    api_base: str | None = None
    timeout_seconds: float = 60.0
    max_retries: int = 3
    # First wait; doubles each retry, with jitter so parallel workers do not retry in lockstep.
    backoff_seconds: float = 1.0
    # Passed through to litellm.completion (e.g. `mock_response` in tests standing in for a provider).
    extra: dict[str, Any] = field(default_factory=dict)

    def secrets(self) -> tuple[str, ...]:
        return tuple(str(v) for k, v in self.extra.items() if "key" in k.lower() or "token" in k.lower())


def is_retryable(err: BaseException) -> bool:
    if isinstance(err, RETRYABLE):
        return True
    status = getattr(err, "status_code", None)
    return isinstance(status, int) and (status == 429 or status >= 500)


def response_format_for(model: str, schema: dict[str, Any]) -> dict[str, Any] | None:
    """Structured output where litellm knows the provider enforces a JSON schema; else prompt + repair."""
    try:
        supported = litellm.supports_response_schema(model=model)
    except Exception:  # litellm raises for models it has never heard of; they get the prompt path
        supported = False
    if not supported:
        return None
    return {"type": "json_schema", "json_schema": {"name": "judgement", "schema": schema, "strict": False}}


def complete(
    model: str,
    messages: list[dict[str, str]],
    settings: CallSettings,
    usage: Usage,
    response_format: dict[str, Any] | None = None,
    max_tokens: int | None = None,
) -> str:
    """Return the reply text; count calls, tokens and cost into `usage`; raise after the last retry."""
    kwargs: dict[str, Any] = {"timeout": settings.timeout_seconds, **settings.extra}
    if settings.api_base:
        kwargs["api_base"] = settings.api_base
    if response_format:
        kwargs["response_format"] = response_format
    if max_tokens:
        kwargs["max_tokens"] = max_tokens
    attempt = 0
    while True:
        usage.calls += 1
        try:
            response = litellm.completion(model=model, messages=messages, **kwargs)
            break
        except Exception as err:
            if attempt >= settings.max_retries or not is_retryable(err):
                raise
            time.sleep(settings.backoff_seconds * (2**attempt) * (1 + random.random()))
            attempt += 1
    _account(response, usage)
    return response.choices[0].message.content or ""


def _account(response: Any, usage: Usage) -> None:
    tokens = getattr(response, "usage", None)
    if tokens is not None:
        usage.prompt_tokens += int(getattr(tokens, "prompt_tokens", 0) or 0)
        usage.completion_tokens += int(getattr(tokens, "completion_tokens", 0) or 0)
    cost = (getattr(response, "_hidden_params", None) or {}).get("response_cost")
    if cost is None:
        try:
            cost = litellm.completion_cost(completion_response=response)
        except Exception:  # no price known for this model (local servers): count it as free
            cost = 0.0
    usage.cost_usd += float(cost or 0.0)
