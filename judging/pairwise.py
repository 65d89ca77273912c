"""Pairwise mode (`judging.pairwise: true`): each candidate answer against the base model's answer, asked in
both orders, after the rubric scores on a trial's last epoch.

Judges favour whichever answer comes first (or second) often enough to move a mean; asking A-vs-B and
then B-vs-A and counting only preferences that survive the swap removes that position bias from the
win rate. Inconsistent pairs are reported, not counted as wins, losses or ties.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pandas as pd

from judging.judgement import Usage
from judging.panel import JudgeItem, Panel
from judging.prompt import PAIRWISE_SCHEMA, build_pairwise_messages

OUTCOMES = ("win", "loss", "tie", "inconsistent", "failed")
METRICS = ("judge_pairwise_win_rate", "judge_pairwise_consistency", "judge_pairwise_inconsistent")


@dataclass
class PairwiseResult:
    win_rate: float  # candidate wins / (wins + losses) over consistent, decided pairs; NaN if none
    consistency: float  # share of judged pairs whose verdict survived the order swap
    counts: dict[str, int]
    per_judge_win_rate: dict[str, float]
    usage: dict[str, float]
    items: pd.DataFrame  # one row per (item, judge): id, judge, first, swapped, outcome, error

    def metrics(self) -> dict[str, float]:
        values = (self.win_rate, self.consistency, float(self.counts["inconsistent"]))
        return dict(zip(METRICS, values, strict=True))


def outcome(first: str | None, swapped: str | None) -> str:
    """The candidate is A in the first order and B in the swapped one."""
    if first is None or swapped is None:
        return "failed"
    if first == "A" and swapped == "B":
        return "win"
    if first == "B" and swapped == "A":
        return "loss"
    if first == "tie" and swapped == "tie":
        return "tie"
    return "inconsistent"


def unavailable() -> dict[str, float]:
    """The pairwise metrics of a trial that had no baseline answers to compare with (the baseline failed)."""
    return dict.fromkeys(METRICS, math.nan)


def compare(panel: Panel, items: Sequence[JudgeItem], baseline_answers: Sequence[str]) -> PairwiseResult:
    """Every judge of the panel on every (candidate, baseline) pair, in both orders."""
    if len(baseline_answers) != len(items):
        raise ValueError(f"{len(items)} items but {len(baseline_answers)} baseline answers")
    rubric = panel.rubric
    prompts = [
        (
            build_pairwise_messages(rubric, it.question, it.reference, it.answer, base),
            build_pairwise_messages(rubric, it.question, it.reference, base, it.answer),
        )
        for it, base in zip(items, baseline_answers, strict=True)
    ]
    tasks = [(model, i, order) for model in panel.models for i in range(len(items)) for order in (0, 1)]

    def ask(task: tuple[str, int, int]) -> tuple[str | None, Usage, str]:
        model, i, order = task
        data, usage, error = panel.ask(model, prompts[i][order], PAIRWISE_SCHEMA, kind="pairwise")
        return (data["preferred"] if data else None), usage, error

    with ThreadPoolExecutor(max_workers=panel.max_concurrency) as pool:
        answers = dict(zip(tasks, pool.map(ask, tasks), strict=True))

    usage = Usage()
    rows = []
    for model in panel.models:
        for i, item in enumerate(items):
            first, u1, e1 = answers[(model, i, 0)]
            swapped, u2, e2 = answers[(model, i, 1)]
            usage.add(u1)
            usage.add(u2)
            rows.append(
                {
                    "id": item.id,
                    "judge": model,
                    "first": first,
                    "swapped": swapped,
                    "outcome": outcome(first, swapped),
                    "error": " | ".join(e for e in (e1, e2) if e),
                }
            )
    frame = pd.DataFrame(rows, columns=["id", "judge", "first", "swapped", "outcome", "error"])
    counts = {name: int((frame["outcome"] == name).sum()) for name in OUTCOMES}
    judged = len(frame) - counts["failed"]
    return PairwiseResult(
        win_rate=_win_rate(frame),
        consistency=(judged - counts["inconsistent"]) / judged if judged else math.nan,
        counts=counts,
        per_judge_win_rate={m: _win_rate(frame[frame["judge"] == m]) for m in panel.models},
        usage=usage.as_dict(),
        items=frame,
    )


def _win_rate(frame: pd.DataFrame) -> float:
    wins = int((frame["outcome"] == "win").sum())
    losses = int((frame["outcome"] == "loss").sum())
    return wins / (wins + losses) if wins + losses else math.nan
