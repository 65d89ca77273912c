"""`local/correctness-judge` end to end, one answer per class of wrong instruction the issue names (a setting
turned the other way, another menu, another figure, advice that harms the customer, a step replaced, dropped or
reversed), each against a reworded right answer of the same facts: the right one must win by a clear margin."""

from __future__ import annotations

import pytest

from judging import correctness
from judging.panel import JudgeItem, Panel

QUESTION = "my partner's new phone won't join our home wifi, it says incorrect password but it's right??"
REFERENCE = (
    "Some older phones can't join a network that uses WPA3 only. Log in to the hub at 192.168.0.1 with the admin "
    "password on its base, go to Wireless > Security and set the security mode to WPA2/WPA3 mixed. Click Apply and "
    "wait 2 minutes for the hub to restart, then forget the network on the phone and join it again. Leave WPS "
    "switched off, and never share the admin password with anyone who calls about your Wi-Fi."
)
PARAPHRASE = (
    "This usually happens when the hub only allows WPA3, which some older handsets can't use. Open 192.168.0.1 in "
    "a browser and sign in with the admin password printed underneath the hub. Under Wireless > Security, change "
    "the security mode to WPA2/WPA3 mixed and press Apply; the hub reboots, which takes about 2 minutes. After "
    "that, remove the saved network from the phone and connect again. Keep WPS off, and don't give the admin "
    "password to anyone who rings you about the Wi-Fi."
)
WRONG = {
    "switch": REFERENCE.replace("Leave WPS switched off", "Leave WPS switched on"),
    "menu": REFERENCE.replace("Wireless > Security", "Wireless > Guest network"),
    "number": REFERENCE.replace("192.168.0.1", "192.168.1.1"),
    "harmful_added": REFERENCE.replace(
        "Click Apply", "If it still fails, turn the firewall off for good. Click Apply"
    ),
    "harmful_reversed": REFERENCE.replace("never share the admin password", "share the admin password"),
    "step_replaced": REFERENCE.replace("forget the network on the phone", "factory reset the phone"),
    "step_dropped": REFERENCE.replace(", then forget the network on the phone and join it again", ""),
    "opposite": REFERENCE.replace("WPA3 only", "WPA2 only").replace("mixed", "only"),
    "waved_away": REFERENCE.replace(
        "Leave WPS switched off", "There's no need to forget the network on the phone. Leave WPS switched off"
    ),
}


# Half a point on the 1-5 scale: the goal is a mean gap of 1.0 over a holdout; an answer whose one
# wrong instruction only the near-copy edits see measured about 0.8 below the paraphrase here, one that a
# figure, menu, switch or risky-advice check sees too, 2 or more.
MARGIN = 0.5


@pytest.fixture(scope="module")
def scores() -> dict[str, float]:
    answers = {"paraphrase": PARAPHRASE, "reference": REFERENCE, **WRONG}
    items = [JudgeItem(kind, QUESTION, REFERENCE, text) for kind, text in answers.items()]
    result = Panel([correctness.MODEL]).score(items)
    return dict(zip(result.items["id"], result.items["judge_score"].astype(float), strict=True))


def test_right_answers_score_high(scores):
    assert scores["reference"] >= 4.0 and scores["paraphrase"] >= 4.0, scores


@pytest.mark.parametrize("kind", sorted(WRONG))
def test_one_wrong_instruction_loses_to_the_reworded_right_answer(scores, kind):
    assert scores["paraphrase"] - scores[kind] >= MARGIN, scores
