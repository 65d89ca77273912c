"""Importing real support history: PII recall on planted items (issue 10), drop counts, the knowledge-base
folder, and the CLI's bad-input handling."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from common.errors import InputError
from corpus.history import import_history
from corpus.pipeline import COLUMNS, read_split
from tests.helpers import FIXTURES, ROOT

FIXTURES = FIXTURES / "corpus"
SPLITS = ("train", "val", "judge")


def _rows(path: Path) -> pd.DataFrame:
    return pd.concat([read_split(path, split) for split in SPLITS], ignore_index=True)


def _leaks(value: str, kind: str, text: str) -> bool:
    """Whether any identifying piece of a planted value survives: each word of a name, each run of 3+
    digits of a number (so a half-scrubbed card or a surname left behind counts as a miss)."""
    if kind in ("NAME", "EMAIL"):
        pieces = value.split() if kind == "NAME" else [value]
        return any(re.search(rf"(?<!\w){re.escape(piece)}(?!\w)", text) for piece in pieces)
    return any(group in re.sub(r"\D", " ", text).split() for group in re.findall(r"\d{3,}", value)) or value in text


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("imported") / "corpus"
    return out, import_history(FIXTURES / "history_pii.csv", out)


def test_planted_personal_data_is_replaced_with_typed_placeholders(imported) -> None:
    out, _ = imported
    rows = _rows(out)
    planted = json.loads((FIXTURES / "history_pii_planted.json").read_text())["items"]
    kinds = {item["kind"] for item in planted}
    assert len(planted) >= 50 and len(kinds) >= 6
    caught = []
    for item in planted:
        match = rows[rows["question"].str.startswith(item["ticket"])]
        assert len(match) == 1, item["ticket"]
        text = match.iloc[0][item["field"]]
        typed = re.search(rf"<{item['kind']}_\d+>", text) is not None
        caught.append(not _leaks(item["value"], item["kind"], text) and typed)
    recall = sum(caught) / len(planted)
    missed = [item for item, ok in zip(planted, caught, strict=True) if not ok]
    assert recall >= 0.95, missed
    for kind in kinds:
        of_kind = [ok for item, ok in zip(planted, caught, strict=True) if item["kind"] == kind]
        assert sum(of_kind) / len(of_kind) >= 0.8, (kind, missed)


def test_import_drops_and_counts_unanswered_and_duplicate_questions(imported) -> None:
    out, manifest = imported
    rows = _rows(out)
    filters = manifest["filters"]
    assert filters["unanswered"] == 2 and filters["duplicate_question"] == 2 and filters["empty_question"] == 0
    assert filters["rows_read"] == len(rows) + 4
    assert list(rows.columns) == COLUMNS and set(rows["source"]) == {"imported"}
    assert rows["scenario_id"].is_unique and rows["question"].str.casefold().is_unique
    assert sum(manifest["rows"].values()) == len(rows)
    assert json.loads((out / "manifest.json").read_text()) == manifest
    # Placeholder counts in the manifest add up to what the rows hold.
    text = " ".join(rows["question"]) + " " + " ".join(rows["answer"])
    for placeholder, count in manifest["filters"]["pii_placeholders"].items():
        assert len(re.findall(rf"{placeholder[:-1]}_\d+>", text)) == count


def test_knowledge_base_articles_become_rows(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "apn.md").write_text(
        "# How do I reset my APN?\n\nOpen mobile network settings and choose Reset to default.\n"
    )
    (kb / "notes.bin").write_bytes(b"\x00ignored")
    qa = tmp_path / "qa.csv"
    qa.write_text("question,answer\nWhy no signal?,Check the coverage map for your address.\n")
    manifest = import_history(qa, tmp_path / "out", kb_dir=kb)
    rows = _rows(tmp_path / "out")
    assert manifest["rows_by_origin"] == {"history": 1, "kb": 1}
    assert "How do I reset my APN?" in set(rows["question"])
    assert rows.loc[rows["question"] == "How do I reset my APN?", "answer"].item().startswith("Open mobile")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("query,reply\nhi,there\n", "question: missing column"),
        ("", "cannot read as CSV"),
        ('question,answer\n"unclosed,quote\n', "cannot read as CSV"),
    ],
)
def test_bad_csv_is_one_input_error(tmp_path: Path, content: str, message: str) -> None:
    qa = tmp_path / "qa.csv"
    qa.write_text(content)
    with pytest.raises(InputError, match=re.escape(message)):
        import_history(qa, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_import_cli_writes_a_corpus_and_exits_2_on_bad_input(tmp_path: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "corpus.import", "--qa", str(FIXTURES / "history_pii.csv"),
         "--out", str(tmp_path / "c")],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert f"manifest: {tmp_path / 'c' / 'manifest.json'}" in ok.stdout and "unanswered=2" in ok.stdout
    assert f"sample of changed rows to check: {tmp_path / 'c' / 'pii_sample.csv'}" in ok.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("query,reply\nhi,there\n")
    failed = subprocess.run(
        [sys.executable, "-m", "corpus.import", "--qa", str(bad), "--out", str(tmp_path / "d")],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines() == [f"error: {bad}: question: missing column (found ['query', 'reply'])"]
    assert not (tmp_path / "d").exists()
