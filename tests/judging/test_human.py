"""Human 1-5 ratings: import with validation, and judge-human agreement by the shared statistics."""

from __future__ import annotations

import pytest

from common.errors import InputError
from judging import offline
from judging.human import human_agreement, load_ratings
from judging.panel import JudgeItem, Panel
from tests.helpers import FIXTURES

FIXTURES = FIXTURES / "judging"
REFERENCES = {
    "How do I activate my new SIM card?": "Insert the new SIM into your phone and switch it on. Activation "
    "normally completes within two hours; you can also activate it immediately with the code in the app.",
    "Why is my bill higher than usual this month?": "A higher bill usually comes from charges outside "
    "your plan, such as roaming or extra data. Look at the itemised usage in your account; "
    "we can review it with you.",
    "How do I set up voicemail on my phone?": "Call 121 from your mobile and follow the spoken "
    "instructions to record your greeting and choose a PIN.",
}


def test_load_ratings():
    ratings = load_ratings(FIXTURES / "human_ratings.csv")
    assert list(ratings.columns) == ["question", "answer", "rating", "rater"]
    assert ratings["rating"].between(1, 5).all() and len(ratings) == 9


@pytest.mark.parametrize("bad", ["6", "three", "2.5"])
def test_bad_rating_is_one_line_naming_file_and_field(tmp_path, bad):
    path = tmp_path / "ratings.csv"
    path.write_text(f"question,answer,rating,rater\nq,a,4,m\nq2,a2,{bad},m\n")
    with pytest.raises(InputError) as err:
        load_ratings(path)
    message = str(err.value)
    assert str(path) in message and "rating" in message and bad in message and "row 2" in message


def test_missing_column(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("question,answer,score\nq,a,4\n")
    with pytest.raises(InputError, match="rating"):
        load_ratings(path)


def test_offline_judge_agrees_with_the_manager():
    ratings = load_ratings(FIXTURES / "human_ratings.csv")
    unique = ratings.drop_duplicates(["question", "answer"])
    items = [
        JudgeItem(str(i), q, REFERENCES[q], a)
        for i, (q, a) in enumerate(zip(unique.question, unique.answer, strict=True))
    ]
    judged = Panel([offline.MODEL]).score(items).items
    report = human_agreement(ratings, judged)
    panel_vs_human = report["judge_score"]
    assert panel_vs_human["n_items"] == 8.0  # the supervisor's duplicate rating is averaged in, not a new item
    assert panel_vs_human["spearman"] > 0.6
    assert set(report) == {"judge_score", f"judge_score__{offline.MODEL}"}
