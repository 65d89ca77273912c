"""The report's data section: what the search says about the studies' data findings, when its space had data axes.

"Beyond QA pairs" found that tuning on conceptual pairs beat factual ones and that pairs generated without
retrieval (D-Naive) beat retrieval-grounded ones (D-RAG). A search with `corpus.generation` or
`corpus.conceptual_share` in its space tests both on its own model: every trial is judged on the same items, so
groups of trials are compared *paired*, with the same scenario bootstrap as the front (front/uncertainty.py). In
each replicate a group's score is the mean over its trials of each trial's mean on that draw, and a difference is
group A's minus group B's; the interval is the replicates' percentile interval. It says how far the comparison
would move with other judge items of the same kind, not with other trials (training noise is not resampled).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

# The scenario bootstrap's private steps, used as they are so the groups' draws are the front's draws.
from front.uncertainty import (
    DEFAULT_CONFIDENCE,
    DEFAULT_REPLICATES,
    Interval,
    _checked_scores,
    _percentiles,
    _weighted_means,
    cluster_bootstrap_counts,
)
from reports.judged_items import judged_items_table, score_matrix

GENERATION = "corpus.generation"
CONCEPTUAL_SHARE = "corpus.conceptual_share"
TRAIN_SIZE = "corpus.train_size"
DATA_AXES = (GENERATION, CONCEPTUAL_SHARE, TRAIN_SIZE)
ENERGY = "energy_wh"


@dataclass(frozen=True)
class GroupFigures:
    """One value of a data axis: its trials, their mean judge score with its interval, and their energy."""

    axis: str
    value: str
    n_trials: int
    judge_score: Interval
    energy_wh_mean: float
    energy_wh_min: float
    energy_wh_max: float


@dataclass(frozen=True)
class Finding:
    """A study's claim checked on this search: `verdict` is `holds`, `does not hold` or `not resolved`."""

    claim: str
    first: str
    second: str
    difference: Interval
    verdict: str

    @property
    def sentence(self) -> str:
        d = self.difference
        return f"{self.claim}: {self.verdict} on this search (difference {d.estimate:.3f} [{d.low:.3f}, {d.high:.3f}])"


def group_replicates(
    scores: pd.DataFrame,
    scenario_ids: Sequence[Hashable],
    groups: Mapping[str, Sequence[Hashable]],
    n_replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Each group's score (mean over its trials of each trial's item mean) on the judged items and on each
    replicate's scenario draw. `scores`: a row per trial, a column per judge item (NaN: a judge failed)."""
    values = _checked_scores(scores, scenario_ids)
    valid = ~np.isnan(values)
    counts = cluster_bootstrap_counts(scenario_ids, n_replicates, seed)
    per_trial = _weighted_means(values, valid, counts)  # (replicates, trials)
    point = _weighted_means(values, valid, np.ones((1, values.shape[1])))[0]
    estimates, replicates = {}, {}
    for name, trials in groups.items():
        rows = [scores.index.get_loc(t) for t in trials]
        with np.errstate(invalid="ignore"):
            estimates[name] = float(np.nanmean(point[rows])) if np.isfinite(point[rows]).any() else float("nan")
        replicates[name] = _row_nanmean(per_trial[:, rows])
    return estimates, replicates


def _row_nanmean(block: np.ndarray) -> np.ndarray:
    valid = np.isfinite(block)
    total = np.where(valid, block, 0.0).sum(axis=1)
    count = valid.sum(axis=1)
    return np.where(count > 0, total / np.where(count > 0, count, 1), np.nan)


def interval(estimate: float, replicates: np.ndarray, confidence: float = DEFAULT_CONFIDENCE) -> Interval:
    """The percentile interval of `replicates` around `estimate`; NaN ends when `confidence` is NaN (no interval)."""
    if np.isnan(confidence):
        return Interval(estimate, float("nan"), float("nan"))
    low, high = _percentiles(replicates[:, None], confidence)
    return Interval(estimate, float(low[0]), float(high[0]))


def verdict(difference: Interval) -> str:
    """`holds` when the whole interval is above 0, `does not hold` when it is below, else `not resolved`."""
    if difference.low > 0:
        return "holds"
    if difference.high < 0:
        return "does not hold"
    return "not resolved"


@dataclass(frozen=True)
class DataSection:
    groups: list[GroupFigures]
    findings: list[Finding]
    notes: list[str]


def data_section(
    trials: pd.DataFrame,
    answers: Mapping[str, pd.DataFrame],
    n_replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
    confidence: float = DEFAULT_CONFIDENCE,
) -> DataSection | None:
    """Judged quality and energy by generation method and by conceptual share, and the two findings; None when the
    trials have no data axis. `trials`: finished trials indexed by trial id with their params (`corpus.*`) and
    `energy_wh`; `answers`: each trial's judged items (trial id -> table with `id`, `scenario_id`, `judge_score`)."""
    axes = [a for a in (GENERATION, CONCEPTUAL_SHARE) if a in trials.columns and trials[a].notna().any()]
    if not axes:
        return None
    judged = {str(t): answers[t] for t in trials.index if _has_answers(answers, t)}
    if not judged:
        return DataSection([], [], ["no trial's judged items could be read; the data comparison is not available"])
    scores, scenarios = score_matrix(judged_items_table(judged))
    energy = pd.to_numeric(trials.get(ENERGY, pd.Series(dtype=float)), errors="coerce")
    groups, findings, notes = [], [], []
    if len(set(scenarios)) < 2:
        # Every replicate would redraw the one scenario: a zero-width interval that claims certainty it lacks.
        confidence = float("nan")
        notes.append("the judge items come from one scenario, so the bootstrap gives no interval: nothing is resolved")
    for axis in axes:
        members = _members(trials, axis, scores.index)
        estimates, replicates = group_replicates(scores, scenarios, members, n_replicates, seed)
        for value, ids in members.items():
            e = energy.reindex(ids)
            groups.append(
                GroupFigures(
                    axis, value, len(ids), interval(estimates[value], replicates[value], confidence),
                    float(e.mean()), float(e.min()), float(e.max()),
                )
            )  # fmt: skip
        pair = _compared_pair(axis, list(members))
        if pair is None:
            notes.append(f"{axis}: fewer than two values were tried, so the study's finding is not tested")
            continue
        first, second = pair
        gap = replicates[first] - replicates[second]
        difference = interval(estimates[first] - estimates[second], gap, confidence)
        claim = "naive over grounded" if axis == GENERATION else "conceptual over factual"
        label = claim if axis == GENERATION else f"{claim} (conceptual share {first} minus {second})"
        findings.append(Finding(label, first, second, difference, verdict(difference)))
    return DataSection(groups, findings, notes)


def _has_answers(answers: Mapping[str, pd.DataFrame], trial: Hashable) -> bool:
    try:
        items = answers[str(trial)]
    except KeyError:
        return False
    return items is not None and not items.empty and "judge_score" in items.columns


def _members(trials: pd.DataFrame, axis: str, judged: pd.Index) -> dict[str, list[str]]:
    values = trials.loc[trials.index.isin(judged), axis].dropna().astype(str)
    return {value: list(values.index[values == value]) for value in sorted(values.unique(), key=_order)}


def _order(value: str) -> tuple[int, float | str]:
    try:
        return (0, float(value))
    except ValueError:
        return (1, value)


def _compared_pair(axis: str, values: list[str]) -> tuple[str, str] | None:
    """Generation: naive minus grounded. Share: the most conceptual minus the least (numeric shares only)."""
    if axis == GENERATION:
        return ("naive", "grounded") if {"naive", "grounded"} <= set(values) else None
    shares = [v for v in values if _order(v)[0] == 0]
    return (shares[-1], shares[0]) if len(shares) >= 2 else None


def data_context(trials: pd.DataFrame, answers: Mapping[str, pd.DataFrame]) -> dict | None:
    """The template's view of the section (strings, intervals written out); None without data axes."""
    section = data_section(trials, answers)
    if section is None:
        return None
    return {
        "groups": [
            {
                "axis": g.axis,
                "value": g.value,
                "n_trials": g.n_trials,
                "judge_score": f"{g.judge_score.estimate:.3f} [{g.judge_score.low:.3f}, {g.judge_score.high:.3f}]",
                "energy_wh": f"{g.energy_wh_mean:.4g} ({g.energy_wh_min:.4g}-{g.energy_wh_max:.4g})",
            }
            for g in section.groups
        ],
        "findings": [f.sentence for f in section.findings],
        "notes": section.notes,
    }
