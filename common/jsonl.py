"""One JSON-lines reader for every file a user or the project hands us, so a broken line is reported the same way
everywhere: `line N, column C: not JSON: ...` or `line N: expected a JSON object per line, got ...`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from common.errors import InputError


def json_objects(path: Path, text: str) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of `text` (read from `path`, named in errors)."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(path, f"line {number}, column {err.colno}", f"not JSON: {err.msg}") from None
        if not isinstance(record, dict):
            raise InputError(path, f"line {number}", f"expected a JSON object per line, got {type(record).__name__}")
        yield number, record
