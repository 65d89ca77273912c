"""The searcher's journal (search/searcher.py) without a cluster: a driver killed after a suggestion that Tune's
snapshot does not hold resumes with that point, under its own Optuna trial, and the sampler goes on from there."""

from __future__ import annotations

import optuna
from ray import tune

from search.searcher import RETRY_ATTR, UNRECORDED_ATTR, ConstrainedOptunaSearch

SPACE = {"x": tune.uniform(0.0, 1.0), "c": tune.choice([1, 2, 3, 4, 5, 6, 7, 8])}
METRICS = ["judge_score", "energy_wh"]


def _searcher(tmp_path, journal: bool = True) -> ConstrainedOptunaSearch:
    searcher = ConstrainedOptunaSearch(
        metric=METRICS,
        mode=["max", "min"],
        sampler=optuna.samplers.RandomSampler(seed=7),
        storage=optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'optuna.db'}"),
        study_name="s",
        journal_path=tmp_path / "s.searcher.pkl" if journal else None,
    )
    searcher.set_search_properties(None, None, SPACE)
    return searcher


def _tune_snapshot(searcher: ConstrainedOptunaSearch, folder, trial_ids: list[str]):
    """What Tune writes in one save_to_dir: its experiment state (naming its trials), then the searcher."""
    folder.mkdir()
    (folder / "experiment_state-2026-11-30_00-00-00.json").write_text(str({"trial_data": trial_ids}))
    searcher.save(str(folder / "searcher-state-2026-11-30_00-00-00.pkl"))
    return folder / "searcher-state-2026-11-30_00-00-00.pkl"


def _states(tmp_path) -> list[optuna.trial.TrialState]:
    return [t.state for t in optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'optuna.db'}").trials]


def test_a_point_asked_after_tunes_snapshot_runs_next_under_its_own_optuna_trial(tmp_path):
    first = _searcher(tmp_path)
    a = first.suggest("a")
    snapshot = _tune_snapshot(first, tmp_path / "tune", ["a"])
    b = first.suggest("b")  # the driver is killed here: Tune's snapshot never named trial b

    resumed = _searcher(tmp_path)
    resumed.restore(str(snapshot))
    # Tune's next trial gets b's point and b's Optuna trial; the one after it a point of its own.
    assert resumed.suggest("c") == b and resumed._ot_trials["c"].number == 1
    d = resumed.suggest("d")
    assert d not in (a, b) and resumed._ot_trials["d"].number == 2
    for trial_id in ("a", "c", "d"):
        resumed.on_trial_complete(trial_id, {"judge_score": 3.0, "energy_wh": 0.1, "is_final": True})
    assert _states(tmp_path) == [optuna.trial.TrialState.COMPLETE] * 3


def test_without_the_journal_the_restored_sampler_draws_the_same_point_again(tmp_path):
    """The root cause, kept as a check: Tune's snapshot alone brings back the seeded sampler as it was before the
    lost ask, so it draws that point again. Claiming the lost ask as well would run the point twice; it is closed
    as FAIL, labelled, never having run, and the point runs once, drawn again."""
    first = _searcher(tmp_path, journal=False)
    first.suggest("a")
    snapshot = _tune_snapshot(first, tmp_path / "tune", ["a"])
    b = first.suggest("b")

    resumed = _searcher(tmp_path, journal=False)
    resumed.restore(str(snapshot))
    assert resumed.suggest("c") == b and resumed._ot_trials["c"].number == 2
    lost = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'optuna.db'}").trials[1]
    assert lost.state == optuna.trial.TrialState.FAIL and UNRECORDED_ATTR in lost.user_attrs
    assert resumed.suggest("d") != b


def test_a_kill_in_the_middle_of_an_ask_loses_no_seed_point_and_reruns_no_sampled_one(tmp_path):
    first = _searcher(tmp_path)
    first.suggest("a")
    snapshot = _tune_snapshot(first, tmp_path / "tune", ["a"])
    # Study.ask stores values one by one: a kill after the first leaves a RUNNING trial with `x` alone. First a
    # seed-grid point (taken from Optuna's queue), then a sampled one.
    first._ot_study.enqueue_trial({"x": 0.25, "c": 3})
    seed = first._ot_study.ask()
    seed._suggest("x", first._space["x"])
    sampled = first._ot_study.ask()
    x = sampled._suggest("x", first._space["x"])

    resumed = _searcher(tmp_path)
    resumed.restore(str(snapshot))
    assert resumed.suggest("b") == {"x": 0.25, "c": 3} and resumed._ot_trials["b"].number == seed.number
    point = resumed.suggest("c")
    assert point["x"] == x and resumed._ot_trials["c"].number == sampled.number + 1  # drawn again, once
    states = _states(tmp_path)
    assert states[sampled.number] == optuna.trial.TrialState.FAIL


def test_a_trial_that_failed_and_completes_on_resume_is_a_complete_optuna_trial_naming_its_attempt(tmp_path):
    searcher = _searcher(tmp_path)
    point = searcher.suggest("a")
    searcher.on_trial_complete("a", error=True)  # a full disk: Tune gave up after max_failures
    searcher.on_trial_complete("a", {"judge_score": 3.5, "energy_wh": 0.2, "is_final": True})  # --resume
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    failed, completed = study.trials
    assert failed.state == optuna.trial.TrialState.FAIL
    assert completed.state == optuna.trial.TrialState.COMPLETE and completed.values == [3.5, 0.2]
    assert completed.user_attrs[RETRY_ATTR] == failed.number and completed.params == failed.params
    assert {k: completed.params[k] for k in point} == point
    # A second completion of the same trial (Tune reporting it twice) adds nothing.
    searcher.on_trial_complete("a", {"judge_score": 3.5, "energy_wh": 0.2, "is_final": True})
    assert len(study.trials) == 2
