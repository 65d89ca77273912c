"""What a report shows of the judging beyond the trial table: the answers themselves side by side, the knee's ties,
the loss-versus-judge intervals, the judges' calibration and agreement, and power-limit savings.

Pure functions over a `Study` (the intervals were computed once, at the search's end, by front/uncertainty.py and
stored with it); nothing here recomputes a bootstrap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from reports.study import BASELINE, CONFIG_COLUMNS, Study
from trainables.energy import PowerLimitSaving, power_limit_savings

SIDE_BY_SIDE_ITEMS = 3
CALIBRATION_PREFIX = "calibration_accuracy__"
AGREEMENT_PREFIX = "panel_agreement_"
POWER_LIMIT = "gpu_power_limit_w"


@dataclass(frozen=True)
class Answer:
    label: str  # which model: the untuned base model, the knee, the best-judged trial
    text: str
    score: float  # the panel's score of this answer (1-5; NaN where every judge failed)


@dataclass(frozen=True)
class Comparison:
    """One judge question with the reference and each model's answer to it."""

    item_id: str
    question: str
    reference: str
    answers: tuple[Answer, ...]


def _table(answers: Mapping[str, pd.DataFrame], key: str | None) -> pd.DataFrame | None:
    if key is None:
        return None
    try:
        table = answers[key]
    except KeyError:
        return None
    return table.assign(id=table["id"].astype(str)).drop_duplicates("id").set_index("id", drop=False)


def side_by_side(
    answers: Mapping[str, pd.DataFrame], models: list[tuple[str, str | None]], n_items: int = SIDE_BY_SIDE_ITEMS
) -> list[Comparison]:
    """The first `n_items` judge questions (the judge set's order, not chosen by score) with each model's answer.

    `models`: (label, key in `answers`) in display order; a key listed twice (the knee is also the best trial) is
    shown once under both labels; a model without answers is left out."""
    merged: dict[str, list[str]] = {}
    for label, key in models:
        if key is not None:
            merged.setdefault(key, []).append(label)
    tables = {key: table for key in merged if (table := _table(answers, key)) is not None}
    if not tables:
        return []
    first = next(iter(tables.values()))
    comparisons = []
    for item_id in list(first["id"])[:n_items]:
        row = first.loc[item_id]
        shown = tuple(
            Answer(" and ".join(merged[key]), str(table.loc[item_id, "answer"]), _score(table.loc[item_id]))
            for key, table in tables.items()
            if item_id in table.index
        )
        comparisons.append(Comparison(item_id, str(row.get("question", "")), str(row.get("reference", "")), shown))
    return comparisons


def _score(row: pd.Series) -> float:
    value = pd.to_numeric(row.get("judge_score"), errors="coerce")
    return float(value) if pd.notna(value) else math.nan


def best_judged(ranked: pd.DataFrame) -> str | None:
    scores = pd.to_numeric(ranked.get("judge_score", pd.Series(dtype=float)), errors="coerce")
    return None if scores.notna().sum() == 0 else str(scores.idxmax())


def compared_answers(study: Study, ranked: pd.DataFrame, knee_id: str | None) -> list[Comparison]:
    """The untuned base model, the knee and the best-judged trial on three judge questions."""
    best = best_judged(ranked)
    models = [
        ("untuned base model", BASELINE),
        (f"knee ({knee_id})", knee_id),
        (f"best judge score ({best})", best),
    ]
    return side_by_side(study.answers, models)


def judge_checks(study: Study) -> list[tuple[str, float, float | None, float | None]]:
    """(what, value, interval low, interval high): each judge's calibration accuracy (share of known-good answers
    ranked above a wrong or looping one) and the panel's agreement, as the search logged them."""
    metrics = study.search_metrics
    rows: list[tuple[str, float, float | None, float | None]] = [
        (f"calibration accuracy of {name.removeprefix(CALIBRATION_PREFIX)}", value, None, None)
        for name, value in sorted(metrics.items())
        if name.startswith(CALIBRATION_PREFIX)
    ]
    for name, value in sorted(metrics.items()):
        if name.startswith(AGREEMENT_PREFIX) and not name.endswith(("_ci_low", "_ci_high")):
            low, high = metrics.get(f"{name}_ci_low"), metrics.get(f"{name}_ci_high")
            rows.append((f"panel agreement ({name.removeprefix(AGREEMENT_PREFIX)})", value, low, high))
    return rows


def power_savings(study: Study) -> list[PowerLimitSaving]:
    """Energy saved by trials at a lowered GPU power limit against default-limit trials (trainables/energy.py), where
    the search varied the limit; empty otherwise."""
    trials = study.trials
    if POWER_LIMIT not in trials.columns or "train_tokens" not in trials.columns:
        return []
    if pd.to_numeric(trials[POWER_LIMIT], errors="coerce").notna().sum() == 0:
        return []
    rows = trials.astype(object).where(trials.notna(), None).to_dict("records")
    for row in rows:
        limit = pd.to_numeric(row.get(POWER_LIMIT), errors="coerce")
        row[POWER_LIMIT] = None if pd.isna(limit) else int(limit)
    keys = tuple(c for c in CONFIG_COLUMNS if c in trials.columns)
    return power_limit_savings(rows, keys)
