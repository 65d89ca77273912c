"""The numbers a report shows, computed from a `Study`: ranking, loss-versus-judge, judges, recommendations.

Pure pandas/scipy on the trial table. The point of the report is the study's lesson: validation loss
ranks configurations differently from the judge, so both ranks are put side by side with energy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from front.objectives import Objective, metric_names, to_minimisation
from front.pareto import hypervolume, hypervolume_curve, knee_point, pareto_ranks
from reports.judged import Comparison, compared_answers, judge_checks, power_savings
from reports.study import FINISHED, Study
from trainables.energy import PowerLimitSaving

JUDGE_SCORE = "judge_score"
ENERGY = "energy_wh"
VAL_LOSS = "val_loss"
PER_JUDGE_PREFIX = "judge_score__"
# judge_* metrics that are not rubric criteria.
JUDGE_SUMMARY_METRICS = (
    "judge_score",
    "judge_agreement",
    "judge_length_corr",
    "judge_calls",
    "judge_cost_usd",
)


@dataclass
class LossVersusJudge:
    """How well validation-loss order predicts judge order (1 = agree perfectly, -1 = reversed)."""

    n_trials: int
    spearman: float
    spearman_p: float
    kendall: float
    kendall_p: float
    lowest_loss_trial: str
    lowest_loss_judge_rank: int
    n_judged: int


@dataclass
class Recommendation:
    title: str
    trial_id: str | None
    reason: str


@dataclass
class Analysis:
    ranked: pd.DataFrame  # completed trials with pareto_rank, judge_rank, val_loss_rank; best first
    failed: pd.DataFrame  # trials not FINISHED
    excluded: pd.DataFrame  # finished trials with NaN/inf in an objective (e.g. every judge failed)
    front_ids: list[str]
    knee_id: str | None
    criteria: list[str]
    judges: list[str]
    reference_point: dict[str, float] | None
    reference_note: str
    hypervolume: float | None
    curve: pd.DataFrame | None
    loss_vs_judge: LossVersusJudge | None
    judge_summary: dict[str, float]
    judge_correlations: pd.DataFrame | None
    recommendations: list[Recommendation]
    energy_estimated: bool
    notes: list[str] = field(default_factory=list)
    # The search's bootstrap findings (Study.uncertainty), three judge questions answered side by side, the judges'
    # calibration and agreement, and power-limit savings (reports/judged.py).
    uncertainty: dict[str, Any] | None = None
    comparisons: list[Comparison] = field(default_factory=list)
    judge_checks: list[tuple[str, float, float | None, float | None]] = field(default_factory=list)
    power_savings: list[PowerLimitSaving] = field(default_factory=list)


def _numeric(table: pd.DataFrame, column: str) -> pd.Series:
    if column not in table.columns:
        return pd.Series(np.nan, index=table.index, dtype=float)
    return pd.to_numeric(table[column], errors="coerce")


def energy_is_estimated(study: Study) -> bool:
    """True when any energy figure came from an estimate rather than a counter (`estimate:...`)."""
    sources = [study.environment.get("energy_source", "")]
    if "energy_source" in study.trials.columns:
        sources += [str(value) for value in study.trials["energy_source"].dropna()]
    return any(source.startswith("estimate") for source in sources)


def _nadir(finished: pd.DataFrame, objectives: tuple[Objective, ...]) -> dict[str, float] | None:
    """Worst observed value per objective: the fallback reference when the source declares none."""
    losses = to_minimisation(finished, objectives)
    losses = losses[np.isfinite(losses).all(axis=1)]
    if len(losses) == 0:
        return None
    worst = losses.max(axis=0)
    return {o.metric: float(value * o.sign) for o, value in zip(objectives, worst, strict=True)}


def _loss_vs_judge(ranked: pd.DataFrame) -> LossVersusJudge | None:
    both = ranked[_numeric(ranked, VAL_LOSS).notna() & _numeric(ranked, JUDGE_SCORE).notna()]
    if len(both) < 3:
        return None
    loss_rank = _numeric(both, VAL_LOSS).rank(method="average")
    judge_rank = (-_numeric(both, JUDGE_SCORE)).rank(method="average")
    spearman = stats.spearmanr(loss_rank, judge_rank)
    kendall = stats.kendalltau(loss_rank, judge_rank)
    lowest = _numeric(both, VAL_LOSS).idxmin()
    return LossVersusJudge(
        n_trials=len(both),
        spearman=float(spearman.statistic),
        spearman_p=float(spearman.pvalue),
        kendall=float(kendall.statistic),
        kendall_p=float(kendall.pvalue),
        lowest_loss_trial=str(lowest),
        lowest_loss_judge_rank=int(ranked.loc[lowest, "judge_rank"]),
        n_judged=int(_numeric(ranked, JUDGE_SCORE).notna().sum()),
    )


def _judge_summary(finished: pd.DataFrame) -> dict[str, float]:
    summary: dict[str, float] = {}
    for column, label, how in (
        ("judge_agreement", "mean judge agreement", "mean"),
        ("judge_length_corr", "mean answer-length correlation", "mean"),
        ("judge_calls", "judge calls", "sum"),
        ("judge_cost_usd", "judge cost (USD)", "sum"),
    ):
        values = _numeric(finished, column).dropna()
        if not values.empty:
            summary[label] = float(values.mean() if how == "mean" else values.sum())
    return summary


def _judge_correlations(finished: pd.DataFrame, judges: list[str]) -> pd.DataFrame | None:
    """Spearman correlation between judges' per-trial scores: do the judges order the trials alike?"""
    if len(judges) < 2:
        return None
    scores = pd.DataFrame({judge: _numeric(finished, PER_JUDGE_PREFIX + judge) for judge in judges})
    if scores.dropna().shape[0] < 3:
        return None
    return scores.corr(method="spearman")


def _recommendations(
    study: Study, ranked: pd.DataFrame, knee_id: str | None, estimate: str
) -> list[Recommendation]:
    recommendations = [
        Recommendation(
            "Knee of the front",
            knee_id,
            "front member closest to the ideal point after min-max normalising each objective over the front"
            if knee_id is not None
            else "no trial has finite values in every objective",
        )
    ]
    judge, energy = _numeric(ranked, JUDGE_SCORE), _numeric(ranked, ENERGY)
    if JUDGE_SCORE not in ranked.columns or ENERGY not in ranked.columns:
        return recommendations
    if study.energy_budget_wh is None:
        recommendations.append(
            Recommendation("Best judge score under the energy budget", None, "no budget set")
        )
    else:
        within = judge[(energy <= study.energy_budget_wh) & judge.notna()]
        recommendations.append(
            Recommendation(
                "Best judge score under the energy budget",
                str(within.idxmax()) if not within.empty else None,
                f"energy_wh <= {study.energy_budget_wh:g} Wh{estimate}"
                + ("" if not within.empty else ": no trial fits the budget"),
            )
        )
    if study.judge_threshold is None:
        recommendations.append(
            Recommendation("Least energy above the judge threshold", None, "no threshold set")
        )
    else:
        above = energy[(judge >= study.judge_threshold) & energy.notna()]
        recommendations.append(
            Recommendation(
                "Least energy above the judge threshold",
                str(above.idxmin()) if not above.empty else None,
                f"judge_score >= {study.judge_threshold:g}"
                + ("" if not above.empty else ": no trial reaches the threshold"),
            )
        )
    return recommendations


def analyse(study: Study) -> Analysis:
    objectives = study.objectives
    # A search with no trial yet (or a source without some column) still gets a report.
    trials = study.trials.reindex(
        columns=list(dict.fromkeys([*study.trials.columns, "trial_id", *metric_names(objectives)]))
    )
    status = trials["status"] if "status" in trials.columns else pd.Series(FINISHED, index=trials.index)
    finished = trials[status == FINISHED].copy()
    failed = trials[status != FINISHED]
    notes: list[str] = []

    finished["pareto_rank"] = (
        pareto_ranks(finished, objectives) if not finished.empty else pd.Series(dtype=float)
    )
    excluded = finished[finished["pareto_rank"].isna()]
    finished["judge_rank"] = (-_numeric(finished, JUDGE_SCORE)).rank(method="min")
    finished["val_loss_rank"] = _numeric(finished, VAL_LOSS).rank(method="min")
    sort_keys = ["pareto_rank"] + [o.metric for o in objectives]
    ascending = [True] + [o.mode == "min" for o in objectives]
    ranked = finished.sort_values(sort_keys, ascending=ascending, na_position="last", kind="stable")

    front_ids = [str(i) for i in ranked.index[ranked["pareto_rank"] == 0]]
    knee = knee_point(finished, objectives) if not finished.empty else None
    knee_id = None if knee is None else str(knee)

    reference = study.reference_point
    reference_note = "declared by the search"
    if reference is None:
        reference = _nadir(finished, objectives)
        reference_note = "none declared: the worst observed value of each objective (nadir)"
    volume = curve = None
    if reference is not None and not finished.empty:
        volume = hypervolume(finished, objectives, reference)
        order = "end_time" if "end_time" in trials.columns else None
        # Failed trials still spent energy, so the curve runs over every trial, in completion order.
        curve = hypervolume_curve(trials, objectives, reference, order_by=order, eligible=status == FINISHED)

    criteria = sorted(
        c
        for c in trials.columns
        if c.startswith("judge_") and c not in JUDGE_SUMMARY_METRICS and not c.startswith(PER_JUDGE_PREFIX)
    )
    judges = sorted(
        c.removeprefix(PER_JUDGE_PREFIX) for c in trials.columns if c.startswith(PER_JUDGE_PREFIX)
    )
    estimated = energy_is_estimated(study)
    if len(excluded):
        notes.append(
            f"{len(excluded)} finished trial(s) excluded from the front: NaN or infinite objective values"
        )
    if len(failed):
        notes.append(f"{len(failed)} trial(s) did not finish; listed separately and excluded from the front")
    return Analysis(
        ranked=ranked,
        failed=failed,
        excluded=excluded,
        front_ids=front_ids,
        knee_id=knee_id,
        criteria=criteria,
        judges=judges,
        reference_point=reference,
        reference_note=reference_note,
        hypervolume=volume,
        curve=curve,
        loss_vs_judge=_loss_vs_judge(ranked),
        judge_summary=_judge_summary(finished),
        judge_correlations=_judge_correlations(finished, judges),
        recommendations=_recommendations(study, ranked, knee_id, " (estimate)" if estimated else ""),
        energy_estimated=estimated,
        notes=notes,
        uncertainty=study.uncertainty,
        comparisons=compared_answers(study, ranked, knee_id),
        judge_checks=judge_checks(study),
        power_savings=power_savings(study),
    )


def describe_trial(
    analysis: Analysis, trial_id: str | None, objectives: tuple[Objective, ...]
) -> dict[str, Any]:
    """Objective values of one ranked trial, for recommendation lines."""
    if trial_id is None or trial_id not in analysis.ranked.index:
        return {}
    row = analysis.ranked.loc[trial_id]
    return {o.metric: row[o.metric] for o in objectives}
