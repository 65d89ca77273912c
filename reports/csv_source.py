"""Read a CSV of external results (same column names as the trial table) into a `Study`.

This lets a published table be analysed exactly like one of our searches. Only the objective columns are
required; `trial_id`, `status`, `origin`, `energy_source` and every metric are optional.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from common.errors import InputError
from front.objectives import Objective
from reports.study import FINISHED, Study


def parse_reference_point(spec: str, source: object = "--reference-point") -> dict[str, float]:
    """Parse `judge_score:1,energy_wh:0.5` into a mapping in the metrics' own units."""
    point: dict[str, float] = {}
    for item in (part.strip() for part in spec.split(",")):
        metric, sep, value = item.partition(":")
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not sep or not metric.strip() or not math.isfinite(number):
            raise InputError(source, "reference_point", f"expected METRIC:NUMBER, got {item!r}")
        point[metric.strip()] = number
    return point


def load_study(
    csv_path: Path,
    objectives: Sequence[Objective],
    reference_point: dict[str, float] | None = None,
    energy_budget_wh: float | None = None,
    judge_threshold: float | None = None,
) -> Study:
    csv_path = Path(csv_path)
    try:
        table = pd.read_csv(csv_path)
    except FileNotFoundError:
        raise InputError(csv_path, None, "file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(csv_path, None, f"not a readable CSV ({type(err).__name__})") from None
    for objective in objectives:
        if objective.metric not in table.columns:
            raise InputError(
                csv_path, objective.metric, f"objective column missing; columns: {list(table.columns)}"
            )
        numeric = pd.to_numeric(table[objective.metric], errors="coerce")
        bad = table[objective.metric][numeric.isna() & table[objective.metric].notna()]
        if not bad.empty:
            raise InputError(
                csv_path, objective.metric, f"not a number: {bad.iloc[0]!r} (row {bad.index[0] + 2})"
            )
        table[objective.metric] = numeric
    if reference_point is not None:
        missing = [o.metric for o in objectives if o.metric not in reference_point]
        if missing:
            raise InputError("--reference-point", "reference_point", f"no value for objective(s) {missing}")
    if "trial_id" not in table.columns:
        table["trial_id"] = [f"row{position + 1}" for position in range(len(table))]
    table["trial_id"] = table["trial_id"].astype(str)
    if table["trial_id"].duplicated().any():
        duplicate = table["trial_id"][table["trial_id"].duplicated()].iloc[0]
        raise InputError(csv_path, "trial_id", f"repeated id {duplicate!r}")
    defaults = {"status": FINISHED, "origin": "", "energy_source": ""}
    for column, default in defaults.items():
        table[column] = table[column].fillna(default).astype(str) if column in table.columns else default
    return Study(
        name=csv_path.stem,
        source=str(csv_path),
        trials=table.set_index("trial_id", drop=False),
        objectives=tuple(objectives),
        reference_point=reference_point,
        energy_budget_wh=energy_budget_wh,
        judge_threshold=judge_threshold,
        environment={"source": f"external results from {csv_path.name}"},
    )
