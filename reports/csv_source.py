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
from front.objectives import METRIC_BOUNDS, Objective
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


# Columns a trial table holds as numbers (trainables/contract.py); a CSV that has one must hold numbers there.
NUMERIC_COLUMNS = frozenset(METRIC_BOUNDS) | {"epoch", "train_tokens", "judge_calls", "judge_failures"}
# Longer than any id, status or number a results table holds: a field this long is a broken quote or the wrong file.
MAX_FIELD_CHARS = 10_000


def _read_csv(csv_path: Path) -> pd.DataFrame:
    """The table as strings; an unreadable, empty, header-only or oversized file is one InputError."""
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False, encoding="utf-8")
    except FileNotFoundError:
        raise InputError(csv_path, None, "file not found") from None
    except IsADirectoryError:
        raise InputError(csv_path, None, "is a directory, not a CSV file") from None
    except pd.errors.EmptyDataError:
        raise InputError(csv_path, None, "the file is empty (expected a header of column names, row 1)") from None
    except UnicodeDecodeError as err:
        byte = err.object[err.start]
        raise InputError(csv_path, None, f"not UTF-8 text (byte {byte:#04x} at offset {err.start})") from None
    except (pd.errors.ParserError, ValueError) as err:
        raise InputError(csv_path, None, f"not a readable CSV: {' '.join(str(err).split())[:200]}") from None
    if table.empty:
        raise InputError(csv_path, None, f"no data rows under the header ({', '.join(map(str, table.columns))})")
    for column in table.columns:
        long = table[column].str.len() > MAX_FIELD_CHARS
        if long.any():
            row = int(long.to_numpy().argmax())
            size = len(table[column].iloc[row])
            raise InputError(csv_path, column, f"a field of {size:,} characters (row {row + 2})")
    return table


def _numbers(csv_path: Path, table: pd.DataFrame, column: str) -> pd.Series:
    """`column` as floats: text or a value outside the metric's range is refused. An empty cell (or NaN) stays NaN:
    a trial whose judges all failed has no judge_score, never a 0."""
    text = table[column].str.strip()
    numbers = pd.to_numeric(text.where(text != ""), errors="coerce")
    for row, (raw, value) in enumerate(zip(table[column], numbers, strict=True)):
        if raw.strip() and math.isnan(value) and raw.strip().lower() not in ("nan", "na", "n/a"):
            raise InputError(csv_path, column, f"not a number: {raw[:80]!r} (row {row + 2})")
        if math.isinf(value):
            raise InputError(csv_path, column, f"not a finite number: {raw[:80]!r} (row {row + 2})")
        bounds = METRIC_BOUNDS.get(column)
        if bounds and not math.isnan(value) and not _within(value, bounds):
            low, high, _ = bounds
            message = f"{value:g} is outside the metric's range {low:g} to {high:g} (row {row + 2})"
            raise InputError(csv_path, column, message)
    return numbers


def _within(value: float, bounds: tuple[float, float, bool]) -> bool:
    low, high, low_attainable = bounds
    return (low <= value if low_attainable else low < value) and value <= high


def load_study(
    csv_path: Path,
    objectives: Sequence[Objective],
    reference_point: dict[str, float] | None = None,
    energy_budget_wh: float | None = None,
    judge_threshold: float | None = None,
) -> Study:
    csv_path = Path(csv_path)
    text = _read_csv(csv_path)
    for objective in objectives:
        if objective.metric not in text.columns:
            raise InputError(csv_path, objective.metric, f"objective column missing; columns: {list(text.columns)}")
    # Checked as text (so a cell is reported as written), then read with pandas' own type inference.
    table = pd.read_csv(csv_path, encoding="utf-8")
    for column in [c for c in text.columns if c in NUMERIC_COLUMNS or c in {o.metric for o in objectives}]:
        table[column] = _numbers(csv_path, text, column).to_numpy()
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
