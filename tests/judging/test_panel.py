"""Panel mechanics against litellm mock responses standing in for remote providers."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import litellm
import pytest

from common.errors import InputError
from judging.panel import JudgeItem, Panel
from judging.rubric import Rubric
from judging.settings import JudgingConfig

GOOD = json.dumps({"scores": {"relevance": 4, "grammar": 5, "structure": 3, "style": 2}, "rationale": "ok"})
GOOD_OVERALL = 0.45 * 4 + 0.20 * 5 + 0.20 * 3 + 0.15 * 2
ITEMS = [
    JudgeItem(id=str(i), question=f"How do I fix problem {i}?", reference=f"Do step {i}.", answer=f"Try step {i}.")
    for i in range(3)
]


class ScriptedProvider:
    """Replaces litellm.completion with the real one fed a scripted `mock_response` per call, as a remote
    provider would answer; records every request so tests can count calls and inspect what was sent."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, replies: list | None = None, by_model=None):
        self.replies = list(replies or [])
        self.by_model = by_model
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        real = litellm.completion

        def fake(**kwargs):
            with self.lock:
                self.requests.append(kwargs)
                reply = self.by_model(kwargs) if self.by_model else self.replies.pop(0)
            return real(**{**kwargs, "mock_response": reply})

        monkeypatch.setattr(litellm, "completion", fake)

    @property
    def calls(self) -> int:
        return len(self.requests)


def panel(tmp_path: Path, models=("gpt-4o",), **kw) -> Panel:
    return Panel(list(models), cache_dir=tmp_path / "cache", backoff_seconds=0.0, max_concurrency=1, **kw)


def test_valid_reply_gives_weighted_mean(tmp_path, monkeypatch):
    provider = ScriptedProvider(monkeypatch, [GOOD] * 3)
    result = panel(tmp_path).score(ITEMS)
    assert provider.calls == 3
    assert result.judge_score == pytest.approx(GOOD_OVERALL)
    assert result.criteria == {"relevance": 4.0, "grammar": 5.0, "structure": 3.0, "style": 2.0}
    assert list(result.items["judge_score__gpt-4o"]) == pytest.approx([GOOD_OVERALL] * 3)
    assert result.usage["calls"] == 3 and result.usage["prompt_tokens"] > 0 and result.usage["cost_usd"] > 0
    metrics = result.metrics()
    assert math.isnan(metrics["judge_agreement"]) and metrics["judge_calls"] == 3.0
    assert set(metrics) >= {"judge_score", "judge_relevance", "judge_length_corr", "judge_cost_usd"}


def test_fenced_json_is_accepted(tmp_path, monkeypatch):
    ScriptedProvider(monkeypatch, [f"```json\n{GOOD}\n```"])
    assert panel(tmp_path).score(ITEMS[:1]).judge_score == pytest.approx(GOOD_OVERALL)


def test_malformed_reply_gets_one_repair_request(tmp_path, monkeypatch):
    provider = ScriptedProvider(monkeypatch, ["Sure! I'd give it a 4.", GOOD])
    result = panel(tmp_path).score(ITEMS[:1])
    assert provider.calls == 2
    repair = provider.requests[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": "Sure! I'd give it a 4."}
    assert "not JSON" in repair[-1]["content"]
    assert result.judge_score == pytest.approx(GOOD_OVERALL)


def test_still_malformed_after_repair_is_nan_with_reason(tmp_path, monkeypatch):
    out_of_range = json.dumps({"scores": {"relevance": 9, "grammar": 5, "structure": 3, "style": 2}, "rationale": ""})
    provider = ScriptedProvider(monkeypatch, ["not json", out_of_range])
    result = panel(tmp_path).score(ITEMS[:1])
    assert provider.calls == 2
    assert math.isnan(result.judge_score) and result.judge_score != 0
    assert "malformed reply after repair" in result.items.loc[0, "error"]
    assert "relevance" in result.items.loc[0, "error"]
    assert result.usage["failures"] == 1
    assert not list((tmp_path / "cache").rglob("*.json")), "failures must not be cached"


def test_cache_hit_makes_no_call(tmp_path, monkeypatch):
    provider = ScriptedProvider(monkeypatch, by_model=lambda kw: GOOD)
    first = panel(tmp_path).score(ITEMS)
    second = panel(tmp_path).score(ITEMS)
    assert provider.calls == 3
    assert second.usage["calls"] == 0 and second.usage["cache_hits"] == 3
    assert second.judge_score == first.judge_score
    assert all(j.cached for j in second.judgements["gpt-4o"])


def test_rubric_version_is_part_of_the_cache_key(tmp_path, monkeypatch):
    provider = ScriptedProvider(monkeypatch, by_model=lambda kw: GOOD)
    panel(tmp_path).score(ITEMS[:1])
    panel(tmp_path, rubric=Rubric(version="support-desk-v2")).score(ITEMS[:1])
    assert provider.calls == 2


def test_retries_on_429_and_5xx_then_succeeds(tmp_path, monkeypatch):
    provider = ScriptedProvider(monkeypatch, ["litellm.RateLimitError", "litellm.InternalServerError", GOOD])
    result = panel(tmp_path).score(ITEMS[:1])
    assert provider.calls == 3
    assert result.judge_score == pytest.approx(GOOD_OVERALL)
    assert result.usage["calls"] == 3 and result.usage["failures"] == 0


def test_gives_up_after_max_retries_with_nan(tmp_path, monkeypatch):
    provider = ScriptedProvider(monkeypatch, ["litellm.RateLimitError"] * 10)
    result = panel(tmp_path, max_retries=2).score(ITEMS[:1])
    assert provider.calls == 3
    assert math.isnan(result.judge_score)
    assert "RateLimitError" in result.items.loc[0, "error"]


def test_two_judges_mean_and_agreement(tmp_path, monkeypatch):
    def reply(kwargs):
        # Judge B is judge A shifted down by one point on every item: perfectly rank-consistent.
        n = int(kwargs["messages"][1]["content"].split("problem ")[1][0])
        base = 2 + n if kwargs["model"] == "gpt-4o" else 1 + n
        scores = dict.fromkeys(("relevance", "grammar", "structure", "style"), base)
        return json.dumps({"scores": scores, "rationale": "r"})

    ScriptedProvider(monkeypatch, by_model=reply)
    result = panel(tmp_path, models=("gpt-4o", "anthropic/claude-sonnet-4-5")).score(ITEMS)
    assert result.per_judge == {
        "gpt-4o": pytest.approx(3.0),
        "anthropic/claude-sonnet-4-5": pytest.approx(2.0),
    }
    assert result.judge_score == pytest.approx(2.5)
    assert result.agreement["spearman"] == pytest.approx(1.0)
    assert result.agreement["kendall"] == pytest.approx(1.0)
    assert result.agreement["kappa_quadratic"] < 1.0  # same ranking, different levels
    assert list(result.items["judge_score"]) == pytest.approx([1.5, 2.5, 3.5])


def test_structured_output_requested_where_supported(tmp_path, monkeypatch):
    provider = ScriptedProvider(monkeypatch, [GOOD])
    panel(tmp_path).score(ITEMS[:1])
    fmt = provider.requests[0]["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["schema"]["properties"]["scores"]["required"] == Rubric().criteria


def test_api_key_never_reaches_cache_or_results(tmp_path, monkeypatch):
    secret = "sk-test-SECRET-0123456789"
    provider = ScriptedProvider(monkeypatch, by_model=lambda kw: GOOD)
    result = panel(tmp_path, completion_kwargs={"api_key": secret}).score(ITEMS)
    assert provider.requests[0]["api_key"] == secret
    for path in (tmp_path / "cache").rglob("*"):
        if path.is_file():
            assert secret not in path.read_text()
    assert secret not in result.items.to_json() and secret not in json.dumps(result.metrics())


def test_from_config_and_bad_panels(tmp_path):
    p = Panel.from_config(JudgingConfig(), tmp_path)
    assert p.models == ["local/reference-judge"] and p.rubric == Rubric()
    with pytest.raises(InputError, match="repeat"):
        Panel(["gpt-4o", "gpt-4o"])
    with pytest.raises(InputError, match="at least one"):
        Panel([])


def test_key_echoed_in_a_provider_error_is_redacted(tmp_path, monkeypatch):
    secret = "sk-live-abcdefghijklmnop0123"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    echoed = litellm.AuthenticationError(
        message=f"Incorrect API key provided: {secret}", llm_provider="openai", model="gpt-4o"
    )
    ScriptedProvider(monkeypatch, [echoed])
    result = panel(tmp_path).score(ITEMS[:1])
    error = result.items.loc[0, "error"]
    assert "AuthenticationError" in error and "[redacted]" in error and secret not in error


def test_package_exports_load_lazily():
    import judging

    assert judging.Panel is Panel and judging.Rubric is Rubric
