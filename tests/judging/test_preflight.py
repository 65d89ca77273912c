"""Preflight: a judge that cannot work is one line naming it, before any training."""

from __future__ import annotations

import litellm
import pytest

from common.errors import InputError
from judging import offline
from judging.panel import Panel
from judging.preflight import probe_model
from tests.helpers import free_port


def test_offline_judge_passes():
    probe_model(offline.MODEL)
    Panel([offline.MODEL]).preflight()


def test_unknown_model():
    with pytest.raises(InputError, match="unknown model") as err:
        probe_model("no-such-judge-model-xyz")
    assert "no-such-judge-model-xyz" in str(err.value)


def test_missing_api_key(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(InputError, match="missing API key: set ANTHROPIC_API_KEY") as err:
        Panel([offline.MODEL, "anthropic/claude-sonnet-4-5"]).preflight()
    assert "anthropic/claude-sonnet-4-5" in str(err.value) and "\n" not in str(err.value)


def test_unreachable_local_server():
    api_base = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(InputError, match="unreachable") as err:
        probe_model("openai/my-local-judge", api_base=api_base)
    assert "openai/my-local-judge" in str(err.value)


def test_rejected_key_is_reported(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-invalid")
    rejected = litellm.AuthenticationError(message="invalid x-api-key", llm_provider="openai", model="gpt-4o")
    panel = Panel(["gpt-4o"], completion_kwargs={"mock_response": rejected})
    with pytest.raises(InputError, match="rejected the API key"):
        panel.preflight()
