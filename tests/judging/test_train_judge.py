"""The correctness head's training rows (judging.train_judge): built from the glossary alone, with wrong answers
that are no near-copy of the reference, and right answers whose steps keep their order."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from corpus.glossary import load_glossary
from judging import detail_checks as dc
from judging import edits
from judging import train_judge as tj

FACT_KINDS = {f"wrong_{kind}" for kind in tj._FACT_BUILDERS}


def _rows() -> list[dict]:
    glossary = load_glossary(Path(str(resources.files("corpus").joinpath("glossary", "telecom.yaml"))))
    return tj.build_rows(glossary, seed=0, n_scenarios=12)


def test_wrong_details_are_written_on_reworded_answers_too():
    rows = _rows()
    wrong = [r for r in rows if r["kind"] in FACT_KINDS]
    reworded = [r for r in wrong if edits.near_copy_edits(r["reference"], r["answer"]) is None]
    near_copies = [r for r in wrong if edits.near_copy_edits(r["reference"], r["answer"]) is not None]
    assert reworded and near_copies, (len(reworded), len(near_copies))
    # Three bases per scenario: the reference, another template answer and the reworded reference.
    assert len(wrong) > 2 * len({r["reference"] for r in rows})


def test_right_answers_keep_the_steps_in_order():
    """The reworded reference moves two sentences that hold no step; the term's own check is a step too."""
    correct = [r for r in _rows() if r["kind"] == "correct"]
    assert correct
    assert all(dc.reversed_steps(r["answer"], r["reference"]) == 0 for r in correct)
