"""The one objectives table: which metrics the search optimises and in which direction.

Directions are normalised once, here, at the edge (as syne-tune does): `to_minimisation` turns a table of
metrics into a loss matrix in which every column is minimised, so the Pareto, hypervolume and knee code
never branches on "max" or "min".
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from common.errors import InputError

Direction = Literal["max", "min"]
DIRECTIONS: tuple[Direction, ...] = ("max", "min")


@dataclass(frozen=True)
class Objective:
    """One optimised metric (named with its unit, e.g. `energy_wh`) and whether larger or smaller wins."""

    metric: str
    mode: Direction

    def __post_init__(self) -> None:
        if self.mode not in DIRECTIONS:
            raise ValueError(f"objective {self.metric!r}: mode must be 'max' or 'min', got {self.mode!r}")
        if not self.metric:
            raise ValueError("objective metric name is empty")

    @property
    def sign(self) -> float:
        """Multiplier that turns this metric into a quantity to minimise."""
        return -1.0 if self.mode == "max" else 1.0


DEFAULT_OBJECTIVES: tuple[Objective, ...] = (Objective("judge_score", "max"), Objective("energy_wh", "min"))

INF = float("inf")
# What each metric a trial reports can take (trainables/contract.py gives the units): (low, high, low_attainable).
# The judges score on the rubric's 1-5 scale; energy is always spent (> 0, so a reference of 0 Wh can never be
# beaten); losses are cross-entropies (>= 0), perplexity = exp(val_loss) >= 1; agreement is a Spearman correlation.
METRIC_BOUNDS: dict[str, tuple[float, float, bool]] = {
    "judge_score": (1.0, 5.0, True),
    "probe_judge_score": (1.0, 5.0, True),
    "judge_relevance": (1.0, 5.0, True),
    "judge_grammar": (1.0, 5.0, True),
    "judge_structure": (1.0, 5.0, True),
    "judge_style": (1.0, 5.0, True),
    "judge_agreement": (-1.0, 1.0, True),
    "judge_pairwise_win_rate": (0.0, 1.0, True),
    "judge_pairwise_consistency": (0.0, 1.0, True),
    "judge_cost_usd": (0.0, INF, True),
    "energy_wh": (0.0, INF, False),
    "energy_eval_wh": (0.0, INF, False),
    "train_loss": (0.0, INF, True),
    "val_loss": (0.0, INF, True),
    "perplexity": (1.0, INF, True),
    "train_seconds": (0.0, INF, False),
    "tokens_per_second": (0.0, INF, False),
    "peak_memory_mb": (0.0, INF, False),
    "trainable_params": (1.0, INF, True),
}


def reference_problem(objective: Objective, value: float) -> str | None:
    """Why `value` cannot serve as the reference point's coordinate for `objective`, or None if it can.

    The hypervolume counts only trials that beat the reference on every objective: a reference at or beyond the
    best end a metric can reach is never beaten (the hypervolume stays 0 whatever the trials do), and one beyond
    the worst end is beaten by every trial for free (hypervolumes inflate and no longer compare across searches).
    """
    if objective.metric not in METRIC_BOUNDS:
        return None
    low, high, low_attainable = METRIC_BOUNDS[objective.metric]
    scale = f"{objective.metric} lies in {'[' if low_attainable else '('}{low:g}, {high:g}{']' if high < INF else ')'}"
    best, worst = (high, low) if objective.mode == "max" else (low, high)
    if (value >= best) if objective.mode == "max" else (value <= best):
        return f"{value:g} can never be beaten by a {objective.mode}imised {objective.metric} ({scale})"
    if (value < worst) if objective.mode == "max" else (value > worst):
        return f"{value:g} is beyond the worst {objective.metric} possible, so every trial beats it for free ({scale})"
    return None


def metric_names(objectives: Sequence[Objective]) -> list[str]:
    return [objective.metric for objective in objectives]


def to_minimisation(df: pd.DataFrame, objectives: Sequence[Objective]) -> np.ndarray:
    """Loss matrix (rows of `df`, one column per objective) in which every column is to be minimised.

    Missing values stay NaN so callers decide how to exclude them; a missing column is a KeyError naming it.
    """
    missing = [name for name in metric_names(objectives) if name not in df.columns]
    if missing:
        raise KeyError(f"objective metrics missing from the table: {', '.join(missing)}")
    values = df[metric_names(objectives)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    signs = np.array([objective.sign for objective in objectives], dtype=float)
    return values * signs


def point_to_minimisation(point: Mapping[str, float], objectives: Sequence[Objective]) -> np.ndarray:
    """One point given in the metrics' own units (e.g. a reference point), converted like `to_minimisation`.

    A metric missing from `point` is a KeyError naming it.
    """
    missing = [name for name in metric_names(objectives) if name not in point]
    if missing:
        raise KeyError(f"point has no value for objective metrics: {', '.join(missing)}")
    return np.array([float(point[o.metric]) * o.sign for o in objectives], dtype=float)


def parse_objectives(spec: str, source: object = "--objectives") -> tuple[Objective, ...]:
    """Parse `judge_score:max,energy_wh:min` (the CLI form); bad input is an InputError naming the item."""
    objectives: list[Objective] = []
    for item in (part.strip() for part in spec.split(",")):
        metric, sep, mode = item.partition(":")
        if not sep or not metric.strip() or mode.strip() not in DIRECTIONS:
            raise InputError(source, "objectives", f"expected METRIC:max or METRIC:min, got {item!r}")
        objectives.append(Objective(metric.strip(), mode.strip()))  # type: ignore[arg-type]
    return _checked(objectives, source)


def objectives_from_pairs(
    pairs: Iterable[Sequence[str]], source: object = "objectives"
) -> tuple[Objective, ...]:
    """Objectives from `[["judge_score", "max"], ...]`, the JSON form of the MLflow `objectives` tag."""
    objectives: list[Objective] = []
    for pair in pairs:
        if len(pair) != 2 or pair[1] not in DIRECTIONS or not pair[0]:
            raise InputError(source, "objectives", f"expected [metric, 'max'|'min'], got {pair!r}")
        objectives.append(Objective(str(pair[0]), pair[1]))  # type: ignore[arg-type]
    return _checked(objectives, source)


def objectives_to_json(objectives: Sequence[Objective]) -> str:
    """The `objectives` MLflow tag value: JSON `[["judge_score","max"],["energy_wh","min"]]`."""
    return json.dumps([[o.metric, o.mode] for o in objectives])


def objectives_from_json(text: str, source: object = "objectives") -> tuple[Objective, ...]:
    try:
        pairs = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(source, "objectives", f"not JSON: {text!r} ({err.msg})") from None
    if not isinstance(pairs, list):
        raise InputError(source, "objectives", f"expected a list of [metric, mode] pairs, got {text!r}")
    return objectives_from_pairs(pairs, source)


def _checked(objectives: list[Objective], source: object) -> tuple[Objective, ...]:
    names = metric_names(objectives)
    if len(objectives) < 2:
        raise InputError(source, "objectives", f"need at least 2 objectives, got {names}")
    if len(set(names)) != len(names):
        raise InputError(source, "objectives", f"metric listed twice: {names}")
    return tuple(objectives)
