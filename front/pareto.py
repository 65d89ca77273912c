"""Pareto analysis of a table of trials: non-dominated ranks, the front, hypervolume, knee, crowding.

Pure numpy/pandas on plain DataFrames (one row per trial, one column per metric), so the search, the
reports and a CSV of published results all use the same code. Every function takes the objectives table
(`front.objectives`) and converts to "everything minimised" once, through `to_minimisation`.

Rows with NaN or infinity in any objective (a failed judge, a crashed trial) are excluded from ranking
and hypervolume, never treated as zero.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import pandas as pd

# optuna has no public hypervolume function; this is the exact WFG implementation its own
# hypervolume-history plot and samplers use. tests/front/test_pareto.py checks it against moocore.
from optuna._hypervolume import compute_hypervolume

from front.objectives import Objective, point_to_minimisation, to_minimisation

RANK_COLUMN = "pareto_rank"


def _finite_rows(losses: np.ndarray) -> np.ndarray:
    return np.isfinite(losses).all(axis=1)


def _non_domination_ranks(losses: np.ndarray) -> np.ndarray:
    """Rank of each row of a finite loss matrix by repeatedly peeling off the non-dominated set.

    Quadratic in the number of rows, which is fine for searches of hundreds or a few thousand trials.
    Equal rows do not dominate each other, so duplicates share a rank.
    """
    n_rows = len(losses)
    # dominates[j, i]: row j is no worse than row i everywhere and strictly better somewhere.
    no_worse = (losses[:, None, :] <= losses[None, :, :]).all(axis=2)
    better = (losses[:, None, :] < losses[None, :, :]).any(axis=2)
    dominates = no_worse & better
    ranks = np.full(n_rows, -1, dtype=int)
    remaining = np.ones(n_rows, dtype=bool)
    rank = 0
    while remaining.any():
        dominated_by_remaining = dominates[remaining].any(axis=0)
        current = remaining & ~dominated_by_remaining
        ranks[current] = rank
        remaining &= ~current
        rank += 1
    return ranks


def pareto_ranks(df: pd.DataFrame, objectives: Sequence[Objective]) -> pd.Series:
    """Non-dominated sorting rank per row (0 = the front); NaN for rows with NaN/inf in any objective."""
    losses = to_minimisation(df, objectives)
    finite = _finite_rows(losses)
    ranks = np.full(len(df), np.nan)
    if finite.any():
        ranks[finite] = _non_domination_ranks(losses[finite])
    return pd.Series(ranks, index=df.index, name=RANK_COLUMN)


def front(df: pd.DataFrame, objectives: Sequence[Objective]) -> pd.DataFrame:
    """The rank-0 rows of `df`, in their original order."""
    return df[pareto_ranks(df, objectives) == 0]


def _reference_losses(reference_point: Mapping[str, float], objectives: Sequence[Objective]) -> np.ndarray:
    reference = point_to_minimisation(reference_point, objectives)
    if not np.isfinite(reference).all():
        raise ValueError(f"reference point must be finite in every objective, got {dict(reference_point)}")
    return reference


def _hypervolume_of_losses(losses: np.ndarray, reference: np.ndarray) -> float:
    # Only points strictly better than the reference in every objective enclose any volume; the rest
    # (NaN rows, points beyond the reference) are dropped before optuna, which rejects them.
    inside = _finite_rows(losses) & (losses < reference).all(axis=1)
    if not inside.any():
        return 0.0
    return float(compute_hypervolume(losses[inside], reference))


def hypervolume(
    df: pd.DataFrame, objectives: Sequence[Objective], reference_point: Mapping[str, float]
) -> float:
    """Volume dominated by the rows of `df` and bounded by `reference_point` (in the metrics' own units).

    E.g. `{"judge_score": 1.0, "energy_wh": 0.5}` with judge_score maximised: only trials scoring above 1
    and using less than 0.5 Wh count. The value is in the product of the objectives' units.
    """
    return _hypervolume_of_losses(
        to_minimisation(df, objectives), _reference_losses(reference_point, objectives)
    )


def hypervolume_curve(
    df: pd.DataFrame,
    objectives: Sequence[Objective],
    reference_point: Mapping[str, float],
    order_by: str | None = None,
    cumulative: Sequence[str] = ("energy_wh", "train_seconds"),
    eligible: pd.Series | None = None,
) -> pd.DataFrame:
    """Hypervolume after each trial, with running totals of the cost columns in `cumulative`.

    Rows are taken in `df` order, or sorted by `order_by` (e.g. an end time; NaN last). Rows with NaN
    objectives, or False in the boolean `eligible` (aligned on the index; e.g. failed trials), add no
    volume but still add their cost to the running totals: the search paid for them. Columns: `trial`
    (the row's index label), `n_trials`, `hypervolume`, and `cumulative_<column>` for each column of
    `cumulative` present in `df` (missing values count as 0).
    """
    ordered = df.sort_values(order_by, kind="stable", na_position="last") if order_by else df
    losses = to_minimisation(ordered, objectives)
    if eligible is not None:
        losses[~eligible.reindex(ordered.index).fillna(False).to_numpy(dtype=bool)] = np.nan
    reference = _reference_losses(reference_point, objectives)
    contributes = _finite_rows(losses) & (losses < reference).all(axis=1)
    volumes = np.zeros(len(ordered))
    current = 0.0
    for position in range(len(ordered)):
        # The volume only changes when the new trial lies inside the reference box.
        if contributes[position]:
            current = _hypervolume_of_losses(losses[: position + 1], reference)
        volumes[position] = current
    curve = pd.DataFrame(
        {
            "trial": list(ordered.index),
            "n_trials": np.arange(1, len(ordered) + 1),
            "hypervolume": volumes,
        }
    )
    for column in cumulative:
        if column in ordered.columns:
            costs = pd.to_numeric(ordered[column], errors="coerce").fillna(0.0).to_numpy(dtype=float)
            curve[f"cumulative_{column}"] = np.cumsum(costs)
    return curve


def _normalised_front_losses(df_front: pd.DataFrame, objectives: Sequence[Objective]) -> np.ndarray:
    """Min-max scale each objective over the given rows; a constant objective becomes all zeros."""
    losses = to_minimisation(df_front, objectives)
    low = np.nanmin(losses, axis=0)
    span = np.nanmax(losses, axis=0) - low
    safe_span = np.where(span > 0, span, 1.0)
    return (losses - low) / safe_span


def knee_point(df: pd.DataFrame, objectives: Sequence[Objective]) -> Hashable | None:
    """Index label of the front member closest (Euclidean) to the ideal point; None if the front is empty.

    The front is min-max normalised per objective first, so the ideal point is the origin and no
    objective's units dominate the distance. We take this compromise-programming knee rather than a
    maximum-curvature one because it is defined for any number of objectives and stays stable on the
    small, ragged fronts a search of a few dozen trials produces. Ties go to the earlier row.
    """
    members = front(df, objectives)
    if members.empty:
        return None
    distances = np.linalg.norm(_normalised_front_losses(members, objectives), axis=1)
    return members.index[int(np.argmin(distances))]


def crowding_distance(df_front: pd.DataFrame, objectives: Sequence[Objective]) -> pd.Series:
    """NSGA-II crowding distance of each row of a front (larger = more isolated, worth keeping).

    Boundary rows of each objective get infinity; interior rows sum the normalised gap between their
    neighbours. Rows with NaN/inf objectives get NaN. Fronts of one or two rows are all infinite.
    """
    losses = to_minimisation(df_front, objectives)
    finite = _finite_rows(losses)
    distances = np.full(len(df_front), np.nan)
    points = losses[finite]
    total = np.zeros(len(points))
    if len(points) <= 2:
        total[:] = np.inf
    else:
        for column in range(points.shape[1]):
            order = np.argsort(points[:, column], kind="stable")
            values = points[order, column]
            span = values[-1] - values[0]
            total[order[0]] = total[order[-1]] = np.inf
            if span > 0:
                total[order[1:-1]] += (values[2:] - values[:-2]) / span
    distances[finite] = total
    return pd.Series(distances, index=df_front.index, name="crowding_distance")
