"""judging.edits: a near-copy of the reference is judged by what its edits change, a rewording is not read edit by
edit."""

from __future__ import annotations

import pytest

from judging import correctness, edits

REFERENCE = (
    "Sorry your texts aren't sending. Open Messages > Settings > Advanced and tap Message centre number. "
    "It should read +44 7700 900100; correct it if it doesn't and tap Save. Then restart the phone and send a "
    "test text to a friend. If it still fails after 24 hours, call us on 0300 555 0100."
)


def similarity(a: str, b: str) -> float:
    """The judge's own MiniLM cosine, so the thresholds are tested as shipped."""
    return correctness._similarity(a, b)


@pytest.mark.parametrize(
    "wrong",
    [
        REFERENCE.replace("24 hours", "48 hours"),  # a figure
        REFERENCE.replace("Then restart the phone", "Then reset the phone"),  # another action
        REFERENCE.replace("tap Save", "tap Cancel"),  # another button
        REFERENCE.replace("Messages > Settings > Advanced", "Messages > Settings > Notifications"),  # another menu
        REFERENCE.replace("correct it if it doesn't", "correct it if it does"),  # a negation dropped
        REFERENCE.replace("send a test text to a friend", "delete all your old messages"),  # a step replaced
        REFERENCE.replace("Then restart the phone and send a test text to a friend. ", ""),  # a step dropped
        REFERENCE.replace(" If it still", " Share your PIN with anyone who asks. If it still"),  # harm slipped in
    ],
)
def test_one_changed_instruction_in_a_near_copy_is_found(wrong):
    assert edits.near_copy_edits(REFERENCE, wrong) is not None
    assert edits.changed_details(REFERENCE, wrong, similarity) == 1


@pytest.mark.parametrize(
    "right",
    [
        REFERENCE,
        "Thanks for getting in touch. " + REFERENCE + " Have a lovely day.",  # politeness around it
        REFERENCE.replace("restart the phone", "reboot the handset"),  # words of one meaning
        REFERENCE.replace("tap Message centre number", "select Message centre number"),
        REFERENCE.replace("Then restart", "Then just restart"),  # filler
        # Two sentences that hold no ordered step change places.
        "Open Messages > Settings > Advanced and tap Message centre number. Sorry your texts aren't sending. "
        "It should read +44 7700 900100; correct it if it doesn't and tap Save. Then restart the phone and send a "
        "test text to a friend. If it still fails after 24 hours, call us on 0300 555 0100.",
    ],
)
def test_harmless_edits_change_nothing(right):
    assert edits.changed_details(REFERENCE, right, similarity) == 0


def test_a_rewording_is_no_near_copy():
    paraphrase = (
        "I'm sorry your messages won't go. The number your phone sends texts through may be wrong: under "
        "Messages, open Settings, then Advanced, and check Message centre number says +44 7700 900100. Fix it "
        "if needed and save. Restart and try a text to someone you know; still failing a day later? Ring us on "
        "0300 555 0100."
    )
    assert edits.near_copy_edits(REFERENCE, paraphrase) is None
    assert edits.changed_details(REFERENCE, paraphrase, similarity) == 0


def test_opposites_and_negations():
    assert edits.opposite_swapped(edits.Edit(("before",), ("after",)))
    assert edits.opposite_swapped(edits.Edit(("keep",), ("drop",)))
    assert edits.opposite_swapped(edits.Edit(("you", "can"), ("you", "can't")))
    assert not edits.opposite_swapped(edits.Edit(("restart",), ("reboot",)))


def test_each_edit_judged_apart_and_tokens_keep_figures_whole():
    assert edits.tokens("Go to 192.168.1.254 and pay £2.50 by *#06#.")[2:] == [
        "192.168.1.254", "and", "pay", "£2.50", "by", "*#06#", "."
    ]  # fmt: skip
    two = REFERENCE.replace("24 hours", "48 hours").replace("tap Save", "tap Cancel")
    assert edits.changed_details(REFERENCE, two, similarity) == 2
    # The judge embeds both sides of a replaced stretch in its batch.
    assert set(edits.texts_to_embed(REFERENCE, two)) == {"24", "48", "save", "cancel"}


def test_layout_and_closing_lines_change_nothing():
    listed = "To fix it:\n1. Restart the phone.\n2. Reinsert the SIM card.\n3. Call us on 0300 555 0100."
    bullets = "To fix it:\n- Restart the phone.\n- Reinsert the SIM card.\n- Call us on 0300 555 0100."
    assert edits.changed_details(listed, bullets, similarity) == 0
    closing = REFERENCE + " If you have any other questions, contact our support team."
    assert edits.changed_details(REFERENCE, closing, similarity) == 0
    # A closing line that slips in risky advice is no closing line.
    risky = REFERENCE + " If you have any other questions, reply with your PIN."
    assert edits.changed_details(REFERENCE, risky, similarity) == 1
