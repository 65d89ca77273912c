"""`python -m judging.score`: tables in, judged tables out, bad input is one line and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from judging import score
from tests.helpers import FIXTURES, ROOT

FIXTURE = FIXTURES / "judging" / "telecom_items.jsonl"


def write_input(path: Path, n: int = 4) -> pd.DataFrame:
    rows = [json.loads(line) for line in FIXTURE.read_text().splitlines()[:n]]
    frame = pd.DataFrame(
        {
            "id": [r["id"] for r in rows],
            "question": [r["question"] for r in rows],
            "reference": [r["reference"] for r in rows],
            "answer": [r["correct"] if i % 2 == 0 else r["unrelated"] for i, r in enumerate(rows)],
            "trial": ["t1"] * n,
        }
    )
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_json(path, orient="records", lines=True)
    return frame


@pytest.mark.parametrize(("source", "target"), [(".csv", ".parquet"), (".jsonl", ".csv"), (".parquet", ".jsonl")])
def test_scores_every_row_and_reports_usage(tmp_path, capsys, source, target):
    frame = write_input(tmp_path / f"in{source}")
    out = tmp_path / f"out{target}"
    args = [
        "--input",
        str(tmp_path / f"in{source}"),
        "--output",
        str(out),
        "--cache-dir",
        str(tmp_path / "c"),
    ]
    assert score.main(args) == 0
    first = capsys.readouterr().out
    assert "calls 4, cache hits 0" in first
    judged = {".csv": pd.read_csv, ".parquet": pd.read_parquet}.get(target, lambda p: pd.read_json(p, lines=True))(out)
    assert list(judged["id"]) == list(frame["id"]) and list(judged["trial"]) == ["t1"] * 4
    for column in ("judge_score", "judge_relevance", "judge_grammar", "judge_structure", "judge_style"):
        assert judged[column].between(1, 5).all()
    assert "judge_score__local/reference-judge" in judged.columns
    assert judged.loc[0, "judge_score"] > judged.loc[1, "judge_score"]  # correct beats unrelated

    assert score.main(args) == 0
    assert "calls 0, cache hits 4" in capsys.readouterr().out


def test_custom_rubric_file(tmp_path, capsys):
    write_input(tmp_path / "in.csv", n=2)
    rubric = tmp_path / "rubric.yaml"
    rubric.write_text("version: relevance-only\nweights: {relevance: 1.0}\n")
    out = tmp_path / "out.csv"
    score.main(["--input", str(tmp_path / "in.csv"), "--output", str(out), "--rubric", str(rubric)])
    judged = pd.read_csv(out)
    assert "judge_grammar" not in judged.columns
    assert list(judged["judge_score"]) == list(judged["judge_relevance"])


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("question,reference\nq,r\n", "answer: required column missing"),
        ("question,reference,answer\nq,r,\n", "answer: empty value in row 1"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, content, expected):
    path = tmp_path / "in.csv"
    path.write_text(content)
    with pytest.raises(SystemExit) as exit_info:
        score.main(["--input", str(path), "--output", str(tmp_path / "out.csv")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and expected in err and str(path) in err
    assert not (tmp_path / "out.csv").exists()


def test_bad_rubric_and_unknown_judge_exit_2(tmp_path, capsys):
    write_input(tmp_path / "in.csv", n=1)
    rubric = tmp_path / "r.yaml"
    rubric.write_text("weights: {relevance: 0.5}\n")
    base = ["--input", str(tmp_path / "in.csv"), "--output", str(tmp_path / "o.csv")]
    for extra, expected in [
        (["--rubric", str(rubric)], "sum to 1"),
        (["--panel", "nonexistent-judge"], "unknown model"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            score.main(base + extra)
        assert exit_info.value.code == 2
        assert expected in capsys.readouterr().err


@pytest.mark.e2e
def test_runs_as_a_module(tmp_path):
    write_input(tmp_path / "in.jsonl", n=1)
    env = {
        "PATH": "/usr/bin:/bin",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "HF_HUB_OFFLINE": "1",
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "judging.score",
            "--input",
            str(tmp_path / "in.jsonl"),
            "--output",
            str(tmp_path / "missing-dir" / "out.parquet"),
            "--cache-dir",
            str(tmp_path / "c"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "judged 1 items" in done.stdout
    assert len(pd.read_parquet(tmp_path / "missing-dir" / "out.parquet")) == 1
