"""A judge's litellm call settings, and one call with them (retries and accounting are common/llm.py's)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import litellm

from common import llm
from judging.judgement import Usage

litellm.suppress_debug_info = True


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
    return llm.complete(
        model, messages, usage, max_retries=settings.max_retries, backoff_seconds=settings.backoff_seconds, **kwargs
    )
