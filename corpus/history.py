"""Turn real support history (a question/answer CSV, optionally a folder of knowledge-base articles) into
corpus rows with personal data replaced by typed placeholders.

Each distinct question is its own scenario, so the split-by-scenario rule still holds: a question and
its answer never appear in two splits. Dropped rows (unanswered, duplicate questions) are counted.
"""

from __future__ import annotations

import csv
import hashlib
import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from common import atomic
from common.errors import InputError
from common.jsonl import json_objects
from corpus.articles import load_articles
from corpus.kind import kind_shares, offline_classifier
from corpus.pii_ray import scrub_frame
from corpus.pipeline import COLUMNS, MANIFEST
from corpus.scenarios import SPLITS
from corpus.settings import SplitFractions

IMPORT_VERSION = "import-v2"
_REQUIRED = ("question", "answer")
_OPTIONAL = ("term", "cause", "context")
_JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
_CSV_SUFFIXES = (".csv", ".tsv", ".txt")
# A support ticket runs to a few thousand characters; a 100k field is an export gone wrong (a whole thread or
# an attachment pasted into one cell), and reading it would cost the scrubber minutes.
MAX_FIELD_CHARS = 100_000
PII_SAMPLE = "pii_sample.csv"
SAMPLE_ROWS = 20


def read_history(path: Path, encoding: str = "utf-8") -> pd.DataFrame:
    """The question/answer table of a CSV (comma, semicolon or tab) or JSONL file, every cell a string.

    Anything wrong is one InputError naming the file, the row and the column: an unreadable file, bytes that
    are not `encoding`, a file that is neither CSV nor JSONL, a header with no rows, a field over
    MAX_FIELD_CHARS.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(path, None, "file not found") from None
    except OSError as err:
        raise InputError(path, None, f"cannot read: {err.strerror}") from None
    head = data[:8192]
    if b"\x00" in head or head.startswith((b"PK\x03\x04", b"%PDF", b"\xd0\xcf\x11\xe0")):
        raise InputError(path, None, "not a CSV or JSONL file (binary content, e.g. a spreadsheet or PDF)")
    text = _decode(path, data, encoding)
    if not text.strip():
        raise InputError(path, "row 1", "cannot read as CSV: the file is empty (expected a question,answer header)")
    is_jsonl = path.suffix.casefold() in _JSONL_SUFFIXES or (
        path.suffix.casefold() not in _CSV_SUFFIXES and text.lstrip().startswith("{")
    )
    records = _jsonl_records(path, text) if is_jsonl else _csv_records(path, text)
    where = "line" if is_jsonl else "row"
    header = records.header
    columns = {name.strip().casefold(): name for name in header}
    for column in _REQUIRED:
        if column not in columns:
            raise InputError(path, column, f"missing column (found {list(header)})")
    if not records.rows:
        raise InputError(path, f"{where} 2", f"no data rows under the header ({', '.join(header)})")
    for number, row in records.rows:
        for name, value in row.items():
            if len(value) > MAX_FIELD_CHARS:
                raise InputError(
                    path, f"{where} {number}, column {name}",
                    f"field of {len(value):,} characters is over the {MAX_FIELD_CHARS:,}-character limit",
                )  # fmt: skip
    frame = pd.DataFrame([row for _, row in records.rows], columns=list(header), dtype=str).fillna("")
    frame = frame.rename(columns={original: key for key, original in columns.items()})
    for column in _OPTIONAL:
        if column not in frame.columns:
            frame[column] = ""
    return frame[[*_REQUIRED, *_OPTIONAL]]


@dataclass
class _Records:
    header: list[str]
    rows: list[tuple[int, dict[str, str]]]  # (row or line number in the file, cells)


def _decode(path: Path, data: bytes, encoding: str) -> str:
    try:
        return data.decode("utf-8-sig" if encoding.replace("_", "-").casefold() in ("utf-8", "utf8") else encoding)
    except LookupError:
        raise InputError("--encoding", None, f"unknown encoding {encoding!r}") from None
    except UnicodeDecodeError as err:
        line_start = data.rfind(b"\n", 0, err.start) + 1
        line = data.count(b"\n", 0, err.start) + 1
        prefix = data[line_start : err.start].decode(encoding, errors="replace")
        column = len(next(csv.reader([prefix]), [""]))
        raise InputError(
            path, f"row {line}, column {column}",
            f"byte 0x{data[err.start]:02x} is not valid {encoding}; save the file as UTF-8 or pass --encoding "
            "(for example cp1252 for a spreadsheet export from Windows)",
        ) from None  # fmt: skip


def _csv_records(path: Path, text: str) -> _Records:
    first_line = text.lstrip("\ufeff").split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count) if any(d in first_line for d in ",;\t") else ","
    csv.field_size_limit(sys.maxsize)  # our own limit, with the row and column named, is MAX_FIELD_CHARS
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
        rows = []
        row_start = reader.line_num + 1
        for cells in reader:
            if cells:  # a blank line is no row; a line of empty cells is an empty row, counted as such
                if len(cells) > len(header):
                    raise InputError(
                        path, f"row {row_start}, column {len(header) + 1}",
                        f"{len(cells)} fields where the header has {len(header)} (an unquoted {delimiter!r}?)",
                    )  # fmt: skip
                rows.append((row_start, dict(zip(header, cells + [""] * (len(header) - len(cells)), strict=True))))
            row_start = reader.line_num + 1
    except csv.Error as err:
        raise InputError(path, f"row {reader.line_num}", f"cannot read as CSV: {err}") from None
    return _Records([h.strip() for h in header], [(n, {k.strip(): v for k, v in r.items()}) for n, r in rows])


def _jsonl_records(path: Path, text: str) -> _Records:
    header: dict[str, None] = {}
    rows = []
    for number, record in json_objects(path, text):
        cells = {str(k): "" if v is None else str(v) for k, v in record.items()}
        header.update(dict.fromkeys(cells))
        rows.append((number, cells))
    return _Records(list(header), rows)


def read_articles(folder: Path) -> pd.DataFrame:
    """One row per article of a `--kb` folder (parsed by corpus/articles.py): the title as the question, the
    article's text as the answer."""
    rows = [{"question": a.title, "answer": a.text} for a in load_articles(folder, "--kb")]
    return pd.DataFrame(rows, columns=list(_REQUIRED)).assign(**dict.fromkeys(_OPTIONAL, ""))


def _split_for(scenario_id: str, fractions: SplitFractions) -> str:
    # A hash, not a shuffle, so adding history later does not move old questions between splits.
    position = int(hashlib.sha256(scenario_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    if position < fractions.judge:
        return "judge"
    return "val" if position < fractions.judge + fractions.val else "train"


def _normalised(text: str) -> str:
    return " ".join(text.casefold().split())


def _sample(before: pd.DataFrame, after: pd.DataFrame, size: int) -> pd.DataFrame:
    """Up to `size` changed rows, spread evenly over the file, before and after, for a person to check."""
    changed = [i for i in before.index if (before.loc[i, _REQUIRED] != after.loc[i, _REQUIRED]).any()]
    if len(changed) > size:
        changed = [changed[round(k * (len(changed) - 1) / (size - 1))] for k in range(size)]
    picked = changed
    records = []
    for i in dict.fromkeys(picked):
        for column in _REQUIRED:
            records.append({"row": int(i), "field": column, "before": before.loc[i, column],
                            "after": after.loc[i, column]})  # fmt: skip
    return pd.DataFrame(records, columns=["row", "field", "before", "after"])


def to_corpus_rows(
    raw: pd.DataFrame, fractions: SplitFractions, sample_size: int = SAMPLE_ROWS, use_ray: bool | None = None
) -> tuple[pd.DataFrame, dict[str, Any], pd.DataFrame]:
    """Corpus rows, the counts of what was dropped and replaced, and a before/after sample of changed rows."""
    counts: dict[str, Any] = {"rows_read": len(raw)}
    raw = raw.assign(question=raw["question"].str.strip(), answer=raw["answer"].str.strip())
    asked, answered = raw["question"] != "", raw["answer"] != ""
    counts["empty"] = int((~asked & ~answered).sum())
    counts["empty_question"] = int((~asked & answered).sum())
    counts["unanswered"] = int((asked & ~answered).sum())
    rows = raw[asked & answered]
    # Duplicates are judged on the text as written: two questions that differ only in a name are two rows.
    key = rows["question"].map(_normalised)
    duplicate = key.duplicated()
    counts["duplicate_question"] = int(duplicate.sum())
    rows, key = rows[~duplicate], key[~duplicate]
    scrubbed, placeholders = scrub_frame(rows, use_ray=use_ray)
    counts["pii_placeholders"] = dict(sorted(placeholders.items()))
    sample = _sample(rows, scrubbed, sample_size)
    rows = scrubbed
    rows["scenario_id"] = ["imp-" + hashlib.sha256(k.encode()).hexdigest()[:12] for k in key]
    rows["id"] = rows["scenario_id"] + "-000"
    origin = rows["_origin"] if "_origin" in rows else pd.Series("history", index=rows.index)
    rows["source"] = origin.map({"kb": "article"}).fillna("imported")
    rows["generator"] = IMPORT_VERSION
    rows["generation"] = "none"  # written by people, not generated
    rows["chunk_ids"] = ""
    rows["kind"] = offline_classifier().predict(rows["question"].tolist(), rows["answer"].tolist())
    counts["kinds"] = kind_shares(rows["kind"].tolist())
    rows["split"] = [_split_for(s, fractions) for s in rows["scenario_id"]]
    counts["rows"] = {split: int((rows["split"] == split).sum()) for split in SPLITS}
    return rows[COLUMNS].reset_index(drop=True), counts, sample


def import_history(
    qa_csv: Path,
    out: Path,
    kb_dir: Path | None = None,
    fractions: SplitFractions | None = None,
    encoding: str = "utf-8",
    use_ray: bool | None = None,
) -> dict[str, Any]:
    """Write `out/{train,val,judge}/part-0.parquet`, `out/manifest.json` (counts only, no text) and
    `out/pii_sample.csv` (changed rows before and after, for a person to check; it holds the originals, so it
    stays beside the corpus and is never logged); return the manifest."""
    fractions = fractions or SplitFractions()
    qa_csv = Path(qa_csv)
    frames = [read_history(qa_csv, encoding).assign(_origin="history")]
    if kb_dir is not None:
        frames.append(read_articles(kb_dir).assign(_origin="kb"))
    raw = pd.concat(frames, ignore_index=True)
    rows, counts, sample = to_corpus_rows(raw, fractions, use_ray=use_ray)
    digest = hashlib.sha256()
    for source in [qa_csv, *(sorted(Path(kb_dir).rglob("*")) if kb_dir else [])]:
        if source.is_file():
            digest.update(source.read_bytes())
    manifest = {
        "corpus_hash": digest.hexdigest()[:16],
        "generator": IMPORT_VERSION,
        "inputs": {"qa": str(qa_csv), "kb": str(kb_dir) if kb_dir else None, "split": fractions.model_dump()},
        "rows_by_origin": {k: int(v) for k, v in raw["_origin"].value_counts().items()},
        "filters": {k: v for k, v in counts.items() if k not in ("rows", "kinds")},
        "rows": counts["rows"],
        "kinds": counts["kinds"],
        "pii_sample": {"file": PII_SAMPLE, "rows": int(sample["row"].nunique()) if len(sample) else 0},
    }
    with atomic.staged_path(Path(out)) as staging:
        for split in SPLITS:
            (staging / split).mkdir(parents=True)
            rows[rows["split"] == split].to_parquet(staging / split / "part-0.parquet", index=False)
        atomic.write_json(staging / MANIFEST, manifest)
        atomic.write_text(staging / PII_SAMPLE, sample.to_csv(index=False))
    return manifest
