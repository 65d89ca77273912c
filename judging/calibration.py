"""Known answers every judge must rank: a check at the start of a search that each judge can tell right from wrong.

The calibration set (judging/data/calibration.jsonl, written by hand for this purpose and kept apart from
every holdout) has, per question, a known-good answer, the same answer with one wrong detail (a switch
turned the other way, a wrong number, a harmful instruction, a wrong menu) and a loop of the reference's
first words. A judge passes when it scores the good answer above both bad ones in at least
`PASS_ACCURACY` of the pairs; a failed or unparseable judgement (NaN) counts as a wrong ranking.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING

from judging.panel import JudgeItem

if TYPE_CHECKING:
    from judging.panel import Panel

CALIBRATION_FILE = "calibration.jsonl"
PASS_ACCURACY = 0.75


@dataclass(frozen=True)
class CalibrationItem:
    group: str
    expect: str  # good | wrong | looping
    item: JudgeItem


@dataclass(frozen=True)
class CalibrationResult:
    accuracy: dict[str, float]  # judge model -> share of (good, bad) pairs ranked right
    pairs: int
    warnings: list[str]
    usage: dict[str, float] = field(default_factory=dict)  # the calls it made: judging.judgement.Usage's fields

    def metrics(self) -> dict[str, float]:
        """Flat floats for MLflow: calibration_accuracy__<model>."""
        return {f"calibration_accuracy__{model}": value for model, value in self.accuracy.items()}


def load_items() -> list[CalibrationItem]:
    text = resources.files("judging").joinpath("data", CALIBRATION_FILE).read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [
        CalibrationItem(r["group"], r["expect"], JudgeItem(r["id"], r["question"], r["reference"], r["answer"]))
        for r in rows
    ]


def accuracy_by_judge(items: list[CalibrationItem], scores: dict[str, list[float]]) -> tuple[dict[str, float], int]:
    """Per judge, the share of (good, wrong) and (good, looping) pairs of one question with good scored higher."""
    good = {it.group: i for i, it in enumerate(items) if it.expect == "good"}
    pairs = [(good[it.group], i) for i, it in enumerate(items) if it.expect != "good" and it.group in good]
    accuracy = {}
    for model, values in scores.items():
        # NaN > x is False, so a failed judgement on either side never counts as a right ranking.
        right = sum(1 for g, b in pairs if values[g] > values[b])
        accuracy[model] = right / len(pairs) if pairs else math.nan
    return accuracy, len(pairs)


def calibrate(panel: Panel, items: list[CalibrationItem] | None = None) -> CalibrationResult:
    """Run every judge of `panel` on the calibration set; one warning line per judge below PASS_ACCURACY."""
    items = items if items is not None else load_items()
    result = panel.score([it.item for it in items])
    scores = {model: [float(v) for v in result.items[f"judge_score__{model}"]] for model in panel.models}
    accuracy, pairs = accuracy_by_judge(items, scores)
    warnings = [
        f"warning: judge {model} ranked {round(value * pairs)}/{pairs} calibration pairs right ({value:.0%} < "
        f"{PASS_ACCURACY:.0%}): its scores may not tell right answers from wrong or looping ones"
        for model, value in accuracy.items()
        if math.isnan(value) or value < PASS_ACCURACY
    ]
    return CalibrationResult(accuracy=accuracy, pairs=pairs, warnings=warnings, usage=dict(result.usage))
