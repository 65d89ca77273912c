"""The support-desk study's tables from human ratings, per model: how many ratings fell on each point of 1-5, the
negative (1-2) and positive (3-5) shares, and the weighted criterion means; then how well the judges agree with
the humans, and whether a monotone calibration of the panel's score brings it closer on held-out ratings.

Every figure carries a 95% interval from a bootstrap that resamples questions (all ratings of a question move
together: raters see a question's answers side by side, so its ratings are not independent). A figure that
cannot be computed is NaN, never 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from judging.agreement import pair_agreement
from judging.rubric import SCORE_MAX, SCORE_MIN, Rubric

NEGATIVE_MAX = 2  # the study counted 1-2 as negative, 3-5 as positive
PANEL = "judge_score"
JUDGE_PREFIX = "judge_score__"
AGREEMENT_STATS = ("kappa_quadratic", "spearman")


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return {"value": self.value, "ci_low": self.low, "ci_high": self.high}


def rounded_rating(overall: pd.Series) -> pd.Series:
    """An answer's weighted rating on the 1-5 points the study counted (half up: 2.5 counts as 3, positive)."""
    return np.clip(np.floor(overall.astype(float) + 0.5), SCORE_MIN, SCORE_MAX).astype(int)


def _bootstrap(frame: pd.DataFrame, stat, n_boot: int, seed: int, cluster: str = "question") -> Interval:
    """stat(frame) with a percentile interval over `n_boot` resamples of the frame's clusters."""
    value = stat(frame)
    groups = [g for _, g in frame.groupby(cluster, sort=False)]
    if len(groups) < 2 or not math.isfinite(value):
        return Interval(value, math.nan, math.nan)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        picked = rng.integers(0, len(groups), len(groups))
        draws.append(stat(pd.concat([groups[i] for i in picked], ignore_index=True)))
    finite = np.array([d for d in draws if math.isfinite(d)])
    if len(finite) < n_boot / 2:
        return Interval(value, math.nan, math.nan)
    return Interval(value, float(np.percentile(finite, 2.5)), float(np.percentile(finite, 97.5)))


def rating_tables(ratings: pd.DataFrame, rubric: Rubric | None = None, n_boot: int = 1000, seed: int = 0) -> dict:
    """Per model: counts per rating, shares negative/positive and criterion means, each with its interval.

    `ratings`: one row per (rater, answer) with `model`, `question`, the rubric's criteria and `overall`.
    """
    rubric = rubric or Rubric()
    tables = {}
    for model, rows in ratings.groupby("model", sort=True):
        rows = rows.assign(_point=rounded_rating(rows["overall"]))
        counts = {str(p): int((rows["_point"] == p).sum()) for p in range(SCORE_MIN, SCORE_MAX + 1)}
        share = lambda f: float((f["_point"] > NEGATIVE_MAX).mean()) if len(f) else math.nan  # noqa: E731
        positive = _bootstrap(rows, share, n_boot, seed)
        means = {
            c: _bootstrap(rows, lambda f, c=c: float(f[c].mean()), n_boot, seed).as_dict()
            for c in [*rubric.criteria, "overall"]
        }
        tables[str(model)] = {
            "ratings": int(len(rows)),
            "questions": int(rows["question"].nunique()),
            "raters": int(rows["rater"].nunique()),
            "counts": counts,
            "positive_share": positive.as_dict(),
            "negative_share": Interval(1 - positive.value, 1 - positive.high, 1 - positive.low).as_dict(),
            "means": means,
        }
    return tables


def differences_from(ratings: pd.DataFrame, reference: str = "base", n_boot: int = 1000, seed: int = 0) -> dict:
    """Each other model's mean weighted rating minus `reference`'s, paired by question (the questions both were
    rated on; each answer's ratings averaged over raters), with its interval over questions and whether it is
    resolved (the interval excludes 0). {} when `reference` was not rated.

    The per-model tables' intervals overlap more often than the paired difference's: the same question is hard
    or easy for every model, and pairing takes that out."""
    by_question = ratings.groupby(["model", "question"])["overall"].mean().unstack("model")
    if reference not in by_question.columns:
        return {}
    out = {}
    for model in sorted(c for c in by_question.columns if c != reference):
        paired = (by_question[model] - by_question[reference]).dropna()
        frame = pd.DataFrame({"question": paired.index, "difference": paired.to_numpy()})
        interval = _bootstrap(frame, lambda f: float(f["difference"].mean()) if len(f) else math.nan, n_boot, seed)
        resolved = bool(math.isfinite(interval.low) and (interval.low > 0 or interval.high < 0))
        out[str(model)] = {**interval.as_dict(), "questions": int(len(frame)), "resolved": resolved}
    return out


def rated_items(ratings: pd.DataFrame, judged: pd.DataFrame) -> pd.DataFrame:
    """One row per rated answer: the mean human rating and the judges' scores of that same answer text.

    `judged` holds `model`, `question`, `answer` and the judge score columns, as the search logged them; answers
    no judge scored (new questions from a CSV) are left out.
    """
    keys = ["model", "question", "answer"]
    human = ratings.groupby(keys, sort=False)["overall"].mean().rename("human").reset_index()
    scores = [c for c in judged.columns if c == PANEL or c.startswith(JUDGE_PREFIX)]
    judged = judged.assign(**{k: judged[k].map(_norm) for k in ("question", "answer")})
    human = human.assign(_q=human["question"].map(_norm), _a=human["answer"].map(_norm))
    merged = human.merge(
        judged[["model", "question", "answer", *scores]].drop_duplicates(["model", "question", "answer"]),
        left_on=["model", "_q", "_a"],
        right_on=["model", "question", "answer"],
        how="inner",
        suffixes=("", "_judged"),
    )
    return merged[["model", "question", "answer", "human", *scores]]


def agreement_table(items: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> dict:
    """Cohen's quadratic-weighted kappa and Spearman of each judge and of the panel against the humans."""
    columns = [c for c in items.columns if c == PANEL or c.startswith(JUDGE_PREFIX)]
    out = {}
    for column in columns:
        name = "panel" if column == PANEL else column.removeprefix(JUDGE_PREFIX)
        out[name] = {"items": int(items[column].notna().sum())}
        for stat in AGREEMENT_STATS:
            measure = lambda f, s=stat, c=column: pair_agreement(f[c], f["human"])[s]  # noqa: E731
            out[name][stat] = _bootstrap(items, measure, n_boot, seed).as_dict()
    return out


def calibration(items: pd.DataFrame, min_items: int, n_boot: int = 1000, seed: int = 0) -> dict:
    """An isotonic map from the panel's score to the human rating, fitted on half the questions and judged on the
    other half: agreement and mean absolute error there, before and after. Too few items: says so, fits nothing."""
    from sklearn.isotonic import IsotonicRegression

    items = items.dropna(subset=[PANEL, "human"])
    if len(items) < min_items:
        return {
            "fitted": False,
            "reason": f"{len(items)} rated answers with judge scores; calibration needs {min_items}",
        }
    questions = items["question"].unique()
    rng = np.random.default_rng(seed)
    held_out = set(rng.choice(questions, size=len(questions) // 2, replace=False))
    test = items[items["question"].isin(held_out)]
    train = items[~items["question"].isin(held_out)]
    iso = IsotonicRegression(y_min=SCORE_MIN, y_max=SCORE_MAX, out_of_bounds="clip").fit(train[PANEL], train["human"])
    test = test.assign(calibrated=iso.predict(test[PANEL]))
    result = {"fitted": True, "train_items": int(len(train)), "held_out_items": int(len(test))}
    for label, column in (("before", PANEL), ("after", "calibrated")):
        result[label] = {
            stat: _bootstrap(
                test, lambda f, s=stat, c=column: pair_agreement(f[c], f["human"])[s], n_boot, seed
            ).as_dict()
            for stat in AGREEMENT_STATS
        }
        mae = lambda f, c=column: float((f[c] - f["human"]).abs().mean())  # noqa: E731
        result[label]["mean_abs_error"] = _bootstrap(test, mae, n_boot, seed).as_dict()
    result["map"] = {
        "judge_score": [float(x) for x in iso.X_thresholds_],
        "human": [float(y) for y in iso.y_thresholds_],
    }
    return result


def _norm(text: str) -> str:
    return " ".join(str(text).split()).lower()
