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
from mlflow.tracking import MlflowClient

from experiment.config import load_config
from front.objectives import DEFAULT_OBJECTIVES, Objective
from front.pareto import RANK_COLUMN
from judging.panel import Panel
from judging.settings import JudgingConfig
from reports.render import format_value
from search.front_table import compute_front
from search.judged_items import BASELINE_ROW
from search.rejudge import (
    CHEAP,
    CHEAP_SCORE,
    FULL,
    FULL_ARTIFACT,
    PENDING_METRIC,
    TIER,
    JudgingLedger,
    interval_survivors,
    multi_fidelity,
    rejudge,
    select_for_full_panel,
)
from tests.helpers import FlakyJudgeServer, run_search

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
    out = rejudge(config, front, long_items(search_front()[1]), client, "parent").front
    assert provider.calls == 0
    assert set(out.done[TIER]) == {FULL}
    assert client.metrics["parent"]["judge_calls"] == 6 * ITEMS
    assert client.metrics["parent"]["full_panel_trials"] == 0


def test_a_trial_the_full_panel_cannot_judge_keeps_its_cheap_score_and_is_pending(tmp_path, monkeypatch):
    """The provider fails every judgement of one trial: the trial is not dropped for a NaN, keeps the cheap tier, and
    the search says the rejudge is pending; the calls that failed are still counted in the ledger."""
    real = litellm.completion

    def provider(**kwargs):
        if "as t2 says" in kwargs["messages"][-1]["content"]:
            raise litellm.ServiceUnavailableError("down", llm_provider="openai", model=kwargs["model"])
        return real(**{**kwargs, "mock_response": reply_for(kwargs)})

    monkeypatch.setattr(litellm, "completion", provider)
    front, answers = search_front()
    settings = SETTINGS.model_copy(update={"dominated_nearest": 0, "dominated_random": 0, "max_retries": 0})
    panel = Panel.from_config(settings, cache_dir=tmp_path / "judge", tier="full", max_concurrency=1, max_retries=0)
    ledger = JudgingLedger(tmp_path / "ledger.json")
    outcome = multi_fidelity(front, answers, settings, panel, REFERENCE_POINT, seed=0, ledger=ledger)
    assert outcome.pending == ("t2",) and "t2" not in outcome.full
    done = outcome.front.done.set_index("trial_id")
    assert done.loc["t2", TIER] == CHEAP and done.loc["t2", "judge_score"] == pytest.approx(3.0)
    assert outcome.search_metrics()[PENDING_METRIC] == 1
    assert "could not judge t2" in outcome.summary_line("exp") and "--resync exp" in outcome.summary_line("exp")
    assert ledger.usage["full:t2"]["calls"] == ITEMS and ledger.usage["full:t2"]["failures"] == ITEMS


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
            f"paths.reports_dir={tmp_path / 'reports'}",
        ],
    )
    client = RecordingClient()
    judged = rejudge(config, front, items, client, "parent")
    out, rescored = judged.front, judged.items
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




# --- the second tier inside a real search: Ray Tune + Optuna + MLflow, the full panel a remote judge ----------

# The full panel: one remote judge, an OpenAI-compatible HTTP stand-in for the provider (tests/helpers.py) that
# answers each rubric prompt with scores from a hash of the prompt (information the cheap panel, the offline
# correctness judge, does not have). litellm prices its replies from its own table by the model's name.
REMOTE_JUDGE = "openai/gpt-4o-mini"
JUDGE_ITEMS = 6
CALIBRATION_ITEMS = 12  # judging/data/calibration.jsonl, run through the full panel's judge at the start
FRONT_SEARCH = [
    "--preset", "tiny",
    "--set", "experiment.name=tiers",
    "--set", "search.num_samples=4",
    "--set", "search.seed_grid=none",
    "--set", "search.space={rank: {choices: [4, 8]}, learning_rate: {low: 0.001, high: 0.02, log: true},"
             " epochs: {choices: [1]}}",
    "--set", "corpus.max_scenarios=40",
    "--set", f"corpus.max_judge_items={JUDGE_ITEMS}",
    "--set", f"judging.panel=[{REMOTE_JUDGE}]",
    "--set", "judging.full_panel_policy=front",
    "--set", "judging.dominated_nearest=1",
    "--set", "judging.dominated_random=0",
    "--set", "judging.max_retries=0",
]  # fmt: skip


class OutageJudgeServer(FlakyJudgeServer):
    """The stand-in provider, answering `budget` rubric prompts and then down (503) until the budget is lifted."""

    def __init__(self, budget: int | None):
        super().__init__(modes=(FlakyJudgeServer.OK,))
        self.budget = budget
        self.rubric_requests = 0

    def answer(self, body: dict) -> tuple[int, dict]:
        if "Reply with the word OK" in body["messages"][-1]["content"]:
            return super().answer(body)
        with self.lock:
            self.rubric_requests += 1
            down = self.budget is not None and self.rubric_requests > self.budget
        if down:
            return 503, {"error": {"message": "the provider is down", "type": "service_unavailable"}}
        return super().answer(body)


@pytest.fixture(scope="module")
def front_search(tmp_path_factory):
    """One search whose full-panel provider answers the calibration and one trial's items, then goes down."""
    workdir = tmp_path_factory.mktemp("tiers")
    server = OutageJudgeServer(budget=CALIBRATION_ITEMS + JUDGE_ITEMS)
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("OPENAI_API_KEY", "not-a-key")  # the client wants one; the stand-in ignores it
            arguments = [*FRONT_SEARCH, "--set", f"judging.api_base={server.url}"]
            proc = run_search(workdir, *arguments)
            yield workdir, proc.stdout + proc.stderr, server, arguments
    finally:
        server.close()


def runs_of(workdir: Path):
    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("tiers").experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("lorapareto.role") == "search"]
    children = {r.data.tags["trial_id"]: r for r in runs if r.data.tags.get("lorapareto.role") == "trial"}
    return client, parent, children


@pytest.mark.e2e
def test_a_provider_outage_during_the_rejudge_keeps_every_trial_and_says_how_to_finish(front_search):
    workdir, output, server, _ = front_search
    _, parent, children = runs_of(workdir)
    assert len(children) == 4 and all(c.info.status == "FINISHED" for c in children.values())
    p = parent.data.metrics
    assert p[PENDING_METRIC] >= 1  # at least the untuned baseline's items, asked after the outage began
    assert "could not judge" in output and "--resync tiers" in output
    # No trial left the front's tables for a NaN: a pending trial keeps its cheap score and tier.
    trials = pd.read_csv(workdir / "reports" / "tiers" / "trials.csv", dtype={"trial_id": str})
    assert len(trials) == 4 and trials["judge_score"].notna().all()
    # The checks at the start, counted apart on the parent run and in the summary: one preflight probe per judge,
    # then the calibration set, for both tiers' judges (the offline cheap judge, no USD; the remote one, priced).
    start_calls = 2 + 2 * CALIBRATION_ITEMS
    assert p["calibration_judge_calls"] == start_calls and p["calibration_judge_cost_usd"] > 0
    assert f"then the calibration on known answers): {start_calls} calls" in output


@pytest.mark.e2e
def test_resync_finishes_the_rejudge_and_the_front_stands_on_full_panel_scores(front_search):
    """`--resync` after the outage: the judgement cache answers what was judged, the provider the rest; then the
    tiers, costs and front are checked on the finished search."""
    workdir, _, server, arguments = front_search
    server.budget = None
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OPENAI_API_KEY", "not-a-key")
        output = run_search(workdir, "--resync", "tiers", *arguments).stdout
    assert "Resynced 'tiers'" in output and "could not judge" not in output
    client, parent, children = runs_of(workdir)
    tiers = {t: c.data.tags[TIER] for t, c in children.items()}
    full = sorted(t for t, tier in tiers.items() if tier == FULL)
    assert set(tiers.values()) <= {FULL, CHEAP} and full

    # Per trial: the cheap panel's judging (offline: no USD; identical answers come from the cache) on every run;
    # the full panel's beside it on the runs it judged.
    for trial, child in children.items():
        m = child.data.metrics
        assert m["judge_calls"] + m["judge_cache_hits"] == JUDGE_ITEMS and m["judge_cost_usd"] == 0
        if tiers[trial] == FULL:
            assert m["judge_calls_full"] + m["judge_cache_hits_full"] >= JUDGE_ITEMS
            assert (m["judge_cost_usd_full"] > 0) == (m["judge_tokens_full"] > 0)
            assert FULL_ARTIFACT in {a.path for a in client.list_artifacts(child.info.run_id)}
            assert m["judge_score"] == pytest.approx(m["judge_score_full"])  # the run's latest: the full panel's
        else:
            assert "judge_calls_full" not in m

    # Per search: every call the provider saw is counted once, over both runs of the search's end.
    p = parent.data.metrics
    assert p[PENDING_METRIC] == 0 and p["full_panel_trials"] == len(full)
    assert p["full_panel_calls"] == sum(children[t].data.metrics["judge_calls_full"] for t in full)
    assert p["judge_calls"] == sum(c.data.metrics["judge_calls"] for c in children.values()) + p["full_panel_calls"]
    assert p["judge_cost_usd"] == pytest.approx(p["full_panel_cost_usd"]) and p["judge_cost_usd"] > 0
    # Every answer the stand-in gave (15 tokens each; the offline judge reports none) is in the tokens counted: the
    # calibration's, the trials' in full and the baseline's six items, judged once the provider was back. The
    # provider saw more requests than calls were counted: the OpenAI client retries a 503 itself, unseen, and unbilled.
    # The remote judge's preflight probe is counted with the calibration (15 tokens) but not in the stand-in's log;
    # the offline judge's probe and calibration make calls of no tokens.
    answered = (p["full_panel_tokens"] + p["calibration_judge_tokens"]) / 15 - 1 + JUDGE_ITEMS
    assert len(server.log) == answered
    remote_checks = p["calibration_judge_calls"] - CALIBRATION_ITEMS - 2  # the calibration through the remote judge
    counted = p["full_panel_calls"] + p["baseline_judge_calls_full"] + remote_checks
    assert answered <= counted <= server.rubric_requests
    assert p["baseline_judge_score"] == pytest.approx(p["baseline_judge_score_full"])

    # The final front is computed on the full panel's scores: every member judged in full, each full trial's
    # judge_score the full panel's, and the front the non-dominated set of the trials' table as the tiers left it.
    trials = pd.read_csv(workdir / "reports" / "tiers" / "trials.csv", dtype={"trial_id": str}).set_index("trial_id")
    front = pd.read_csv(workdir / "reports" / "tiers" / "pareto_front.csv", dtype={"trial_id": str})
    assert set(front[TIER]) == {FULL}
    for trial in full:
        assert trials.loc[trial, "judge_score"] == pytest.approx(children[trial].data.metrics["judge_score_full"])
    for trial in set(tiers) - set(full):
        assert trials.loc[trial, "judge_score"] == pytest.approx(trials.loc[trial, CHEAP_SCORE])
    points = trials[["judge_score", "energy_wh"]].astype(float)
    expected = {
        t for t, (score, energy) in points.iterrows()
        if not any(
            s >= score and e <= energy and (s, e) != (score, energy) for o, (s, e) in points.iterrows() if o != t
        )
    }  # fmt: skip
    assert set(front["trial_id"]) == expected
    assert {t for t, c in children.items() if c.data.tags["pareto_rank"] == "0"} == expected

    # What the user reads: the report's knee and baseline on the full panel's scale, and the judging line.
    assert f"full panel on {len(full)} of 4 completed trials" in output
    report = (workdir / "reports" / "tiers" / "report.md").read_text()
    knee = parent.data.tags["knee_run_id"]
    (knee_trial,) = [t for t, c in children.items() if c.info.run_id == knee]
    score = format_value(trials.loc[knee_trial, "judge_score"])
    assert f"**Knee of the front**: {knee_trial} (judge_score = {score}," in report
    assert f"Untuned base model judge score: {format_value(p['baseline_judge_score'])}." in report

    # Run again: nothing judged, nothing counted twice.
    requests = server.rubric_requests
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OPENAI_API_KEY", "not-a-key")
        run_search(workdir, "--resync", "tiers", *arguments)
    assert server.rubric_requests == requests
    assert runs_of(workdir)[1].data.metrics["full_panel_calls"] == p["full_panel_calls"]
