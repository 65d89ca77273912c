"""Disk cache of judgements, so judging the same answer again makes no call.

The key is a hash of (judge model, rubric fingerprint, prompt hash). Only scores and the rationale are
stored: the request (and any API key or header in it) never reaches disk.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from common import atomic


def cache_key(model: str, rubric_fingerprint: str, prompt_sha256: str) -> str:
    material = json.dumps([model, rubric_fingerprint, prompt_sha256])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


class JudgementCache:
    """One small JSON file per key, fanned out by prefix; each written atomically, so concurrent
    workers (Ray trials sharing a directory) can only ever see whole records."""

    def __init__(self, root: Path | None):
        self.root = Path(root) if root is not None else None

    def _path(self, key: str) -> Path:
        assert self.root is not None
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        if self.root is None:
            return None
        try:
            return json.loads(self._path(key).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def put(self, key: str, record: dict[str, Any]) -> None:
        if self.root is not None:
            atomic.write_json(self._path(key), record)
