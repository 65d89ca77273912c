"""Property-based bad input for every CLI: Hypothesis writes malformed configs and tables (wrong types, text where
a number belongs, NaN, values out of range, unknown keys, empty and header-only files, bytes that are not UTF-8,
huge fields) and each must end as one `error:` line naming the file or option, exit code 2, no traceback.

The CLIs run in-process (`main(argv)`, SystemExit caught, stderr captured) so hundreds of examples take seconds;
tests/search/test_bad_input.py runs the same kind of cases as subprocesses. What would run after validation (the
search, the report, the judges) is replaced by a function that fails the test, so an input that slipped through
is a failure here, never a search started by the test.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import math
import os
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from experiment.config import load_config

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def run_main(module: str, argv: list[str]) -> tuple[int, str]:
    """`python -m module argv` in this process: (exit code, stderr)."""
    main = importlib.import_module(module).main
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            main(argv)
        except SystemExit as stop:
            return int(stop.code or 0), err.getvalue()
    return 0, err.getvalue()


def assert_refused(code: int, stderr: str, *needles: str) -> str:
    assert code == 2, stderr
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture
def nothing_runs(monkeypatch):
    """Past validation, each CLI would start real work: make that a test failure instead."""

    def started(*args, **kwargs):
        raise AssertionError("bad input passed validation and work started")

    monkeypatch.setattr("search.run._search", started)
    monkeypatch.setattr("reports.build.write_report", started)
    monkeypatch.setattr("judging.score.Panel", started)


@contextlib.contextmanager
def workdir():
    """A fresh working directory for one example (search.run creates its output folders in the working one)."""
    previous = Path.cwd()
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        try:
            yield Path(folder)
        finally:
            os.chdir(previous)


def _not_a_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return text.strip().lower() not in ("true", "false", "yes", "no", "on", "off", "null", "~", "")
    return False


# Values that no int / float setting of the config accepts.
WORDS = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40).filter(
    _not_a_number
)
NOT_A_NUMBER = st.one_of(
    WORDS,
    st.just(math.nan),
    st.lists(st.integers(), min_size=1, max_size=3),
    st.dictionaries(st.sampled_from(["a", "b"]), st.integers(), min_size=1),
    st.text(min_size=5000, max_size=6000, alphabet="x9"),
)
# Integer settings that must be >= 1, and floats that must be > 0, each with its section.
POSITIVE_INTS = ["search.num_samples", "search.max_concurrent_trials", "training.rank", "training.epochs",
                 "training.batch_size", "corpus.max_scenarios", "training.max_new_tokens"]  # fmt: skip
POSITIVE_FLOATS = ["search.cpus_per_trial", "training.learning_rate", "energy.watts_per_core"]


def _config_file(folder: Path, dotted: str, value) -> Path:
    data = yaml.safe_load((Path(__file__).resolve().parents[2] / "configs" / "tiny.yaml").read_text())
    node = data
    *parents, leaf = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


@FAST
@given(field=st.sampled_from(POSITIVE_INTS + POSITIVE_FLOATS), value=NOT_A_NUMBER)
def test_config_with_a_wrong_type_is_one_line(nothing_runs, field, value):
    with workdir() as folder:
        config = _config_file(folder, field, value)
        code, stderr = run_main("search.run", ["--config", str(config)])
    assert_refused(code, stderr, str(config), field)


@FAST
@given(field=st.sampled_from(POSITIVE_INTS), value=st.integers(max_value=0))
def test_config_with_a_number_out_of_range_is_one_line(nothing_runs, field, value):
    with workdir():
        code, stderr = run_main("search.run", ["--preset", "tiny", "--set", f"{field}={value}"])
    assert_refused(code, stderr, f"--set {field}={value}", field, str(value))


@FAST
@given(
    section=st.sampled_from(["search", "training", "corpus", "judging", "model", "tracking", "energy"]),
    key=st.from_regex(r"\A[a-z][a-z_]{2,20}\Z").filter(lambda k: not k.endswith("_")),
)
def test_unknown_key_is_one_line(nothing_runs, section, key):
    known = load_config("tiny").model_dump()[section]
    if key in known:
        return
    with workdir():
        code, stderr = run_main("search.run", ["--preset", "tiny", "--set", f"{section}.{key}=1"])
    assert_refused(code, stderr, f"{section}.{key}", "unknown key")


@FAST
@given(
    metric=st.sampled_from(["judge_score", "energy_wh"]),
    value=st.one_of(st.floats(allow_nan=False, allow_infinity=False, width=32), st.just(math.nan)),
)
def test_reference_point_outside_what_a_trial_can_reach_is_refused(nothing_runs, metric, value):
    inside = 1.0 <= value < 5.0 if metric == "judge_score" else value > 0
    if inside:
        return
    with workdir():
        override = f"search.reference_point.{metric}={value!r}"
        code, stderr = run_main("search.run", ["--preset", "tiny", "--set", override])
    assert_refused(code, stderr, f"search.reference_point.{metric}")


@FAST
@given(data=st.binary(min_size=1, max_size=300))
def test_config_file_of_arbitrary_bytes_is_one_line_or_valid(nothing_runs, data):
    """Random bytes: unreadable YAML, a scalar, a list, or (rarely) an empty mapping that is a valid config."""
    with workdir() as folder:
        path = folder / "bytes.yaml"
        path.write_bytes(data)
        try:
            code, stderr = run_main("search.run", ["--config", str(path)])
        except AssertionError as started:  # a valid (empty) config reached the search
            assert "work started" in str(started)
            return
    assert_refused(code, stderr, str(path))


# --- tables: reports.build --csv, judging.score --input, corpus.import --qa ----------------------------------

HUGE = st.builds(lambda size, char: char * size, st.integers(10_001, 50_000), st.sampled_from("x7é"))
HEADER = "trial_id,judge_score,energy_wh,val_loss,status"
GOOD_ROW = ["t1", "3.5", "0.02", "1.2", "FINISHED"]


def _csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


@FAST
@given(
    column=st.sampled_from([1, 2, 3]),
    bad=st.one_of(
        WORDS, st.sampled_from(["9", "0.5", "-1", "-0.01", "inf"]), HUGE
    ),
    rows=st.integers(min_value=1, max_value=5),
    at=st.integers(min_value=0, max_value=4),
)
def test_report_csv_with_a_bad_cell_names_file_column_and_row(nothing_runs, column, bad, rows, at):
    name = HEADER.split(",")[column]
    if name == "energy_wh" and bad in ("9", "0.5"):  # legitimate energies
        return
    if name == "val_loss" and bad in ("9", "0.5"):  # legitimate (if poor) losses
        return
    at = at % rows
    lines = [HEADER]
    for index in range(rows):
        cells = [f"t{index}", *GOOD_ROW[1:]]
        if index == at:
            cells[column] = bad
        lines.append(",".join(_csv_cell(c) for c in cells))
    with workdir() as folder:
        path = folder / "results.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        code, stderr = run_main("reports.build", ["--csv", str(path), "--out-dir", str(folder / "out")])
    line = assert_refused(code, stderr, str(path))
    assert f"row {at + 2}" in line and (name in line), line


@FAST
@given(
    content=st.one_of(
        st.just(b""),
        st.just((HEADER + "\n").encode()),
        st.binary(min_size=2, max_size=200).filter(lambda b: _invalid_utf8(b)),
        st.builds(lambda junk: (HEADER + "\n").encode() + junk + b",3,0.1,1,FINISHED\n", st.just(b"\xff\xfe\xfa")),
    )
)
def test_report_csv_empty_header_only_or_not_utf8_is_one_line(nothing_runs, content):
    with workdir() as folder:
        path = folder / "results.csv"
        path.write_bytes(content)
        code, stderr = run_main("reports.build", ["--csv", str(path), "--out-dir", str(folder / "out")])
    assert_refused(code, stderr, str(path))


def _invalid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


JUDGE_COLUMNS = ("question", "reference", "answer")


@FAST
@given(
    suffix=st.sampled_from([".csv", ".jsonl"]),
    drop=st.sampled_from(JUDGE_COLUMNS),
    blank=st.booleans(),
    rows=st.integers(min_value=0, max_value=4),
)
def test_judge_table_missing_a_column_blank_or_empty_is_one_line(nothing_runs, suffix, drop, blank, rows):
    records = [{c: f"{c} {i}" for c in JUDGE_COLUMNS} for i in range(rows)]
    for record in records:
        if blank:
            record[drop] = "  "
        else:
            record.pop(drop)
    with workdir() as folder:
        path = folder / f"answers{suffix}"
        if suffix == ".csv":
            columns = [c for c in JUDGE_COLUMNS if blank or c != drop]
            lines = [",".join(columns)] + [",".join(_csv_cell(r.get(c, "")) for c in columns) for r in records]
            path.write_text("\n".join(lines) + "\n")
        else:
            path.write_text("".join(json.dumps(r) + "\n" for r in records))
        code, stderr = run_main("judging.score", ["--input", str(path), "--output", str(folder / "out.csv")])
    line = assert_refused(code, stderr, str(path))
    if rows and blank:
        assert drop in line and "row" in line, line


@FAST
@given(data=st.binary(min_size=1, max_size=200))
def test_judge_table_of_arbitrary_bytes_is_one_line(nothing_runs, data):
    with workdir() as folder:
        path = folder / "answers.csv"
        path.write_bytes(data)
        code, stderr = run_main("judging.score", ["--input", str(path), "--output", str(folder / "out.csv")])
    assert_refused(code, stderr, str(path))


@settings(max_examples=40, deadline=None)
@given(
    content=st.one_of(
        st.just(""),
        st.just("question,answer\n"),
        st.just("question;answer\n"),
        st.builds(lambda w: f"title,{w}\nx,y\n", st.from_regex(r"\A[a-z]{3,10}\Z").filter(lambda w: w != "answer")),
        st.builds(lambda line: '{"question": "Q?", "answer": "A."}\n' + line + "\n", WORDS),
    ),
    suffix=st.sampled_from([".csv", ".jsonl"]),
)
def test_corpus_import_of_a_malformed_table_is_one_line(content, suffix):
    if suffix == ".csv" and content.startswith("{"):
        suffix = ".jsonl"
    with workdir() as folder:
        path = folder / f"tickets{suffix}"
        path.write_text(content, encoding="utf-8")
        code, stderr = run_main("corpus.import", ["--qa", str(path), "--out", str(folder / "out")])
        assert not (folder / "out" / "manifest.json").exists()
    assert_refused(code, stderr, str(path))
