"""Turn real support history (a question/answer CSV, optionally a folder of knowledge-base articles) into
corpus rows with personal data replaced by typed placeholders.

Each distinct question is its own scenario, so the split-by-scenario rule still holds: a question and
its answer never appear in two splits. Dropped rows (unanswered, duplicate questions) are counted.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from common import atomic
from common.errors import InputError
from corpus.pii import scrub
from corpus.pipeline import COLUMNS, MANIFEST
from corpus.scenarios import SPLITS
from corpus.settings import SplitFractions

IMPORT_VERSION = "import-v1"
_REQUIRED = ("question", "answer")
_OPTIONAL = ("term", "cause", "context")
_KB_SUFFIXES = (".md", ".txt")


def read_history(path: Path) -> pd.DataFrame:
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise InputError(path, None, "file not found") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(path, None, f"cannot read as CSV: {type(err).__name__}: {err}") from None
    for column in _REQUIRED:
        if column not in frame.columns:
            raise InputError(path, column, f"missing column (found {list(frame.columns)})")
    for column in _OPTIONAL:
        if column not in frame.columns:
            frame[column] = ""
    return frame[[*_REQUIRED, *_OPTIONAL]]


def read_articles(folder: Path) -> pd.DataFrame:
    """One row per article: its first non-empty line (a title, '#' stripped) as the question, the rest as
    the answer."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "--kb", "not a directory")
    rows = []
    for article in sorted(p for p in folder.rglob("*") if p.suffix in _KB_SUFFIXES):
        try:
            lines = [line for line in article.read_text(encoding="utf-8").splitlines() if line.strip()]
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(article, None, f"cannot read article: {err}") from None
        if lines:
            rows.append({"question": lines[0].lstrip("# ").strip(), "answer": "\n".join(lines[1:]).strip()})
    return pd.DataFrame(rows, columns=list(_REQUIRED)).assign(**dict.fromkeys(_OPTIONAL, ""))


def _split_for(scenario_id: str, fractions: SplitFractions) -> str:
    # A hash, not a shuffle, so adding history later does not move old questions between splits.
    position = int(hashlib.sha256(scenario_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    if position < fractions.judge:
        return "judge"
    return "val" if position < fractions.judge + fractions.val else "train"


def to_corpus_rows(raw: pd.DataFrame, fractions: SplitFractions) -> tuple[pd.DataFrame, dict[str, Any]]:
    counts: dict[str, Any] = {"rows_read": len(raw)}
    answered = raw["answer"].str.strip() != ""
    asked = raw["question"].str.strip() != ""
    counts["unanswered"] = int((~answered & asked).sum())
    counts["empty_question"] = int((~asked).sum())
    rows = raw[answered & asked].copy()
    placeholders: Counter = Counter()
    for column in ("question", "answer"):
        results = [scrub(text.strip()) for text in rows[column]]
        rows[column] = [r.text for r in results]
        for r in results:
            placeholders.update(r.counts)
    counts["pii_placeholders"] = dict(sorted(placeholders.items()))
    key = rows["question"].map(lambda q: " ".join(q.casefold().split()))
    duplicate = key.duplicated()
    counts["duplicate_question"] = int(duplicate.sum())
    rows, key = rows[~duplicate], key[~duplicate]
    rows["scenario_id"] = ["imp-" + hashlib.sha256(k.encode()).hexdigest()[:12] for k in key]
    rows["id"] = rows["scenario_id"] + "-000"
    rows["source"] = "imported"
    rows["generator"] = IMPORT_VERSION
    rows["split"] = [_split_for(s, fractions) for s in rows["scenario_id"]]
    counts["rows"] = {split: int((rows["split"] == split).sum()) for split in SPLITS}
    return rows[COLUMNS].reset_index(drop=True), counts


def import_history(
    qa_csv: Path, out: Path, kb_dir: Path | None = None, fractions: SplitFractions | None = None
) -> dict[str, Any]:
    """Write `out/{train,val,judge}/part-0.parquet` and `out/manifest.json`; return the manifest."""
    fractions = fractions or SplitFractions()
    qa_csv = Path(qa_csv)
    frames = [read_history(qa_csv).assign(_origin="history")]
    if kb_dir is not None:
        frames.append(read_articles(kb_dir).assign(_origin="kb"))
    raw = pd.concat(frames, ignore_index=True)
    rows, counts = to_corpus_rows(raw.drop(columns="_origin"), fractions)
    digest = hashlib.sha256()
    for source in [qa_csv, *(sorted(Path(kb_dir).rglob("*")) if kb_dir else [])]:
        if source.is_file():
            digest.update(source.read_bytes())
    manifest = {
        "corpus_hash": digest.hexdigest()[:16],
        "generator": IMPORT_VERSION,
        "inputs": {"qa": str(qa_csv), "kb": str(kb_dir) if kb_dir else None, "split": fractions.model_dump()},
        "rows_by_origin": {k: int(v) for k, v in raw["_origin"].value_counts().items()},
        "filters": {k: v for k, v in counts.items() if k != "rows"},
        "rows": counts["rows"],
    }
    with atomic.staged_path(Path(out)) as staging:
        for split in SPLITS:
            (staging / split).mkdir(parents=True)
            rows[rows["split"] == split].to_parquet(staging / split / "part-0.parquet", index=False)
        atomic.write_json(staging / MANIFEST, manifest)
    return manifest
