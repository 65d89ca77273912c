"""MO-ASHA: the rung decision as pure functions, then the scheduler inside a real Ray Tune run."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from front.objectives import Objective
from search.moasha import (
    DEFAULT_RUNG_OBJECTIVES,
    MultiObjectiveAsha,
    RungBook,
    StoppedTrial,
    keeps,
    nsga_order,
    rung_milestones,
)

OBJECTIVES = (Objective("score", "max"), Objective("energy_wh", "min"))


def _table(rows: dict[str, tuple[float, float]]) -> pd.DataFrame:
    return pd.DataFrame.from_dict(rows, orient="index", columns=["score", "energy_wh"])


def test_milestones_follow_the_reduction_factor_below_max_t():
    assert rung_milestones(1, 2, 3) == [1, 2]
    assert rung_milestones(1, 3, 27) == [1, 3, 9]
    assert rung_milestones(2, 2, 2) == []
    with pytest.raises(ValueError):
        rung_milestones(1, 1, 3)


def test_dominated_trial_is_stopped_and_front_member_is_kept():
    table = _table({"a": (3.0, 1.0), "b": (2.0, 2.0)})  # a dominates b
    assert keeps(table, "a", OBJECTIVES, stop_fraction=0.5)
    assert not keeps(table, "b", OBJECTIVES, stop_fraction=0.5)


def test_two_non_dominated_trials_do_not_stop_each_other():
    table = _table({"cheap": (1.0, 1.0), "good": (3.0, 3.0)})
    assert keeps(table, "cheap", OBJECTIVES, 0.5) and keeps(table, "good", OBJECTIVES, 0.5)


def test_crowding_distance_breaks_ties_inside_a_large_front():
    # Five mutually non-dominated points on a line: crowding p1 (0.55) < p2 (1.0) < p3 (1.45), boundaries inf.
    table = _table({"p0": (1, 1), "p1": (2, 2), "p2": (2.1, 2.1), "p3": (4, 4), "p4": (5, 5)})
    order = nsga_order(table, OBJECTIVES)
    assert (order["rank"] == 0).all()
    assert math.isinf(order.loc["p0", "crowding"]) and math.isinf(order.loc["p4", "crowding"])
    assert order.loc["p2", "crowding"] < order.loc["p3", "crowding"]
    # Keep 1 of 5 (stop 0.8): only a boundary point survives. Keep 3 of 5 (stop 0.5): boundaries and p3.
    assert keeps(table, "p0", OBJECTIVES, 0.8)
    assert not keeps(table, "p3", OBJECTIVES, 0.8)
    assert [keeps(table, p, OBJECTIVES, 0.5) for p in ("p0", "p1", "p2", "p3", "p4")] == [
        True,
        False,
        False,
        True,
        True,
    ]


def test_rungbook_judges_each_trial_once_per_rung_against_earlier_arrivals():
    book = RungBook(OBJECTIVES, grace_period=1, reduction_factor=2, max_t=4)
    assert book.milestones == [1, 2]
    assert book.on_result("a", 1, {"score": 3.0, "energy_wh": 1.0})  # first at the rung: continues
    assert not book.on_result("b", 1, {"score": 2.0, "energy_wh": 1.5})  # dominated by a: stopped
    # Already judged at rung 1: a second result before rung 2 is not re-judged.
    assert book.on_result("a", 1.5, {"score": 0.0, "energy_wh": 9.0})
    assert book.on_result("a", 2, {"score": 3.5, "energy_wh": 2.0})
    assert set(book.recorded[1]) == {"a", "b"} and set(book.recorded[2]) == {"a"}
    # Epoch 3 is past the last rung (2), where "a" is already recorded: it runs to the end.
    assert book.on_result("a", 3, {"score": 0.0, "energy_wh": 99.0})


def test_nan_and_final_results_are_never_stopped():
    book = RungBook(OBJECTIVES, max_t=3)
    book.on_result("good", 1, {"score": 5.0, "energy_wh": 0.1})
    # A failed probe (NaN) says nothing: continue, and keep it out of the rung.
    assert book.on_result("nan", 1, {"score": float("nan"), "energy_wh": 1.0})
    assert "nan" not in book.recorded[1]
    # A trial whose last epoch is this rung ends anyway; it is recorded for later comparisons.
    assert book.on_result("short", 1, {"score": 1.0, "energy_wh": 1.0}, final=True)
    assert "short" in book.recorded[1]
    assert not book.on_result("late", 1, {"score": 0.5, "energy_wh": 2.0})


def test_forget_drops_an_errored_trial():
    book = RungBook(OBJECTIVES, max_t=3)
    book.on_result("x", 1, {"score": 5.0, "energy_wh": 0.1})
    book.forget("x")
    assert book.recorded[1] == {}


def test_energy_saved_extrapolates_the_trials_own_rate():
    assert StoppedTrial("t", stopped_at=1, energy_wh=0.2, planned_t=3).energy_saved_wh == pytest.approx(0.4)
    assert StoppedTrial("t", stopped_at=2, energy_wh=0.2, planned_t=2).energy_saved_wh == 0.0
    assert StoppedTrial("t", stopped_at=1, energy_wh=float("nan"), planned_t=3).energy_saved_wh == 0.0


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        RungBook((Objective("score", "max"),))
    with pytest.raises(ValueError):
        RungBook(OBJECTIVES, stop_fraction=1.0)


def test_save_and_restore_round_trip(tmp_path):
    scheduler = MultiObjectiveAsha(OBJECTIVES, max_t=3)
    scheduler.book.on_result("a", 1, {"score": 1.0, "energy_wh": 1.0})
    scheduler.stopped["b"] = StoppedTrial("b", 1, 0.5, 3)
    path = tmp_path / "moasha.pkl"
    scheduler.save(str(path))
    restored = MultiObjectiveAsha(OBJECTIVES, max_t=3)
    restored.restore(str(path))
    assert restored.book.recorded == scheduler.book.recorded
    assert restored.energy_saved_wh == pytest.approx(1.0)


# ---- a real Ray Tune run on a cheap function trainable -------------------------------------------------

EPOCHS = 3
ENERGY_PER_EPOCH = {"small": 0.1, "large": 0.3}


def cheap_trainable(config: dict) -> None:
    """Deterministic stand-in for a LoRA trial: score grows with `quality`, energy with `size`."""
    from ray import tune

    for epoch in range(1, EPOCHS + 1):
        tune.report(
            {
                "epoch": epoch,
                "probe_judge_score": config["quality"] * epoch,
                "energy_wh": ENERGY_PER_EPOCH[config["size"]] * epoch,
                "judge_score": config["quality"] * epoch if epoch == EPOCHS else float("nan"),
                "is_final": epoch == EPOCHS,
            }
        )


@pytest.fixture(scope="module")
def local_ray():
    import sys

    import ray
    from ray import cloudpickle

    # tests/ is not a package the workers can import: ship this module's trainable by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    yield
    ray.shutdown()


def _fit(tmp_path, tune_config, param_space=None):
    from ray import tune

    tuner = tune.Tuner(
        cheap_trainable,
        param_space=param_space or {},
        tune_config=tune_config,
        run_config=tune.RunConfig(name="moasha", storage_path=str(tmp_path), verbose=0),
    )
    return tuner.fit()


@pytest.mark.e2e
def test_real_tune_run_stops_dominated_trials_and_counts_saved_energy(local_ray, tmp_path):
    from ray import tune

    # Sequential trials (concurrency 1) make arrival order, and so every rung decision, deterministic:
    # quality 3 (small) runs first; 1 (large) is dominated by it at rung 1 and stopped; 2 (small) is 2nd of 3
    # at rung 1 (kept: the best ceil(3/2) continue) but dominated by 3 at rung 2; 4 (small) leads both rungs.
    scheduler = MultiObjectiveAsha(DEFAULT_RUNG_OBJECTIVES, time_attr="epoch", max_t=EPOCHS)
    param_space = {
        "quality": tune.grid_search([3.0, 1.0, 2.0, 4.0]),
        "size": tune.sample_from(lambda spec: "large" if spec.config.quality < 2 else "small"),
        "epochs": EPOCHS,
    }
    results = _fit(tmp_path, tune.TuneConfig(scheduler=scheduler, max_concurrent_trials=1), param_space)
    last_epoch = {r.config["quality"]: r.metrics["epoch"] for r in results}
    assert last_epoch == {3.0: 3, 1.0: 1, 2.0: 2, 4.0: 3}
    assert all(r.error is None for r in results)
    # Saved: large stopped after 1 of 3 epochs (2 x 0.3 Wh); small stopped after 2 of 3 (1 x 0.1 Wh).
    assert scheduler.energy_saved_wh == pytest.approx(2 * 0.3 + 0.1)
    assert sorted(s.stopped_at for s in scheduler.stopped.values()) == [1.0, 2.0]
    assert "2 stopped" in scheduler.debug_string()


@pytest.mark.e2e
def test_stopped_trials_reach_a_multi_objective_optuna_study_as_pruned(local_ray, tmp_path):
    import optuna
    from ray import tune

    from search.searcher import ConstrainedOptunaSearch

    points = [
        {"quality": 3.0, "size": "small", "epochs": EPOCHS},
        {"quality": 1.0, "size": "large", "epochs": EPOCHS},
        {"quality": 4.0, "size": "small", "epochs": EPOCHS},
        {"quality": 2.0, "size": "large", "epochs": EPOCHS},
    ]
    storage = optuna.storages.InMemoryStorage()
    searcher = ConstrainedOptunaSearch(
        space={
            "quality": optuna.distributions.FloatDistribution(0.5, 5.0),
            "size": optuna.distributions.CategoricalDistribution(["small", "large"]),
            "epochs": optuna.distributions.IntDistribution(EPOCHS, EPOCHS),
        },
        metric=["judge_score", "energy_wh"],
        mode=["max", "min"],
        points_to_evaluate=points,
        sampler=optuna.samplers.TPESampler(seed=0),
        storage=storage,
        study_name="moasha-test",
    )
    scheduler = MultiObjectiveAsha(DEFAULT_RUNG_OBJECTIVES, max_t=EPOCHS)
    limited = tune.search.ConcurrencyLimiter(searcher, max_concurrent=1)
    _fit(tmp_path, tune.TuneConfig(scheduler=scheduler, search_alg=limited, num_samples=len(points)))
    study = optuna.load_study(study_name="moasha-test", storage=storage)
    states = {t.params["quality"]: t.state for t in study.trials}
    assert states[1.0] == optuna.trial.TrialState.PRUNED
    assert states[2.0] == optuna.trial.TrialState.PRUNED
    assert states[3.0] == states[4.0] == optuna.trial.TrialState.COMPLETE
    # The multi-objective sampler still works after pruned trials: it proposes a new point.
    follow_up = study.ask()
    assert 0.5 <= follow_up.suggest_float("quality", 0.5, 5.0) <= 5.0
    # Pruned trials are not on the front: only quality 4 (score 12 at 0.3 Wh) is, dominating quality 3.
    assert [[round(v, 6) for v in t.values] for t in study.best_trials] == [[12.0, 0.3]]


# ---- the replay benchmark runs the same rule on a table ---------------------------------------------------


def _bench_search():
    import importlib

    return importlib.import_module("benchmarks.bench_search")


def _synthetic_table():
    Table = _bench_search().Table

    params, epochs = {}, {}
    # Config "c<q>": probe and judge score q * epoch; the two low-quality configs cost 3x the energy per epoch.
    for quality in (1.0, 2.0, 3.0, 4.0):
        per_epoch = 0.03 if quality < 2.5 else 0.01
        cid = f"c{quality:g}"
        params[cid] = {"rank": int(quality), "epochs": 3}
        epochs[cid] = pd.DataFrame(
            {
                "epoch": [1, 2, 3],
                "is_final": [False, False, True],
                "probe_judge_score": [quality * e for e in (1, 2, 3)],
                "judge_score": [quality * e for e in (1, 2, 3)],
                "energy_wh": [per_epoch * e for e in (1, 2, 3)],
            }
        )
    return Table(params, epochs, grid_ids=list(params))


def _synthetic_config(sampler: str, scheduler: str, seed_grid: str = "none"):
    from experiment.config import ExperimentConfig
    from experiment.search_settings import SearchConfig

    search = SearchConfig(
        sampler=sampler,
        scheduler=scheduler,
        seed_grid=seed_grid,
        space={"rank": {"choices": [1, 2, 3, 4]}, "epochs": {"choices": [3]}},
    )
    return ExperimentConfig(search=search, training={"probe_items": 4})


def test_replay_charges_only_the_epochs_trained_and_moasha_spends_less():
    replay = _bench_search().replay
    table = _synthetic_table()
    # Best first: the later, dominated arrivals meet a rung that already holds better trials.
    grid = [table.params[c] for c in reversed(table.grid_ids)]
    reference = {"judge_score": 0.0, "energy_wh": 1.0}
    full = replay(table, _synthetic_config("grid16", "fifo"), grid, 0, 10.0, 1, reference)
    stopped = replay(table, _synthetic_config("grid16", "moasha"), grid, 0, 10.0, 1, reference)
    assert full.trials == stopped.trials == 4 and full.stopped == 0
    assert full.energy[-1] == pytest.approx(2 * 0.09 + 2 * 0.03)
    assert stopped.stopped >= 1
    # Each stopped trial is charged only its epochs: the total is the full cost minus the untrained epochs.
    assert stopped.energy[-1] < full.energy[-1]
    # Quality 4 (the best score at the least energy) is never stopped, so the front, and its volume, survive.
    assert stopped.hv[-1] == pytest.approx(full.hv[-1])


def test_replay_evaluates_the_seed_grid_first_in_its_order_as_the_search_does():
    """OptunaSearch enqueues points_to_evaluate before the sampler proposes; the replay must do the same."""
    replay = _bench_search().replay
    table = _synthetic_table()
    grid = [table.params["c4"], table.params["c1"]]
    reference = {"judge_score": 0.0, "energy_wh": 1.0}
    # One worker: trials finish in the order they start. c4 then c1 cost 0.03 + 0.09 Wh whatever the seed.
    for seed in range(3):
        run = replay(table, _synthetic_config("random", "fifo"), grid, seed, 0.1, 1, reference)
        assert run.energy[:2] == [pytest.approx(0.03), pytest.approx(0.12)]
        assert run.hv[0] == pytest.approx(12.0 * (1.0 - 0.03))


def test_replay_and_search_build_the_same_rung_rule_from_the_config():
    from experiment.config import load_config
    from search.moasha import rung_settings

    config = load_config(
        "tiny",
        overrides=["search.scheduler=moasha", "search.early_stopping.stop_fraction=0.25", "training.probe_items=4"],
    )
    settings = rung_settings(config.search.early_stopping, config.max_epochs())
    scheduler = MultiObjectiveAsha(**settings)
    assert scheduler.book.stop_fraction == 0.25
    assert scheduler.book.milestones == [1, 2]  # grace 1, factor 2, below the space's 3 epochs
    assert tuple(scheduler.book.objectives) == DEFAULT_RUNG_OBJECTIVES
