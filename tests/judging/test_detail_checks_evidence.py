"""The correctness judge's checks ask for real evidence of a contradiction: a freely worded right answer (a
diagnosis stated before the fix, a switch named at another time, a figure for another object, a synonym of an
action, a contrast in other words) is no contradiction, while the same sentence turned round still is."""

from __future__ import annotations

import pytest

from judging import correctness, edits
from judging import detail_checks as dc


@pytest.mark.parametrize(
    ("candidate", "reference", "flips"),
    [
        # A diagnosis describes the fault; only the instruction is held to the reference's instruction.
        ("No data abroad usually means data roaming is disabled. Open Settings and enable data roaming.",
         "Open Settings and make sure data roaming is switched on.", 0),
        ("Open Settings and disable data roaming.", "Open Settings and make sure data roaming is switched on.", 1),
        # A switch named at another time ("before you switch it on") is no instruction to set it now.
        ("Wait for the confirmation text before you switch mobile data back on.",
         "Keep mobile data off until the confirmation text arrives.", 0),
        # What is done first ("after switching ... off") belongs to the instruction.
        ("Restart the phone after switching data roaming off.", "Turn on data roaming, then restart the phone.", 1),
        ("Make sure nothing is blocking UDP port 500.", "Check UDP port 500 isn't blocked.", 0),
        # A context that names another figure is another object.
        ("Port 587 is allowed on all lines.", "Port 25 is blocked on all lines.", 0),
        ("Port 25 is allowed on all lines.", "Port 25 is blocked on all lines.", 1),
        # "Make sure" names no switch: these two share none.
        ("Make sure Bluetooth shows Off.", "Block Bluetooth in settings. Make sure Wi-Fi calling is on.", 0),
        ("Toggle the hotspot off in My Account.", "In My Account, make sure the hotspot is switched on.", 1),
        # A yes or no after a few words of topic.
        ("On prepaid plans, no: unused data expires.", "Yes, on prepaid plans unused data rolls over.", 1),
        ("No need to call, the data rolls over.", "Yes, on prepaid plans unused data rolls over.", 0),
    ],
)
def test_switches_compared_only_where_they_say_the_same_kind_of_thing(candidate, reference, flips):
    assert dc.flipped_switches(candidate, reference) == flips


def test_on_before_a_determiner_is_a_place_unless_a_switch_verb_takes_it():
    assert dc.polar_mentions("Your PUK is printed on the card the SIM came in.", strict=False) == []
    assert [m.sign for m in dc.polar_mentions("Turn on the hotspot.", strict=False)] == [1]


@pytest.mark.parametrize(
    "text",
    [
        "Your old network texts back a PAC code within a minute.",  # a third person sends it, not the customer
        "Change the passwords for your email and bank, because one-time codes may have been seen.",
        "We won't ever ask you to pay or give bank details for it.",  # denied earlier in the clause
        "Take the SIM out, then remove the SIM tray and put it back.",  # no data destroyed
    ],
)
def test_what_is_no_risky_advice(text):
    assert dc.risky_actions(text) == set()


def test_risky_advice_still_found():
    assert dc.risky_actions("Text your PIN to the caller.") == {"disclose pin"}
    assert dc.risky_actions("Remove the eSIM profile from the phone.") == {"destroy esim"}
    # Stopping what the reference itself suspends is the same step in other words.
    assert dc.new_risky_actions("Ring us and we will stop the line at once.", "Call us to suspend your line.") == 0
    assert dc.new_risky_actions("Ring us and we will stop the line at once.", "Call us to report the loss.") == 1


@pytest.mark.parametrize(
    ("candidate", "dismissed"),
    [
        ("No need to call us for this.", 0),  # one verb shared is no action of the reference
        ("Add the day pass before you fly. Skip it and data costs $3 per MB.", 0),  # "it" is the pass, not the cost
        ("Add the day pass before you fly; you can skip this.", 1),
        ("There's no need to enter the temporary password.", 1),
    ],
)
def test_dismissals_need_the_references_action(candidate, dismissed):
    reference = (
        "Add the day pass before you leave; without it data costs $3 per MB. Call voicemail and enter the temporary "
        "password."
    )
    assert dc.dismissed_instructions(candidate, reference) == dismissed


@pytest.mark.parametrize(
    ("candidate", "reference", "flips"),
    [
        ("Set the connection type to Automatic (DHCP), not PPPoE.",
         "The connection type should be Automatic (DHCP) rather than PPPoE.", 0),
        ("Check that the usage alert is not switched on.", "Make sure the usage alert is switched off.", 0),
        ("If the light is red or not lit, the fault is on the network side.",
         "If the light is off or red, the fault is on the network side.", 0),
        ("Never share the code with the caller.", "Share the code with the caller.", 1),
    ],
)
def test_negation_flips_negate_a_word_both_sentences_have(candidate, reference, flips):
    assert correctness.features("", reference, candidate)["negation_flips"] == flips


def _similarity(a: str, b: str) -> float:
    return correctness._similarity(a, b)


@pytest.mark.parametrize(
    ("reference", "candidate", "changed"),
    [
        # Two short stretches swapped within a sentence swap roles.
        ("Power cycle the fibre box first, wait 2 minutes, then power cycle the router.",
         "Power cycle the router first, wait 2 minutes, then power cycle the fibre box.", 2),
        ("Set the ring strategy to parallel rather than sequential in the portal.",
         "Set the ring strategy to sequential rather than parallel in the portal.", 1),
        # Opposites by their affixes.
        ("Test the line from the master socket with everything else unplugged from the other sockets in the house, "
         "then call us.", "Test the line from the master socket with everything else left plugged in to the other "
         "sockets in the house, then call us.", 1),
        ("First plug a corded phone into the master socket and listen.",
         "First plug a cordless phone into the master socket and listen.", 1),
        # A whole sentence moved is still no change.
        ("Restart the router. Then check the lights on the front. Call us if it stays red.",
         "Then check the lights on the front. Restart the router. Call us if it stays red.", 0),
    ],
)
def test_near_copy_edits_that_swap_roles_or_turn_a_word_round(reference, candidate, changed):
    assert edits.changed_details(reference, candidate, _similarity) == changed


@pytest.mark.parametrize(
    ("a", "b", "opposite"),
    [("blocked", "unblocked", True), ("active", "inactive", True), ("corded", "cordless", True),
     ("wired", "wireless", True), ("locked", "unlocked", True), ("plugged", "unplugged", True),
     ("router", "routers", False), ("less", "more", False)],
)  # fmt: skip
def test_affix_opposites(a, b, opposite):
    assert edits.affix_opposites(a, b) is opposite


def test_a_known_figure_under_another_label_is_a_wrong_figure():
    reference = "Dial 1571 and choose option 3, then option 2. Set a PIN of 4 to 6 digits."
    assert dc.unknown_numbers("Call 1571 and pick option 3, followed by option 4.", reference, "") == 1
    assert dc.unknown_numbers("Ring 1571, press 3 and then 2. Pick a PIN of four to six digits.", reference, "") == 0
    # A label names every figure of its list, in any order.
    assert dc.unknown_numbers("Open UDP ports 4500 and 500.", "Check UDP ports 500 and 4500 aren't blocked.", "") == 0
    assert dc.labelled_figures("Use channel 1, 6 or 11.") == {("channel", "1"), ("channel", "6"), ("channel", "11")}
    # A step number is layout, not a labelled figure.
    assert dc.labelled_figures("Step 2: choose option 3 on port 25.") == {("option", "3"), ("port", "25")}


def test_barred_is_a_switch_position_and_wiped_settings_are_destroyed():
    reference = "Premium-rate numbers stay barred unless you remove the premium bar separately."
    assert dc.flipped_switches("Premium-rate numbers are unblocked automatically.", reference) == 1
    assert dc.flipped_switches("Premium-rate numbers remain blocked.", reference) == 0
    assert dc.risky_actions("Hold the reset pin for 30 seconds to wipe its settings.") == {"destroy settings"}
    assert dc.risky_actions("Restore factory settings from the menu.") == {"destroy settings"}
    assert dc.risky_actions("Reset network settings and restart.") == set()


@pytest.mark.parametrize(
    ("candidate", "reference"),
    [
        ("Then turn off the spam filter in settings.", "Leave the spam filter ticked."),
        ("Set the guest network to Off.", "Set the guest network to On."),
        ("Make sure band steering is disconnected.", "Make sure band steering is connected."),
        ("Choose Deny for the auto top-up.", "Activate the auto top-up in the app."),
        ("Keep network selection on while you test.", "Make sure network selection is disconnected."),
    ],
)
def test_switch_wordings_read_on_both_sides(candidate, reference):
    """A phrasal "turn off the X", a position five words after its verb, connected/disconnected and "activate"
    as an instruction."""
    assert dc.flipped_switches(candidate, reference) == 1
    assert dc.flipped_switches(reference, reference) == 0
