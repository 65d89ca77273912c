"""The search space from the config, the `paper16` reference grid, and the Optuna samplers.

`paper16` is a RECONSTRUCTION of the reference study's 16 configurations: its exact table is not public.
Known axes: ranks 16 and 32; 2, 4 or 7 target modules (qv / qkvo / all-linear). We complete the 6 rank x
module combinations to 16 with the LoRA alpha (alpha = r and alpha = 2r: 12 points) and a longer training
run (one more epoch) for the 2- and 7-module sets (4 points), since the study's 5x energy spread needs
configurations that differ in compute.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import optuna
from ray import tune

from common.errors import InputError
from corpus.settings import CorpusConfig
from experiment.search_settings import ParamSpec, SearchConfig
from trainables.contract import DATA_PREFIX, trial_settings
from trainables.settings import TrialSettings

GRID_LABEL = "paper16 (reconstruction of the reference study's 16 configurations)"


def tune_space(space: dict[str, ParamSpec]) -> dict[str, Any]:
    """Ray Tune domains, which OptunaSearch converts into Optuna distributions."""
    out: dict[str, Any] = {}
    for name, spec in space.items():
        if spec.choices is not None:
            out[name] = tune.choice(list(spec.choices))
        elif spec.integer:
            low, high = int(spec.low), int(spec.high)
            out[name] = tune.lograndint(low, high + 1) if spec.log else tune.randint(low, high + 1)
        else:
            out[name] = tune.loguniform(spec.low, spec.high) if spec.log else tune.uniform(spec.low, spec.high)
    return out


def _in_space(spec: ParamSpec, value: Any) -> bool:
    if spec.choices is not None:
        return value in spec.choices
    return spec.low <= value <= spec.high


def paper16_points(defaults: TrialSettings) -> list[dict[str, Any]]:
    points = [
        {"rank": rank, "target_modules": modules, "alpha_multiple": alpha, "epochs": defaults.epochs}
        for rank, modules, alpha in itertools.product((16, 32), ("qv", "qkvo", "all-linear"), (1.0, 2.0))
    ]
    points += [
        {"rank": rank, "target_modules": modules, "alpha_multiple": 2.0, "epochs": defaults.epochs + 1}
        for rank, modules in itertools.product((16, 32), ("qv", "all-linear"))
    ]
    return points


def seed_points(
    search: SearchConfig, defaults: TrialSettings, corpus: CorpusConfig | None = None
) -> list[dict[str, Any]]:
    """The grid over the space's axes. Optuna needs every axis in every point: axes the grid does not set take
    the `training:` defaults, a data axis (`corpus.*`) the `corpus:` setting where it is a choice and its first
    choice otherwise, and grid axes outside the space are dropped (the trial uses its default)."""
    if search.seed_grid == "none" and search.sampler != "grid16":
        return []
    points: list[dict[str, Any]] = []
    for full in paper16_points(defaults):
        point = {}
        for name, spec in search.space.items():
            if name.startswith(DATA_PREFIX):
                point[name] = _data_default(name, spec, corpus)
                continue
            value = full.get(name, getattr(defaults, name))
            if not _in_space(spec, value):
                origin = "the paper16 grid needs" if name in full else "the training default"
                raise InputError(
                    "search.space",
                    name,
                    f"{origin} {name}={value!r}, outside the space; widen the space, change training.{name} "
                    "or set search.seed_grid=none",
                )
            point[name] = value
        if point not in points:
            points.append(point)
    if search.seed_order == "cheapest_first":
        points.sort(key=lambda p: estimated_cost(p, defaults))
    return points


def _data_default(name: str, spec: ParamSpec, corpus: CorpusConfig | None) -> Any:
    configured = getattr(corpus, name.removeprefix(DATA_PREFIX)) if corpus is not None else None
    return configured if corpus is not None and configured in spec.choices else spec.choices[0]


def data_variants(space: dict[str, ParamSpec]) -> list[dict[str, Any]]:
    """Every combination of the space's data choices (one corpus variant each); [] without data axes."""
    axes = sorted(name for name in space if name.startswith(DATA_PREFIX))
    if not axes:
        return []
    return [dict(zip(axes, values, strict=True)) for values in itertools.product(*(space[a].choices for a in axes))]


def estimated_cost(point: dict[str, Any], defaults: TrialSettings) -> tuple[float, ...]:
    """Training cost, ordinally: compute grows with epochs first, then with the adapted modules (each adds its
    backward pass), then with the LoRA rank. Unknown axes take the training defaults."""
    settings = trial_settings(defaults, point)
    return (settings.epochs, len(settings.module_names), settings.rank)


def make_sampler(search: SearchConfig, seed: int) -> optuna.samplers.BaseSampler:
    constraints = _energy_constraint if search.energy_budget_wh is not None else None
    if search.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constraints_func=constraints)
    if search.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=8, constraints_func=constraints)
    if search.sampler == "gp":
        return optuna.samplers.GPSampler(seed=seed, constraints_func=constraints)
    # random, and grid16 (whose 16 points all come from points_to_evaluate)
    return optuna.samplers.RandomSampler(seed=seed)


CONSTRAINT_ATTR = "constraints"


def record_energy_constraint(trial: optuna.trial.Trial, energy_wh: float, energy_budget_wh: float | None) -> None:
    """Store a finished (or stopped) trial's constraint value, which `_energy_constraint` hands the sampler.

    Both the searcher and the replay benchmark call this, so they give the sampler the same feasibility."""
    if energy_budget_wh is not None and math.isfinite(energy_wh):
        trial.set_user_attr(CONSTRAINT_ATTR, [float(energy_wh) - energy_budget_wh])


def _energy_constraint(trial: optuna.trial.FrozenTrial) -> list[float]:
    # Optuna's convention: values <= 0 are feasible. Set by the searcher when the trial completes.
    return list(trial.user_attrs.get(CONSTRAINT_ATTR, [0.0]))
