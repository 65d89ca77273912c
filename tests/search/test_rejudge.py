"""Multi-fidelity judging's second tier (search/rejudge.py): which trials the full panel judges, what it costs, and
the front recomputed with its scores. Remote judges are litellm's mock responses standing in for a provider."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import threading
from pathlib import Path

import litellm
import pandas as pd
import pytest

from experiment.config import load_config
from front.objectives import DEFAULT_OBJECTIVES, Objective
from front.pareto import RANK_COLUMN
from judging.panel import Panel
from judging.settings import JudgingConfig
from search.front_table import compute_front
from search.judged_items import BASELINE_ROW
from search.rejudge import (
    CHEAP,
    CHEAP_SCORE,
    FULL,
    FULL_ARTIFACT,
    TIER,
    interval_survivors,
    multi_fidelity,
    rejudge,
    select_for_full_panel,
)

REFERENCE_POINT = {"judge_score": 1.0, "energy_wh": 1.0}
SETTINGS = JudgingConfig(
    panel=["gpt-4o-mini"], full_panel_policy="front", dominated_nearest=1, dominated_random=1, front_probability_min=0.2
)


def table(rows: list[tuple[str, float, float, float, float]]) -> pd.DataFrame:
    """(trial, judge_score, ci_low, ci_high, energy_wh) rows, indexed by trial."""
    frame = pd.DataFrame(
        rows, columns=["trial_id", "judge_score", "judge_score_ci_low", "judge_score_ci_high", "energy_wh"]
    )
    return frame.set_index("trial_id")


# a, b: the front; c: dominated by a at the points but its interval reaches above a's low end; d, e, f, g: dominated
# whatever the intervals, d nearest the front.
SEVEN = table(
    [
        ("a", 4.0, 3.8, 4.2, 0.5),
        ("b", 3.0, 2.8, 3.2, 0.2),
        ("c", 3.7, 3.3, 4.1, 0.6),
        ("d", 2.5, 2.45, 2.55, 0.3),
        ("e", 2.0, 1.9, 2.1, 0.7),
        ("f", 1.5, 1.4, 1.6, 0.8),
        ("g", 1.2, 1.1, 1.3, 0.9),
    ]
)


def test_interval_survivors_are_the_front_plus_trials_whose_interval_reaches_it():
    assert interval_survivors(SEVEN, DEFAULT_OBJECTIVES) == ["a", "b", "c"]
    # Without intervals only the point front survives.
    points = SEVEN.drop(columns=["judge_score_ci_low", "judge_score_ci_high"])
    assert interval_survivors(points, DEFAULT_OBJECTIVES) == ["a", "b"]


def test_selection_takes_reachable_nearest_then_random_dominated():
    selection = select_for_full_panel(SEVEN, DEFAULT_OBJECTIVES, SETTINGS, {"e": 0.3, "f": 0.1, "c": 0.0}, seed=0)
    # With front probabilities: the point front (a, b) and e, whose probability passes the threshold (0.2); c's
    # interval reaches the front but the bootstrap never puts it there, f's probability is too low.
    assert selection.reachable == ("a", "b", "e")
    assert selection.nearest == ("c",)  # rank 1 once a, b are the front, and alone there at the front's edge
    assert len(selection.sampled) == 1 and selection.sampled[0] in {"d", "f", "g"}
    assert len(set(selection.trials)) == len(selection.trials) == 5


def test_without_front_probabilities_the_interval_rule_decides():
    selection = select_for_full_panel(SEVEN, DEFAULT_OBJECTIVES, SETTINGS, {}, seed=0)
    assert selection.reachable == ("a", "b", "c")
    assert selection.nearest == ("d",)


def test_selection_is_deterministic_with_a_seed_and_varies_across_seeds():
    settings = SETTINGS.model_copy(update={"dominated_nearest": 0, "dominated_random": 2})
    runs = {seed: select_for_full_panel(SEVEN, DEFAULT_OBJECTIVES, settings, {}, seed) for seed in range(12)}
    again = {seed: select_for_full_panel(SEVEN, DEFAULT_OBJECTIVES, settings, {}, seed) for seed in range(12)}
    assert runs == again
    assert len({r.sampled for r in runs.values()}) > 1
    for selection in runs.values():
        assert set(selection.sampled) <= {"d", "e", "f", "g"} and len(selection.sampled) == 2


def test_selection_caps_the_honesty_trials_at_what_is_dominated():
    settings = SETTINGS.model_copy(update={"dominated_nearest": 5, "dominated_random": 5})
    selection = select_for_full_panel(SEVEN, DEFAULT_OBJECTIVES, settings, {}, seed=3)
    assert sorted(selection.trials) == sorted(SEVEN.index)
    assert selection.nearest[0] == "d" and selection.sampled == ()


def test_trials_with_a_nan_objective_are_never_selected():
    rows = SEVEN.copy()
    rows.loc["g", "energy_wh"] = math.nan
    settings = SETTINGS.model_copy(update={"dominated_nearest": 9, "dominated_random": 9})
    assert "g" not in select_for_full_panel(rows, DEFAULT_OBJECTIVES, settings, {}, seed=0).trials


# --- the whole second tier, with a scripted remote judge --------------------------------------------------------

QUALITY = {"good": 5, "fair": 3, "poor": 1}
ITEMS = 6


def reply_for(request: dict) -> str:
    """A remote judge that scores an answer by its quality word (what a provider would answer)."""
    prompt = request["messages"][-1]["content"]
    word = re.findall(r"quality (good|fair|poor)", prompt)[-1]
    score = QUALITY[word]
    scores = dict.fromkeys(("relevance", "grammar", "structure", "style"), score)
    return json.dumps({"scores": scores, "rationale": word})


class MockProvider:
    """litellm.completion with a mock response per request, as a remote provider would answer; counts calls."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.calls = 0
        self.lock = threading.Lock()
        real = litellm.completion

        def fake(**kwargs):
            with self.lock:
                self.calls += 1
            return real(**{**kwargs, "mock_response": reply_for(kwargs)})

        monkeypatch.setattr(litellm, "completion", fake)


def answers_for(trial: str, quality: str, cheap: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"q{i}" for i in range(ITEMS)],
            "question": [f"How do I fix problem {i}?" for i in range(ITEMS)],
            "reference": [f"Do step {i}." for i in range(ITEMS)],
            "answer": [f"Try step {i} as {trial} says, quality {quality}." for i in range(ITEMS)],
            "judge_score": [cheap + (0.05 if i % 2 else -0.05) for i in range(ITEMS)],
            "scenario_id": [f"s{i // 2}" for i in range(ITEMS)],
        }
    )


# trial: (cheap score, energy, what the full panel sees). The cheap tier ranks "t3" low, the full panel high.
TRIALS = {
    "t1": (4.0, 0.5, "fair"),
    "t2": (3.0, 0.2, "fair"),
    "t3": (2.0, 0.1, "good"),
    "t4": (1.5, 0.8, "poor"),
    "t5": (1.4, 0.9, "poor"),
    "t6": (1.3, 0.95, "poor"),
}


def search_front():
    rows = [
        {
            "trial_id": t,
            "status": "COMPLETED",
            "judge_score": cheap,
            "judge_score_ci_low": cheap - 0.05,
            "judge_score_ci_high": cheap + 0.05,
            "energy_wh": energy,
            "judge_calls": float(ITEMS),
            "judge_tokens": 0.0,
            "judge_cost_usd": 0.0,
        }
        for t, (cheap, energy, _) in TRIALS.items()
    ]
    rows.append({"trial_id": "stopped", "status": "STOPPED", "energy_wh": 0.05})
    front = compute_front(pd.DataFrame(rows), DEFAULT_OBJECTIVES, REFERENCE_POINT)
    answers = {t: answers_for(t, quality, cheap) for t, (cheap, _, quality) in TRIALS.items()}
    return front, answers


def full_panel(tmp_path: Path) -> Panel:
    return Panel.from_config(SETTINGS, cache_dir=tmp_path / "judge", tier="full", max_concurrency=1)


def test_full_panel_judges_the_selection_and_its_cost_is_counted(tmp_path, monkeypatch):
    provider = MockProvider(monkeypatch)
    front, answers = search_front()
    settings = SETTINGS.model_copy(update={"dominated_nearest": 0, "dominated_random": 0})
    outcome = multi_fidelity(front, answers, settings, full_panel(tmp_path), REFERENCE_POINT, seed=0)

    # t1 and t2 are the cheap front; t3 (cheapest energy) is on it too. Dominated trials are not judged in full.
    assert sorted(outcome.full) == sorted(outcome.selection.trials)
    assert set(outcome.selection.reachable) == {"t1", "t2", "t3"}
    assert provider.calls == ITEMS * len(outcome.full)
    usage = outcome.full_usage
    assert usage["calls"] == provider.calls and usage["prompt_tokens"] > 0 and usage["cost_usd"] > 0

    done = outcome.front.done.set_index("trial_id")
    assert done.loc["t3", "judge_score"] == pytest.approx(5.0) and done.loc["t1", "judge_score"] == pytest.approx(3.0)
    assert done.loc["t3", CHEAP_SCORE] == pytest.approx(2.0)
    assert done.loc["t1", TIER] == FULL and done.loc["t4", TIER] == CHEAP
    assert done.loc["t4", "judge_score"] == pytest.approx(1.5)  # only the cheap tier scored it
    # Per trial: its own judging (the cheap tier's calls, no USD for an offline judge) and the full panel's beside.
    assert done.loc["t1", "judge_calls"] == ITEMS and done.loc["t1", "judge_calls_full"] == ITEMS
    assert done.loc["t4", "judge_calls"] == ITEMS and done.loc["t4", "judge_calls_full"] == 0
    assert done.loc["t1", "judge_cost_usd"] == 0 and done.loc["t4", "judge_cost_usd_full"] == 0
    assert outcome.full["t1"].usage["cost_usd"] > 0
    assert done.loc["t1", "judge_cost_usd_full"] == pytest.approx(outcome.full["t1"].usage["cost_usd"])
    # The full panel's view: t3 is now best and cheapest, so it dominates t1 and t2.
    assert list(outcome.front.rows["trial_id"]) == ["t3"]
    assert done.loc["t3", "judge_score_ci_low"] == pytest.approx(5.0)  # every item scored 5 by the full panel

    metrics = outcome.search_metrics()
    assert metrics["judge_calls"] == 6 * ITEMS + provider.calls
    assert metrics["judge_cost_usd"] == pytest.approx(usage["cost_usd"])
    assert metrics["full_panel_judgement_ratio"] == pytest.approx(3 / 6)
    assert "full panel on 3 of 6 completed trials" in outcome.summary_line()
    for column in (TIER, CHEAP_SCORE, "judge_cost_usd"):
        assert column in outcome.front.columns


def test_a_cheap_only_trial_that_lands_on_the_front_is_judged_in_full(tmp_path, monkeypatch):
    MockProvider(monkeypatch)
    front, answers = search_front()
    answers["t3"] = answers_for("t3", "poor", 2.0)
    settings = SETTINGS.model_copy(update={"dominated_nearest": 0, "dominated_random": 0})
    trials = front.trials.copy()
    trials.loc[trials["trial_id"] == "t4", "energy_wh"] = 0.15
    front = compute_front(trials, DEFAULT_OBJECTIVES, REFERENCE_POINT)
    outcome = multi_fidelity(front, answers, settings, full_panel(tmp_path), REFERENCE_POINT, seed=0)
    # t3 scored 1 in full; t4 (cheap 1.5, 0.15 Wh) was dominated by t3 under the cheap tier (2.0, 0.1 Wh) but not
    # after: it lands on the front, so the full panel judges it too.
    assert "t4" not in outcome.selection.trials and outcome.added == ("t4",)
    members = outcome.front.done[outcome.front.done[RANK_COLUMN] == 0]
    assert set(members[TIER]) == {FULL}


def test_policy_all_judges_nothing_again_and_still_reports_cost(tmp_path, monkeypatch):
    provider = MockProvider(monkeypatch)
    front, _ = search_front()
    config = load_config("tiny", overrides=[f"paths.reports_dir={tmp_path}"])
    client = RecordingClient()
    out, _ = rejudge(config, front, long_items(search_front()[1]), client, "parent")
    assert provider.calls == 0
    assert set(out.done[TIER]) == {FULL}
    assert client.metrics["parent"]["judge_calls"] == 6 * ITEMS
    assert client.metrics["parent"]["full_panel_trials"] == 0


class RecordingClient:
    """Keeps what would go to MLflow (the MLflow store itself is tested in tests/search/test_e2e.py)."""

    def __init__(self):
        self.metrics: dict[str, dict[str, float]] = {}
        self.tags: dict[str, dict[str, str]] = {}
        self.tables: dict[str, list[str]] = {}

    def log_batch(self, run_id, metrics=()):
        self.metrics.setdefault(run_id, {}).update({m.key: m.value for m in metrics})

    def set_tag(self, run_id, key, value):
        self.tags.setdefault(run_id, {})[key] = value

    def log_table(self, run_id, data, artifact_file):
        self.tables.setdefault(run_id, []).append(artifact_file)


def long_items(answers: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The search's judged items as search/judged_items.py reads them: one row per (trial, item)."""
    return pd.concat([rows.assign(trial_id=t) for t, rows in answers.items()], ignore_index=True)


def test_rejudge_scores_kept_answers_and_tags_each_trial_with_its_tier(tmp_path, monkeypatch):
    provider = MockProvider(monkeypatch)
    front, answers = search_front()
    front = dataclasses.replace(front, done=front.done.assign(mlflow_run_id=lambda f: "run-" + f["trial_id"]))
    items = long_items({**answers, BASELINE_ROW: answers_for("base", "poor", 2.5)})
    config = load_config(
        "tiny",
        overrides=[
            "judging.panel=[gpt-4o-mini]",
            "judging.full_panel_policy=front",
            "judging.dominated_nearest=1",
            "judging.dominated_random=0",
            f"paths.cache_dir={tmp_path / 'cache'}",
        ],
    )
    client = RecordingClient()
    out, rescored = rejudge(config, front, items, client, "parent")
    assert provider.calls == 5 * ITEMS  # t1, t2, t3 reachable; t4 nearest dominated; the baseline
    assert client.tags["run-t1"][TIER] == FULL and client.tags["run-t5"][TIER] == CHEAP
    assert client.tables["run-t1"] == [FULL_ARTIFACT] and "run-t5" not in client.tables
    assert client.metrics["run-t1"]["judge_score_full"] == pytest.approx(3.0)
    parent = client.metrics["parent"]
    assert parent["full_panel_trials"] == 4 and parent["full_panel_cost_usd"] > 0
    assert parent["full_panel_judgement_ratio"] == pytest.approx(4 / 6)
    assert parent["baseline_judge_score_full"] == pytest.approx(1.0)
    assert set(out.done.loc[out.done[RANK_COLUMN] == 0, TIER]) == {FULL}
    # The items the bootstrap reads next carry the full panel's scores where it judged, the cheap ones elsewhere.
    by_trial = rescored.groupby("trial_id")["judge_score"].mean()
    assert by_trial["t1"] == pytest.approx(3.0) and by_trial[BASELINE_ROW] == pytest.approx(1.0)
    assert by_trial["t5"] == pytest.approx(1.4)
    full_column = rescored["judge_score__gpt-4o-mini"]
    assert (
        full_column[rescored["trial_id"] == "t1"].notna().all()
        and full_column[rescored["trial_id"] == "t5"].isna().all()
    )
    assert len(rescored) == len(items)


def test_judge_cost_can_be_a_third_objective(tmp_path, monkeypatch):
    """`search.objectives` accepts judge_cost_usd (min): the trial's own judging cost, what Optuna saw. The full
    panel's cost at the end is kept beside it, so rejudging a trial does not move it on the cost axis."""
    MockProvider(monkeypatch)
    config = load_config(
        "tiny",
        overrides=[
            "search.objectives=[{metric: judge_score, mode: max}, {metric: energy_wh, mode: min},"
            " {metric: judge_cost_usd, mode: min}]",
            "search.reference_point={judge_score: 1, energy_wh: 1, judge_cost_usd: 1}",
        ],
    )
    objectives = [Objective(o.metric, o.mode) for o in config.search.objectives]
    front, answers = search_front()
    trials = front.trials.assign(judge_cost_usd=[0.03, 0.02, 0.04, 0.001, 0.05, 0.06, None])
    front = compute_front(trials, objectives, config.search.reference_point)
    settings = SETTINGS.model_copy(update={"dominated_nearest": 0, "dominated_random": 0})
    outcome = multi_fidelity(front, answers, settings, full_panel(tmp_path), config.search.reference_point, seed=0)
    done = outcome.front.done.set_index("trial_id")
    # t4 spent least on judging: on the front of three objectives under either tier, so judged in full; t2 stays
    # on it beside t3 (cheaper to judge).
    assert "t4" in outcome.selection.reachable
    assert done["judge_cost_usd"].tolist() == pytest.approx([0.03, 0.02, 0.04, 0.001, 0.05, 0.06])
    assert (done.loc[done[TIER] == FULL, "judge_cost_usd_full"] > 0).all()
    assert set(done.index[done[RANK_COLUMN] == 0]) == {"t2", "t3", "t4"} and outcome.added == ()
