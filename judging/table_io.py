"""Read and write the item tables the CLIs take: Parquet, CSV or JSONL, chosen by file suffix."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from common import atomic
from common.errors import InputError

FORMATS = (".parquet", ".csv", ".jsonl")


def read_table(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    path = Path(path)
    if path.suffix not in FORMATS:
        raise InputError(path, None, f"unsupported file type {path.suffix!r}; use one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise InputError(path, None, "file not found")
    try:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        elif path.suffix == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        else:
            frame = pd.read_json(path, lines=True, dtype=False)
    except Exception as err:  # every reader has its own error types; all mean the same to the user
        raise InputError(path, None, f"cannot parse: {' '.join(str(err).split())[:200]}") from None
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InputError(path, missing[0], f"required column missing (have {list(frame.columns)})")
    for column in required:
        blank = frame[column].isna() | (frame[column].astype(str).str.strip() == "")
        if blank.any():
            raise InputError(path, column, f"empty value in row {int(blank.to_numpy().argmax()) + 1}")
    return frame


def write_table(path: Path, frame: pd.DataFrame) -> None:
    path = Path(path)
    if path.suffix not in FORMATS:
        raise InputError(path, None, f"unsupported output type {path.suffix!r}; use one of {', '.join(FORMATS)}")
    if path.suffix == ".parquet":
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        atomic.write_bytes(path, buffer.getvalue())
    elif path.suffix == ".csv":
        atomic.write_text(path, frame.to_csv(index=False))
    else:
        atomic.write_text(path, frame.to_json(orient="records", lines=True, force_ascii=False))
