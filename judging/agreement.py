"""Agreement between raters (judges, humans) on the same items: Spearman, Kendall, quadratic kappa.

Rank correlations come from scipy and kappa from scikit-learn. Kappa needs categories, so scores
are rounded to the nearest point of the 1-5 scale. With several raters each statistic is the mean
over rater pairs. Where a statistic is undefined (one rater, under three shared items, a constant
rater) it is NaN, never a made-up 0 or 1.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import cohen_kappa_score

from judging.rubric import SCORE_MAX, SCORE_MIN

MIN_SHARED_ITEMS = 3
STATISTICS = ("spearman", "kendall", "kappa_quadratic")


def pair_agreement(a: pd.Series | np.ndarray, b: pd.Series | np.ndarray) -> dict[str, float]:
    """Statistics over the items both raters scored (NaN scores are left out, not counted as 0)."""
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    both = ~(np.isnan(x) | np.isnan(y))
    x, y = x[both], y[both]
    if len(x) < MIN_SHARED_ITEMS or np.ptp(x) == 0 or np.ptp(y) == 0:
        return dict.fromkeys(STATISTICS, math.nan)
    labels = list(range(SCORE_MIN, SCORE_MAX + 1))
    kappa = cohen_kappa_score(_to_scale(x), _to_scale(y), labels=labels, weights="quadratic")
    return {
        "spearman": float(stats.spearmanr(x, y).statistic),
        "kendall": float(stats.kendalltau(x, y).statistic),
        "kappa_quadratic": float(kappa),
    }


def panel_agreement(scores: pd.DataFrame) -> dict[str, float]:
    """Mean pairwise agreement between the columns of `scores` (one column per rater, one row per item)."""
    pairs = [pair_agreement(scores[a], scores[b]) for a, b in itertools.combinations(scores.columns, 2)]
    if not pairs:
        return dict.fromkeys(STATISTICS, math.nan)
    return {name: _nanmean([p[name] for p in pairs]) for name in STATISTICS}


def length_correlation(scores: pd.Series | np.ndarray, answers: pd.Series | list[str]) -> float:
    """Spearman of score against answer length in words: a judge that rewards verbosity shows up here."""
    x = np.asarray(scores, dtype=float)
    lengths = np.array([len(str(a).split()) for a in answers], dtype=float)
    keep = ~np.isnan(x)
    x, lengths = x[keep], lengths[keep]
    if len(x) < MIN_SHARED_ITEMS or np.ptp(x) == 0 or np.ptp(lengths) == 0:
        return math.nan
    return float(stats.spearmanr(x, lengths).statistic)


def _to_scale(x: np.ndarray) -> np.ndarray:
    # Half-up, not numpy's half-to-even: a 4.5 from averaging judges should read as 5 on both sides.
    return np.clip(np.floor(x + 0.5), SCORE_MIN, SCORE_MAX).astype(int)


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan
