"""Search pieces without a cluster: samplers, the constrained/pruning searcher, the energy constraint."""

from __future__ import annotations

import math

import optuna
import pytest
from ray import tune

from experiment.config import load_config
from search.searcher import ConstrainedOptunaSearch
from search.space import (
    CONSTRAINT_ATTR,
    _energy_constraint,
    estimated_cost,
    make_sampler,
    record_energy_constraint,
    seed_points,
    tune_space,
)


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("tpe", optuna.samplers.TPESampler),
        ("nsga2", optuna.samplers.NSGAIISampler),
        ("gp", optuna.samplers.GPSampler),
        ("random", optuna.samplers.RandomSampler),
        ("grid16", optuna.samplers.RandomSampler),
    ],
)
def test_sampler_by_name(name, cls):
    config = load_config("tiny", overrides=[f"search.sampler={name}"])
    assert isinstance(make_sampler(config.search, seed=0), cls)


def test_grid16_is_only_the_reference_grid():
    config = load_config("tiny", overrides=["search.sampler=grid16", "search.seed_grid=none"])
    assert len(seed_points(config.search, config.training)) == 16


def _searcher(budget=None):
    config = load_config("tiny")
    space = {"rank": tune.choice([4, 8]), "learning_rate": tune.loguniform(1e-3, 1e-2)}
    return ConstrainedOptunaSearch(
        space=None,
        metric=["judge_score", "energy_wh"],
        mode=["max", "min"],
        sampler=make_sampler(config.search, 0),
        seed=0,
        energy_budget_wh=budget,
    ), space


def _ready(searcher, space):
    searcher.set_search_properties(None, None, space)
    return searcher


def test_energy_budget_becomes_an_optuna_constraint():
    searcher, space = _searcher(budget=2.0)
    _ready(searcher, space)
    assert searcher.suggest("a") is not None and searcher.suggest("b") is not None
    searcher.on_trial_complete("a", {"judge_score": 3.0, "energy_wh": 5.0, "is_final": True})
    searcher.on_trial_complete("b", {"judge_score": 2.0, "energy_wh": 1.5, "is_final": True})
    trials = {t.number: t for t in searcher._ot_study.trials}
    assert trials[0].user_attrs[CONSTRAINT_ATTR] == [pytest.approx(3.0)]  # infeasible: > 0
    assert trials[1].user_attrs[CONSTRAINT_ATTR] == [pytest.approx(-0.5)]  # feasible
    assert _energy_constraint(trials[0]) == [pytest.approx(3.0)]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials.values())


def test_trial_stopped_early_is_pruned_not_scored():
    searcher, space = _searcher()
    _ready(searcher, space)
    searcher.suggest("a")
    searcher.suggest("b")
    searcher.on_trial_complete(
        "a", {"judge_score": math.nan, "probe_judge_score": 2.0, "energy_wh": 0.1, "is_final": False}
    )
    searcher.on_trial_complete("b", {"judge_score": 2.5, "energy_wh": 0.2, "is_final": True})
    states = [t.state for t in searcher._ot_study.trials]
    assert states == [optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.COMPLETE]
    assert len(searcher._ot_study.best_trials) == 1


def test_tune_space_kinds():
    config = load_config("tiny")
    space = tune_space(config.search.space)
    assert isinstance(space["rank"], tune.search.sample.Categorical)
    assert isinstance(space["learning_rate"], tune.search.sample.Float)


def test_seed_grid_runs_cheapest_first_by_default_and_as_listed_on_request():
    config = load_config("tiny")
    points = seed_points(config.search, config.training)
    modules = {"qv": 2, "qkvo": 4, "all-linear": 7}
    costs = [(p["epochs"], modules[p["target_modules"]], p["rank"]) for p in points]
    assert costs == sorted(costs)
    assert costs[0] == (2, 2, 16) and costs[-1] == (3, 7, 32)
    listed = load_config("tiny", overrides=["search.seed_order=listed"])
    as_listed = seed_points(listed.search, listed.training)
    assert as_listed != points
    assert sorted(map(str, as_listed)) == sorted(map(str, points))  # the same 16 points, reordered
    assert as_listed[0]["target_modules"] == "qv" and as_listed[0]["epochs"] == 2


def test_estimated_cost_takes_training_defaults_for_axes_outside_the_space():
    config = load_config("tiny", overrides=["search.space={rank: {choices: [8, 16, 32]}}", "training.epochs=3"])
    assert estimated_cost({"rank": 8}, config.training) == (3, len(("q_proj", "v_proj")), 8)
    assert estimated_cost({"rank": 8, "target_modules": "all-linear"}, config.training) > estimated_cost(
        {"rank": 32, "target_modules": "qkvo"}, config.training
    )
    # An explicit module list counts its modules.
    assert estimated_cost({"rank": 8, "target_modules": ["q_proj", "k_proj", "v_proj"]}, config.training)[1] == 3


def test_energy_constraint_is_recorded_only_under_a_budget():
    study = optuna.create_study(directions=["maximize", "minimize"])
    trial = study.ask()
    record_energy_constraint(trial, 0.5, None)
    assert CONSTRAINT_ATTR not in trial.user_attrs
    record_energy_constraint(trial, math.nan, 0.2)
    assert CONSTRAINT_ATTR not in trial.user_attrs
    record_energy_constraint(trial, 0.5, 0.2)
    assert trial.user_attrs[CONSTRAINT_ATTR] == [pytest.approx(0.3)]
