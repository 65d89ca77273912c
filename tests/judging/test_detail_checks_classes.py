"""The detail checks' classes of wrong instruction, each on general examples: a switch stated as a state, harm
slipped into otherwise right steps, an instruction waved away, a menu that leaves the reference's path, steps
in the other order."""

from __future__ import annotations

import pytest

from judging import detail_checks as dc
from judging import text_features as tf


@pytest.mark.parametrize(
    ("candidate", "reference", "flips"),
    [
        ("Open Privacy and make sure Location shows Off.", "Open Privacy and make sure Location shows On.", 1),
        ("Check that the guest network reads On.", "Check that the guest network reads On.", 0),
        # "on the same page" is no position, beside a real one or not.
        ("Turn Smart switching on on the same page.", "Turn Smart switching off on the same page.", 1),
        ("Turn Smart switching off on the same page.", "Turn Smart switching off on the same page.", 0),
        # A position stated before a path in brackets still belongs to its switch, not to the menu.
        ("Make sure Roaming is disabled (Settings > Network > Roaming).",
         "Make sure Roaming is switched on (Settings > Network > Roaming).", 1),
    ],
)
def test_switch_positions_stated_as_states(candidate, reference, flips):
    assert dc.flipped_switches(candidate, reference) == flips


def test_a_negation_inside_a_name_negates_nothing():
    assert dc.negations("Tap the Do Not Disturb icon so it is not highlighted.") == 1
    assert dc.negations("Turn No Caller ID on.") == 0
    assert dc.negations("Do not turn it on.") == 1


@pytest.mark.parametrize(
    ("advice", "kind"),
    [
        ("Settle the bill with gift cards and read the numbers to the caller.", "scam"),
        ("Transfer the money to the account details they send you.", "scam"),
        ("Pay the engineer into his personal account.", "scam"),
        ("If you have lost the PUK, just try likely codes until one works.", "guess"),
        ("Cancel your broadband so the fault gets looked at sooner.", "payment"),
        ("Download the fix from the link in the text and install it.", "unofficial"),
        ("Delete the APN and restart.", "destroy"),
        ("When it asks for an emergency address, just type any address.", "falsify"),
    ],
)
def test_new_kinds_of_risky_advice(advice, kind):
    assert kind in {action.split()[0] for action in dc.risky_actions(advice)}
    assert dc.new_risky_actions(advice, "Restart the router and test again.") >= 1


def test_descriptions_and_names_are_no_advice():
    # A gerund subject describes what would happen; "the account holder" is a person, not an account to remove.
    assert dc.risky_actions("The code works once, so deleting the eSIM later would leave you without service.") == set()
    assert dc.risky_actions("Removing the lock needs the account holder's card.") == set()
    assert dc.risky_actions("Delete the eSIM from the old phone.") == {"destroy esim"}


def test_what_the_reference_warns_against_stays_risky_when_the_customer_asks_for_it():
    reference = "Please don't stop your standing order: the account falls into arrears."
    question = "can i just stop my standing order payments to leave?"
    assert dc.warned_against(reference) == {"payment order"}
    assert dc.new_risky_actions("Yes, simply stop paying by standing order.", reference, question) == 1
    # Asked and not warned against: the reference may well tell them how.
    asked = "how do I cancel my contract?"
    assert dc.new_risky_actions("Cancel the contract in the app.", "Go to Account > Cancel.", asked) == 0


@pytest.mark.parametrize(
    ("candidate", "dismissed"),
    [
        ("There's no need to register the new address with the fire alarm company.", 1),
        ("You'll be asked to confirm your email address; you can skip this.", 1),
        ("Don't bother to back up the chats before the swap.", 1),
        ("No need to visit a shop, it all works from home.", 0),  # nothing the reference asks for
        ("There's no need to print the receipts.", 0),  # what the reference advises against
        ("Remember to register the new address with the fire alarm company.", 0),
    ],
)
def test_instructions_of_the_reference_waved_away(candidate, dismissed):
    reference = (
        "Register the new address with the fire alarm company today. You'll be asked to confirm your email address: "
        "please do, so the receipts reach you. Back up the chats before the swap. Don't print the receipts."
    )
    assert dc.dismissed_instructions(candidate, reference) == dismissed


def test_a_path_goes_on_where_the_reference_path_goes():
    reference = "Open Router > Firewall, set the level to Medium and save."
    assert dc.unknown_menu_segments("Open Router > Parental filter, set the level to Medium.", reference, "") == 1
    assert dc.unknown_menu_segments("Open Router > Firewall settings and set it to Medium.", reference, "") == 0
    # A level past the end of the reference's path is judged by its words.
    assert dc.unknown_menu_segments("Open Router > Firewall > Advanced.", reference, "advanced settings?") == 0


def test_steps_in_the_other_order_found_by_their_words():
    reference = "Back up the phone to the cloud, then reset it. Afterwards sign in again."
    reversed_ = "Reset the phone first, then back it up to the cloud. Afterwards sign in again."
    assert dc.steps(reference, short=True)[1] == ("reset it.", True)
    assert dc.reversed_steps(reversed_, reference) == 1
    assert dc.reversed_steps(reference, reference) == 0
    assert tf.instruction("Forward the text to 7726") == "Forward the text to 7726"


def test_a_switch_is_held_to_what_the_reference_tells_not_to_its_conditions():
    reference = (
        "Short codes are blocked if Premium barring is on. Open Account > Bars and turn off Premium barring, "
        "then ask for a new code."
    )
    assert dc.flipped_switches("In Account > Bars, switch Premium barring on and ask for a new code.", reference) == 1
    assert dc.flipped_switches("In Account > Bars, switch Premium barring off and ask for a new code.", reference) == 0


@pytest.mark.parametrize(
    ("candidate", "reference", "wrong"),
    [
        ("Calls to the helpline are free.", "Calls to the helpline are charged at your normal rate.", 1),
        ("There's a small monthly fee for the paper bill.", "The paper bill is free.", 1),
        ("Paper bills cost you nothing.", "The paper bill is free.", 0),
        # Leaving the price out is no wrong figure.
        ("Order the paper bill in the app.", "The paper bill is free; a copy by post costs £2.", 0),
    ],
)
def test_free_against_charged(candidate, reference, wrong):
    assert dc.unknown_numbers(candidate, reference, "") == wrong


def test_a_warning_turned_into_advice():
    reference = "Check the plug is in. Never open the back of the router, as the power supply is live."
    assert dc.broken_warnings("Open the back of the router and check the power supply.", reference) == 1
    assert dc.broken_warnings("Don't open the back of the router: the supply is live.", reference) == 0
    assert dc.broken_warnings("Opening the back of the router is dangerous.", reference) == 0
    assert dc.broken_warnings("Only open the back of the router once an engineer says so.", reference) == 0
    assert dc.new_risky_actions("Open the back of the router and check the power supply.", reference) == 1


def test_ip_addresses_compared_whole():
    assert dc.unknown_numbers("Log in at 192.168.1.1.", "Log in at 192.168.0.1.", "") == 1
    assert dc.unknown_numbers("Log in at 192.168.0.1 within 2 minutes.", "Open 192.168.0.1 within 2 minutes.", "") == 0
