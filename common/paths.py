"""The `paths:` section of an experiment config: the local folders the project writes (corpus, caches, reports).

Shared by the whole config and by stage CLIs that read only their own sections (corpus.build).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict


class PathsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    data_dir: Path = Path("data")
    cache_dir: Path = Path(".cache/lorapareto")
    reports_dir: Path = Path("reports")
