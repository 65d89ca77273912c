"""A search's judged items in one long table (trial, item, scenario, score, answer), and what the bootstrap takes
from it: the score matrix (a row per trial, a column per judge item) and the panel's agreement with its interval.

Every trial answers the same judge items, and the untuned baseline answers them too (its row is `BASELINE_ROW`),
so trials are compared item by item. The table is read from each trial's checkpoint (`JUDGE_ANSWERS`, written by
the recipe on its last epoch) and from the baseline's answers; everything after the reading is pure.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
from scipy import stats

from common.mlflow_names import JUDGE_ANSWERS
from front.uncertainty import cluster_bootstrap_counts
from judging.agreement import MIN_SHARED_ITEMS, STATISTICS, panel_agreement
from reports.judged_items import PER_JUDGE_PREFIX, judged_items_table
from reports.study import BASELINE
from trainables.contract import CHECKPOINT_DIR
from trainables.judged_figures import SCENARIO_ID

# The untuned base model's row (Tune's trial ids look like `abc12_00001`), under the name reports read it by.
BASELINE_ROW = BASELINE
AGREEMENT_REPLICATES = 1000


def read_trial_answers(results: Iterable) -> dict[str, pd.DataFrame]:
    """Each finished trial's judged answers, from the last checkpoint Tune kept for it (by trial id)."""
    answers: dict[str, pd.DataFrame] = {}
    for result in results:
        trial_id = (result.metrics or {}).get("trial_id")
        if result.error or result.checkpoint is None or not trial_id:
            continue
        try:
            with result.checkpoint.as_directory() as folder:
                path = f"{folder}/{CHECKPOINT_DIR}/{JUDGE_ANSWERS}"
                answers[str(trial_id)] = pd.read_json(path, orient="records", dtype={"id": str})
        except (FileNotFoundError, ValueError):  # stopped early (no final epoch) or an unreadable file
            continue
    return answers


def search_items(
    results: Iterable, baseline: Mapping | None, scenario_of: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Every completed trial's judged items (from its checkpoint) and the baseline's (`baseline`: what
    search.recording.read_baseline returns, or None), in one long table."""
    answers = read_trial_answers(results)
    if baseline is not None and not baseline["items"].empty:
        answers[BASELINE_ROW] = baseline["items"]
    return judged_items_table(answers, scenario_of)


def agreement_interval(
    table: pd.DataFrame, seed: int = 0, n_replicates: int = AGREEMENT_REPLICATES, confidence: float = 0.95
) -> dict[str, float]:
    """The panel's agreement between judges over every judged (trial, item) row (judging/agreement.py:
    `panel_agreement_spearman`, `_kendall`, `_kappa_quadratic`), and for the Spearman, the panel's headline
    agreement, a bootstrap interval that resamples scenarios (all rows of a drawn scenario): `_ci_low`, `_ci_high`.
    Empty for a panel of one judge; NaN where a statistic is undefined.

    Only the Spearman is resampled: all three statistics through judging/agreement.py took 32 ms per replicate on
    320 rows (12.7 s for 400 replicates, 2 cores at a load average of 14); the Spearman alone, 1000 replicates,
    0.77 s."""
    judges = [c for c in table.columns if c.startswith(PER_JUDGE_PREFIX)]
    if len(judges) < 2 or table.empty:
        return {}
    scores = table[judges].to_numpy(dtype=float)
    point = panel_agreement(pd.DataFrame(scores, columns=judges))
    counts = cluster_bootstrap_counts(list(table[SCENARIO_ID]), n_replicates, seed)
    pairs = list(itertools.combinations(range(len(judges)), 2))
    replicates = np.array([_mean_spearman(scores[np.repeat(np.arange(len(scores)), w)], pairs) for w in counts])
    finite = replicates[np.isfinite(replicates)]
    alpha = 1 - confidence
    low, high = np.quantile(finite, [alpha / 2, 1 - alpha / 2]) if finite.size else (math.nan, math.nan)
    out = {f"panel_agreement_{statistic}": point[statistic] for statistic in STATISTICS}
    out.update(panel_agreement_spearman_ci_low=float(low), panel_agreement_spearman_ci_high=float(high))
    return out


def _mean_spearman(scores: np.ndarray, pairs: list[tuple[int, int]]) -> float:
    """Mean Spearman over judge pairs, each over the rows both scored (as judging/agreement.py counts it)."""
    values = []
    for a, b in pairs:
        both = np.isfinite(scores[:, a]) & np.isfinite(scores[:, b])
        x, y = scores[both, a], scores[both, b]
        if len(x) >= MIN_SHARED_ITEMS and np.ptp(x) > 0 and np.ptp(y) > 0:
            values.append(stats.spearmanr(x, y).statistic)
    return float(np.mean(values)) if values else math.nan
