"""A search's judged items as one long table (trial, item, scenario, score, answer) and as the score matrix the
bootstrap takes (a row per trial, a column per judge item): pure functions on the per-trial tables the panel
writes, shared by the search's end (search/judged_items.py reads them from the checkpoints) and the report."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from trainables.judged_figures import SCENARIO_ID, scenario_ids

PER_JUDGE_PREFIX = "judge_score__"
# The columns the long table keeps; per-judge scores (`judge_score__<model>`) come along where present.
COLUMNS = ("trial_id", "id", SCENARIO_ID, "question", "reference", "answer", "judge_score")


def judged_items_table(
    answers: Mapping[str, pd.DataFrame], scenario_of: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """One row per (trial, judge item). `answers`: each trial's (and `BASELINE_ROW`'s) per-item table as the panel
    writes it; `scenario_of`: item id -> scenario id from the corpus, for tables written before items carried it."""
    frames = []
    for trial_id, items in answers.items():
        if items is None or items.empty or "judge_score" not in items.columns:
            continue
        frame = items.copy()
        frame["id"] = frame["id"].astype(str)
        if scenario_of:
            known = frame["id"].map(scenario_of)
            frame[SCENARIO_ID] = known.where(known.notna(), frame.get(SCENARIO_ID))
        frame[SCENARIO_ID] = scenario_ids(frame)
        frame["trial_id"] = str(trial_id)
        judges = [c for c in frame.columns if c.startswith(PER_JUDGE_PREFIX)]
        frames.append(frame.reindex(columns=[*COLUMNS, *judges]))
    if not frames:
        return pd.DataFrame(columns=list(COLUMNS))
    table = pd.concat(frames, ignore_index=True)
    for column in [c for c in table.columns if c == "judge_score" or c.startswith(PER_JUDGE_PREFIX)]:
        table[column] = pd.to_numeric(table[column], errors="coerce")
    return table


def score_matrix(table: pd.DataFrame, trials: Iterable[str] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """(scores, scenario ids): a row per trial (those in `trials`, if given), a column per item in the order the
    items were first seen; NaN where a judge failed or a trial lacks the item."""
    if trials is not None:
        table = table[table["trial_id"].isin(set(trials))]
    items = table.drop_duplicates("id")[["id", SCENARIO_ID]]
    scores = table.pivot_table(index="trial_id", columns="id", values="judge_score", aggfunc="first", dropna=False)
    scores = scores.reindex(columns=list(items["id"]))
    scores.columns.name = scores.index.name = None
    return scores, list(items[SCENARIO_ID])
