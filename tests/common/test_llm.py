"""common/llm.py: the one secret redactor against every key form, the fenced-JSON repair, retries and accounting."""

from __future__ import annotations

import json

import litellm
import pytest

from common import llm
from judging.judgement import Usage
from reports.redaction import redact_settings

# One of each key form a provider issues or echoes; every one must go, wherever it appears in a text. Each is
# split in two here so that secret scanners reading the repository see no key-shaped string.
KEYS = {
    kind: prefix + body
    for kind, prefix, body in (
        ("openai", "sk-", "proj-Abc123def456ghi789jkl"),
        ("openai legacy", "sk-", "Abc123def456ghi789jkl012"),
        ("anthropic", "sk-", "ant-api03-Abc123def456ghi789"),
        ("stripe-style", "rk_", "live_Abc123def456ghi789"),
        ("google", "AI", "zaSyA1b2c3d4e5f6g7h8i9j0kLmNoPqRsTuV"),
        ("hugging face", "hf_", "AbCdEfGhIjKlMnOpQrStUv"),
        ("aws access key id", "AK", "IAIOSFODNN7EXAMPLE"),
        ("slack bot", "xoxb-", "123456789012-abcdefghijkl"),
        ("github classic", "ghp_", "AbCdEfGhIjKlMnOpQrStUvWxYz012345"),
        ("github fine-grained", "github_pat_", "11ABCDEFG0123456789_abcdefghij"),
        ("generic key-", "key-", "0123456789abcdef0123"),
    )
}


@pytest.mark.parametrize("kind", KEYS)
def test_every_key_form_is_redacted_in_running_text(kind):
    key = KEYS[kind]
    text = f"AuthenticationError: Incorrect API key provided: {key}. See the docs."
    out = llm.redact(text)
    assert key not in out and llm.REDACTED in out
    assert out.startswith("AuthenticationError: Incorrect API key provided:")


def test_bearer_tokens_and_query_parameters_lose_their_values():
    out = llm.redact("GET /v1/models?key=opaque-value-123&alt=json with Authorization: Bearer abc.def-ghi_jkl")
    assert "opaque-value-123" not in out and "abc.def-ghi_jkl" not in out
    assert "?key=[redacted]&alt=json" in out
    assert llm.redact("https://x.invalid/q?api_key=s3cr3tvalue") == "https://x.invalid/q?api_key=[redacted]"


def test_secret_environment_values_are_redacted_whatever_their_shape(monkeypatch):
    monkeypatch.setenv("LORAPARETO_DB_PASSWORD", "pw-plain-words-here")
    monkeypatch.setenv("HF_TOKEN", "opaque-token-value")
    out = llm.redact("connect with pw-plain-words-here and opaque-token-value")
    assert "pw-plain-words-here" not in out and "opaque-token-value" not in out
    assert llm.redact("extra: custom-secret-1", extra_secrets=["custom-secret-1"]) == "extra: [redacted]"


def test_harmless_text_and_settings_are_kept():
    text = "rank=16, max_tokens=256, target_modules=qv, skipped 3 scenarios, the key point"
    assert llm.redact(text) == text
    settings = {"judging.max_tokens": "256", "hf.token": "x", "x.openai_api_key": "y", "note": KEYS["google"]}
    redacted = redact_settings(settings)
    assert redacted["judging.max_tokens"] == "256"
    assert redacted["hf.token"] == redacted["x.openai_api_key"] == llm.REDACTED
    assert KEYS["google"] not in redacted["note"]


@pytest.mark.parametrize(
    "reply",
    [
        '{"a": 1}',
        '```json\n{"a": 1}\n```',
        'Sure! Here it is:\n```json\n{"a": 1}\n```\nHope that helps.',
        'The answer is {"a": 1} as requested.',
    ],
)
def test_json_repair_finds_the_object(reply):
    assert llm.loads_repaired(reply) == {"a": 1}


def test_json_repair_raises_on_garbage():
    with pytest.raises(json.JSONDecodeError):
        llm.loads_repaired("no JSON here")
    assert llm.json_candidates(None) == [""]


def test_complete_retries_transient_failures_and_counts_every_attempt(monkeypatch):
    replies = iter([litellm.RateLimitError("slow down", llm_provider="openai", model="gpt-4o"), "fine"])
    real = litellm.completion

    def scripted(**kwargs):
        reply = next(replies)
        if isinstance(reply, Exception):
            raise reply
        return real(mock_response=reply, **kwargs)

    monkeypatch.setattr(litellm, "completion", scripted)
    usage = Usage()
    text = llm.complete("gpt-4o", [{"role": "user", "content": "hi"}], usage, max_retries=2, backoff_seconds=0.01)
    assert text == "fine"
    assert usage.calls == 2 and usage.prompt_tokens > 0 and usage.completion_tokens > 0


def test_complete_does_not_retry_a_bad_request(monkeypatch):
    def refuse(**kwargs):
        raise litellm.BadRequestError("bad", model="gpt-4o", llm_provider="openai")

    monkeypatch.setattr(litellm, "completion", refuse)
    usage = Usage()
    with pytest.raises(litellm.BadRequestError):
        llm.complete("gpt-4o", [{"role": "user", "content": "hi"}], usage, max_retries=3, backoff_seconds=0.01)
    assert usage.calls == 1
