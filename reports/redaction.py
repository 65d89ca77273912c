"""Keep secrets out of reports: settings whose name looks like a credential are masked, and every value passes
the project's one secret redactor (common/llm.py), the same the judges' error messages pass."""

from __future__ import annotations

from common.llm import REDACTED, SECRET_NAME, redact


def redact_settings(settings: dict[str, str]) -> dict[str, str]:
    """Mask values of credential-like names, and credential-like substrings anywhere else."""
    return {name: REDACTED if SECRET_NAME.search(name) else redact(str(value)) for name, value in settings.items()}
