"""Multi-fidelity judging's configuration (judging/settings.py) and the panel each tier gets (judging/panel.py):
which judges score a trial, which only answer the preflight, and the cost a panel reports. Remote judges are
litellm's mock responses standing in for a provider."""

from __future__ import annotations

import json
import math

import litellm
import pytest
from pydantic import ValidationError

from common.errors import InputError
from judging.correctness import MODEL as CORRECTNESS
from judging.offline import MODEL as REFERENCE
from judging.panel import JudgeItem, Panel
from judging.settings import JudgingConfig

REMOTE = ["gpt-4o-mini", "anthropic/claude-haiku-4-5"]
REPLY = json.dumps({"scores": {"relevance": 4, "grammar": 4, "structure": 4, "style": 4}, "rationale": "fine"})


def test_policy_all_is_todays_behaviour():
    cfg = JudgingConfig(panel=REMOTE)
    assert cfg.full_panel_policy == "all" and cfg.trial_panel == REMOTE and cfg.end_panel == []
    panel = Panel.from_config(cfg)
    assert panel.models == REMOTE and panel.standby == []


def test_policy_front_scores_trials_with_the_cheap_panel_and_keeps_the_full_one_for_the_end():
    cfg = JudgingConfig(panel=REMOTE, full_panel_policy="front")
    assert cfg.cheap_panel == [CORRECTNESS]
    trial = Panel.from_config(cfg)
    assert trial.models == [CORRECTNESS] and trial.standby == REMOTE
    assert Panel.from_config(cfg, tier="full").models == REMOTE
    with pytest.raises(ValueError, match="tier"):
        Panel.from_config(cfg, tier="middle")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"panel": [REFERENCE], "cheap_panel": [REFERENCE], "full_panel_policy": "front"}, "judge every answer twice"),
        ({"cheap_panel": [CORRECTNESS, CORRECTNESS]}, "cheap_panel repeats"),
        ({"full_panel_policy": "some"}, "full_panel_policy"),
        ({"front_probability_min": 0}, "front_probability_min"),
        ({"dominated_random": -1}, "dominated_random"),
        ({"cheap_panel": []}, "cheap_panel"),
    ],
)
def test_bad_tier_settings_are_refused(fields, message):
    with pytest.raises(ValidationError, match=message):
        JudgingConfig(**fields)


def test_preflight_probes_the_full_panel_on_standby():
    """An unknown full-panel judge fails at the start, though only the cheap panel scores trials."""
    cfg = JudgingConfig(panel=["no-such-provider/judge-x"], full_panel_policy="front")
    with pytest.raises(InputError, match="no-such-provider/judge-x"):
        Panel.from_config(cfg).preflight()


def test_panel_reports_calls_tokens_and_cost_of_remote_judges(monkeypatch, tmp_path):
    calls = []
    real = litellm.completion

    def remote(**kwargs):
        calls.append(kwargs["model"])
        return real(**{**kwargs, "mock_response": REPLY})

    monkeypatch.setattr(litellm, "completion", remote)
    items = [JudgeItem(str(i), f"Question {i}?", f"Reference {i}.", f"Answer {i}.") for i in range(3)]
    result = Panel(REMOTE, cache_dir=tmp_path, max_concurrency=1).score(items)
    metrics = result.metrics()
    assert len(calls) == 6 and metrics["judge_calls"] == 6
    tokens = result.usage["prompt_tokens"] + result.usage["completion_tokens"]
    assert metrics["judge_tokens"] == tokens > 0
    # litellm's own price table prices both models; a mock reply is priced like a real one.
    assert metrics["judge_cost_usd"] > 0 and math.isfinite(metrics["judge_cost_usd"])
    # litellm's mock reply counts 10 prompt and 20 completion tokens; each judge's price from the same table.
    assert result.usage["prompt_tokens"] == 6 * 10 and result.usage["completion_tokens"] == 6 * 20
    expected = sum(3 * sum(litellm.cost_per_token(model=m, prompt_tokens=10, completion_tokens=20)) for m in REMOTE)
    assert metrics["judge_cost_usd"] == pytest.approx(expected)
    # Judged again: answered from the cache, no call, no cost.
    again = Panel(REMOTE, cache_dir=tmp_path, max_concurrency=1).score(items).metrics()
    assert len(calls) == 6 and again["judge_calls"] == 0 and again["judge_cost_usd"] == 0
