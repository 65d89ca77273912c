"""The ratings database on its own: concurrent raters, restart, hashed secrets, idempotent submits."""

from __future__ import annotations

import multiprocessing
import sqlite3

import pytest

from common.errors import InputError
from judging.human.store import CRITERIA, RatingStore

SCORES = dict.fromkeys(CRITERIA, 4)


def _filled(url: str, questions: int = 6) -> RatingStore:
    store = RatingStore(url)
    for i in range(questions):
        answers = {m: (f"run-{m}", f"answer {i} from {m} <b>bold</b>") for m in ("base", "knee", "trial-a")}
        assert store.add_question("s", "judge-set", f"item-{i}", f"question {i}?", answers)
    return store


def _rate_all(url: str, token: str) -> int:
    store = RatingStore(url)
    rater_id, _ = store.rater_of_session(store.sign_in(token))
    saved = 0
    while (found := store.next_question("s", rater_id)) is not None:
        question, answers = found
        saved += store.save_ratings(rater_id, question.id, {a.public_id: SCORES for a in answers})
    return saved


def test_two_raters_in_two_processes_at_once_lose_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    store = _filled(url)
    tokens = [store.add_rater("ann"), store.add_rater("ben")]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        saved = pool.starmap(_rate_all, [(url, t) for t in tokens])
    assert saved == [18, 18]
    frame = RatingStore(url).ratings_frame("s")  # a fresh connection: what a restarted server reads
    assert len(frame) == 36 and frame.groupby("rater").size().to_dict() == {"ann": 18, "ben": 18}
    assert set(frame["model"]) == {"base", "knee", "trial-a"}
    assert frame["answer"].str.endswith("<b>bold</b>").all()  # the exact text, unescaped in the database
    assert (frame["overall"] == 4.0).all() and frame["rated_at"].notna().all()


def test_a_double_submit_keeps_the_first_and_partial_ratings_are_refused(tmp_path):
    store = _filled(f"sqlite:///{tmp_path / 'r.db'}", questions=1)
    rater_id, _ = store.rater_of_session(store.sign_in(store.add_rater("ann")))
    question, answers = store.next_question("s", rater_id)
    with pytest.raises(ValueError):
        store.save_ratings(rater_id, question.id, {answers[0].public_id: SCORES})
    first = {a.public_id: dict.fromkeys(CRITERIA, 2) for a in answers}
    assert store.save_ratings(rater_id, question.id, first) == 3
    assert store.save_ratings(rater_id, question.id, {a.public_id: SCORES for a in answers}) == 0
    assert (store.ratings_frame()["relevance"] == 2).all()
    assert store.next_question("s", rater_id) is None and store.progress("s", rater_id) == (1, 1)


def test_tokens_and_sessions_are_stored_only_as_digests(tmp_path):
    path = tmp_path / "r.db"
    store = RatingStore(f"sqlite:///{path}")
    token = store.add_rater("ann")
    session = store.sign_in(token)
    assert store.sign_in("wrong") is None and store.rater_of_session("wrong") is None
    with sqlite3.connect(path) as db:
        dump = "\n".join(db.iterdump())
    assert token not in dump and session not in dump
    store.deactivate_rater("ann")
    assert store.rater_of_session(session) is None and store.sign_in(token) is None


def test_bad_database_urls_and_duplicate_raters_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="--ratings-db"):
        RatingStore("not a url")
    store = RatingStore(f"sqlite:///{tmp_path / 'r.db'}")
    store.add_rater("ann")
    with pytest.raises(InputError, match="exists already"):
        store.add_rater("ann")
