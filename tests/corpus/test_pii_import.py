"""Importing a history (issue 19): what an import reports, the before/after sample, JSONL input, rows that
differ only in personal data, and bad input as one line naming the file, row and column with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from common.errors import InputError
from corpus.history import MAX_FIELD_CHARS, import_history
from corpus.pipeline import read_split
from tests.helpers import ROOT, subprocess_env


def _rows(path: Path) -> pd.DataFrame:
    return pd.concat([read_split(path, split) for split in ("train", "val", "judge")], ignore_index=True)


def _write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_rows_differing_only_in_a_name_are_both_kept_and_the_report_counts_everything(tmp_path: Path) -> None:
    qa = _write_csv(tmp_path / "qa.csv", [
        {"question": "hi my name is ngozi eze, my SIM is blocked", "answer": "Hi ngozi, I've sent your PUK."},
        {"question": "hi my name is lars eriksson, my SIM is blocked", "answer": "Hi lars, I've sent your PUK."},
        {"question": "Hi my name is Lars Eriksson, my SIM is blocked", "answer": "Sent again."},
        {"question": "Why is roaming not working in Lisbon?", "answer": ""},
        {"question": "", "answer": "Orphan answer."},
        {"question": "", "answer": ""},
    ])  # fmt: skip
    manifest = import_history(qa, tmp_path / "out")
    rows = _rows(tmp_path / "out")
    assert len(rows) == 2
    assert set(rows["question"]) == {"hi my name is <NAME_1>, my SIM is blocked"}
    assert set(rows["answer"]) == {"Hi <NAME_1>, I've sent your PUK."}
    filters = manifest["filters"]
    assert (filters["rows_read"], filters["duplicate_question"], filters["unanswered"]) == (6, 1, 1)
    assert (filters["empty_question"], filters["empty"]) == (1, 1)
    assert filters["pii_placeholders"] == {"<NAME>": 4}
    # The manifest (logged to MLflow by a search) holds counts, never the text.
    dumped = json.dumps(manifest).casefold()
    assert "ngozi" not in dumped and "eriksson" not in dumped
    sample = pd.read_csv(tmp_path / "out" / manifest["pii_sample"]["file"])
    assert manifest["pii_sample"]["rows"] == 2 and set(sample["field"]) == {"question", "answer"}
    assert "ngozi eze" in " ".join(sample["before"]) and "<NAME_1>" in " ".join(sample["after"])


def test_jsonl_history_is_read_like_csv(tmp_path: Path) -> None:
    qa = tmp_path / "history.jsonl"
    qa.write_text(
        json.dumps({"question": "Refund to DE89370400440532013000 please", "answer": "Done.", "agent": 7}) + "\n\n"
        + json.dumps({"question": "Is there an outage in Leeds?", "answer": "Not today."}) + "\n"
    )
    manifest = import_history(qa, tmp_path / "out")
    rows = _rows(tmp_path / "out")
    assert sorted(rows["question"]) == ["Is there an outage in Leeds?", "Refund to <IBAN_1> please"]
    assert manifest["filters"]["pii_placeholders"] == {"<IBAN>": 1}


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("header.csv", b"question,answer\n", "header.csv: row 2: no data rows under the header (question, answer)"),
        ("latin1.csv", "question,answer\nok,fine\nwhy,caf\u00e9 closed\n".encode("cp1252"),
         "latin1.csv: row 3, column 2: byte 0xe9 is not valid utf-8"),
        ("book.csv", b"PK\x03\x04\x14\x00\x00\x00binary", "book.csv: not a CSV or JSONL file"),
        ("broken.jsonl", b'{"question": "a", "answer": "b"}\n{"question": \n',
         "broken.jsonl: line 2, column 14: not JSON"),
        ("huge.csv", b"question,answer\nok,fine\nlong," + b"x" * (MAX_FIELD_CHARS + 1) + b"\n",
         f"huge.csv: row 3, column answer: field of {MAX_FIELD_CHARS + 1:,} characters is over the"),
        ("extra.csv", b"question,answer\na,b,c\n", "extra.csv: row 2, column 3: 3 fields where the header has 2"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_naming_file_row_and_column(tmp_path: Path, name: str, content: bytes, expected) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as err:
        import_history(path, tmp_path / "out")
    assert str(err.value).startswith(str(tmp_path / expected)) and "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()


def test_cli_exits_2_on_a_header_only_file_and_reads_cp1252_when_told(tmp_path: Path) -> None:
    header_only = tmp_path / "empty.csv"
    header_only.write_text("question,answer\n")
    failed = subprocess.run(
        [sys.executable, "-m", "corpus.import", "--qa", str(header_only), "--out", str(tmp_path / "a")],
        capture_output=True, text=True, cwd=ROOT, env=subprocess_env(), timeout=120,
    )  # fmt: skip
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    expected = f"error: {header_only}: row 2: no data rows under the header (question, answer)"
    assert failed.stderr.strip().splitlines() == [expected]
    latin = tmp_path / "latin.csv"
    latin.write_bytes("question,answer\nWhy is the café wifi slow?,Restart the router.\n".encode("cp1252"))
    ok = subprocess.run(
        [sys.executable, "-m", "corpus.import", "--qa", str(latin), "--out", str(tmp_path / "b"),
         "--encoding", "cp1252"],
        capture_output=True, text=True, cwd=ROOT, env=subprocess_env(), timeout=120,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert _rows(tmp_path / "b")["question"].tolist() == ["Why is the café wifi slow?"]
