"""Keep secrets out of reports: settings whose name or value looks like a credential are masked."""

from __future__ import annotations

import re

REDACTED = "[redacted]"
# `token` alone would also hide harmless settings such as max_tokens, so only credential-shaped names match.
_SECRET_NAME = re.compile(
    r"(api[_-]?key|secret|password|passwd|credential|access[_-]?token|auth[_-]?token|(^|[._])token$)",
    re.IGNORECASE,
)
# Common key shapes: OpenAI/Anthropic `sk-...`, Hugging Face `hf_...`, bearer strings.
_SECRET_VALUE = re.compile(r"(\bsk-[A-Za-z0-9_-]{8,}|\bhf_[A-Za-z0-9]{8,}|\bBearer\s+\S+)")


def redact_value(value: str) -> str:
    return _SECRET_VALUE.sub(REDACTED, value)


def redact_settings(settings: dict[str, str]) -> dict[str, str]:
    """Mask values of credential-like names, and credential-like substrings anywhere else."""
    return {
        name: REDACTED if _SECRET_NAME.search(name) else redact_value(str(value))
        for name, value in settings.items()
    }
