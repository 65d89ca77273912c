"""Human 1-5 ratings (CSV: question, answer, rating, rater), as the support-desk study's manager gave them,
and how well the judges agree with them, by the same statistics as judge-judge agreement.

The package also holds the ratings database the rating page writes (`store`), the study's tables, agreement
and calibration computed from it (`tables`), their report section (`section`) and `python -m judging.human`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from common.errors import InputError
from judging.agreement import pair_agreement
from judging.rubric import SCORE_MAX, SCORE_MIN
from judging.table_io import read_table

COLUMNS = ("question", "answer", "rating", "rater")


def load_ratings(path: Path) -> pd.DataFrame:
    frame = read_table(Path(path), COLUMNS)
    ratings = pd.to_numeric(frame["rating"], errors="coerce")
    bad = ratings.isna() | (ratings % 1 != 0) | (ratings < SCORE_MIN) | (ratings > SCORE_MAX)
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise InputError(
            path,
            "rating",
            f"row {row + 1}: {frame['rating'].iloc[row]!r} is not an integer {SCORE_MIN}-{SCORE_MAX}",
        )
    out = frame.loc[:, list(COLUMNS)].copy()
    out["rating"] = ratings.astype(int)
    return out


def human_agreement(
    ratings: pd.DataFrame, judged: pd.DataFrame, score_columns: list[str] | None = None
) -> dict[str, dict[str, float]]:
    """Agreement of each judge score column with the mean human rating of the same (question, answer).

    Items are matched on whitespace-normalised question and answer text; unmatched items are left out and
    the count of matched items is reported as `n_items`.
    """
    score_columns = score_columns or [c for c in judged.columns if c == "judge_score" or c.startswith("judge_score__")]
    human = ratings.assign(_key=_keys(ratings)).groupby("_key", sort=False)["rating"].mean().rename("human_rating")
    merged = judged.assign(_key=_keys(judged)).merge(human, left_on="_key", right_index=True, how="inner")
    report = {}
    for column in score_columns:
        stats = pair_agreement(merged[column], merged["human_rating"])
        report[column] = {**stats, "n_items": float(merged[column].notna().sum())}
    return report


def _keys(frame: pd.DataFrame) -> pd.Series:
    def norm(s: str) -> str:
        return " ".join(str(s).split()).lower()

    return frame["question"].map(norm) + "\x1f" + frame["answer"].map(norm)
