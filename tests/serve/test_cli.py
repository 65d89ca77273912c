"""The serving CLIs' inputs: new questions from a CSV answered by the served models, and bad input as one line
with exit code 2 before anything starts."""

from __future__ import annotations

import pytest

from judging.human.store import RatingStore
from tests.serve.conftest import SEARCH, run_cli

pytestmark = pytest.mark.e2e


def test_questions_from_a_csv_are_answered_by_the_chosen_models(search, tmp_path):
    csv = tmp_path / "new.csv"
    csv.write_text('question\n"My bill doubled, why?"\n"How do I unlock my phone, <b>today</b>?"\n')
    db = f"sqlite:///{tmp_path / 'csv.db'}"
    args = ["--ratings-db", db, "--questions", str(csv), "--models", "base,knee", "--max-new-tokens", "8"]
    proc = run_cli(search.workdir, "-m", "serve.tasks", "--search", SEARCH, "--tracking-uri", search.uri, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 questions added" in proc.stdout
    store = RatingStore(db)
    rater_id, _ = store.rater_of_session(store.sign_in(store.add_rater("ann")))
    question, answers = store.next_question(SEARCH, rater_id)
    assert question.text == "My bill doubled, why?" and question.source == "csv"
    assert sorted(a.model for a in answers) == ["base", "knee"] and all(isinstance(a.text, str) for a in answers)
    assert store.progress(SEARCH, rater_id) == (0, 2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["-m", "serve", "--search", SEARCH, "--api-key-env", "NO_SUCH_VAR"],
            "error: --api-key-env: environment variable 'NO_SUCH_VAR' must hold a key of 16+ characters",
        ),
        (["-m", "serve", "--search", "no-such-search"], "error: --search: no search named 'no-such-search'"),
        (["-m", "serve", "--search", SEARCH, "--models", "base,trial-nope"], "error: --models: 'trial-nope'"),
        (["-m", "serve.tasks", "--search", SEARCH, "--limit", "0"], "error: --limit: 0 is not a positive count"),
        (["-m", "serve.tasks", "--search", SEARCH, "--models", "base"], "error: --models: rate 2-3 models"),
        (["-m", "serve.tasks", "--search", SEARCH, "--questions", "missing.csv"], "missing.csv: file not found"),
        (["-m", "serve.raters", "add", "<script>"], "error: NAME: '<script>' is not a rater name"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(search, tmp_path, args, message):
    where = ["--tracking-uri", search.uri] if args[1] != "serve.raters" else []
    proc = run_cli(search.workdir, *args, *where, "--ratings-db", f"sqlite:///{tmp_path / 'r.db'}", timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0]
    assert "Traceback" not in proc.stderr
