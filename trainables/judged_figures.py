"""What a trial's judged answers say beyond the panel's mean: the mean's interval and how degenerate the answers are.

The interval is the search's own bootstrap (front/uncertainty.py: judge items resampled by scenario, with the
search's seed), run on this trial's row alone, so the `judge_score_ci_low/high` a trial reports to Tune and MLflow
equal (but for float rounding) the ones the search's end computes from all trials' paired replicates. On 16 items
it took 34 ms per call (2 cores at a load average of 14). The degeneration figures (judging/degeneration.py) show
a looping or cut-off adapter that a mean score alone can hide.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from front.objectives import Objective
from front.uncertainty import compute_front_uncertainty
from judging.degeneration import compute_degeneration

JUDGE_SCORE = "judge_score"
SCENARIO_ID = "scenario_id"


def scenario_ids(items: pd.DataFrame) -> list[str]:
    """Each judged item's scenario; an item without one (an older table) is a scenario of its own."""
    ids = items["id"].astype(str)
    if SCENARIO_ID not in items.columns:
        return list(ids)
    scenarios = items[SCENARIO_ID]
    return [str(s) if pd.notna(s) and str(s) else f"item:{i}" for s, i in zip(scenarios, ids, strict=True)]


def judge_score_interval(
    items: pd.DataFrame, seed: int = 0, n_replicates: int | None = None
) -> tuple[float, float, float]:
    """(mean, low, high) of the judge score over `items` (per-item `judge_score`, NaN where every judge failed);
    NaN throughout when no item was scored."""
    scores = pd.to_numeric(items[JUDGE_SCORE], errors="coerce")
    if scores.notna().sum() == 0:
        return math.nan, math.nan, math.nan
    row = pd.DataFrame([scores.to_numpy()], index=["trial"])
    options = {} if n_replicates is None else {"n_replicates": n_replicates}
    result = compute_front_uncertainty(
        row, scenario_ids(items), pd.DataFrame(index=row.index), (Objective(JUDGE_SCORE, "max"),), seed=seed, **options
    )
    score = result.trial("trial").score
    return score.estimate, score.low, score.high


def judged_figures(items: pd.DataFrame, seed: int = 0) -> dict[str, float]:
    """The metrics a trial (or the untuned baseline) reports beside its judge score: `judge_score_ci_low`,
    `judge_score_ci_high`, `answer_repetition`, `answer_truncated_share`, `answer_distinct_2`."""
    _, low, high = judge_score_interval(items, seed)
    answers: Sequence[str] = items["answer"].fillna("").astype(str).tolist()
    return {
        f"{JUDGE_SCORE}_ci_low": low,
        f"{JUDGE_SCORE}_ci_high": high,
        **compute_degeneration(answers).metrics(),
    }
