"""The detail checks on freely worded answers: figures in words and other units, figures added beside the
reference's, prices stated around "free", labels after a figure, risky verbs whose subject is someone else, switch
positions given as ticks, values and colours, setting names that hold a switch word, menus walked in words."""

from __future__ import annotations

import pytest

from judging import detail_checks as dc


@pytest.mark.parametrize(
    ("candidate", "reference", "unknown"),
    [
        # Units in words are the reference's figures.
        ("You get fifteen gigabytes a month, and ten dollars buys 5 GB more.", "15 GB a month; 5 GB more is $10.", 0),
        ("Hold the button for half a minute.", "Hold the button for 30 seconds.", 0),
        ("Hold the button for thirty seconds.", "Hold the button for 10 seconds.", 1),
        ("Each extra gigabyte costs five dollars.", "Extra data is $5 per GB.", 0),
        ("Each extra gigabyte costs eight dollars.", "Extra data is $5 per GB.", 1),
        # A figure added beside every figure of the reference replaces none of them ...
        ("Dial 999 in an emergency; the PIN has 4 digits.", "The PIN has 4 digits.", 0),
        ("It will ask for an address, used if you ever dial 999.", "It will ask for an emergency address.", 0),
        # ... one that takes a reference figure's place does, and so does one of a kind the reference never gives.
        ("The PIN has 6 digits.", "The PIN has 4 digits.", 1),
        ("Unused data keeps for 12 months.", "Unused data expires at the end of the next month.", 1),
        # Both say days of use are charged: one by the price, one by what is free.
        ("Days you don't use cost nothing; each day you do costs ten dollars.", "It charges $10 for each day used.", 0),
        ("Leaving is not free of charges: the fee is what's left of the plan.",
         "The rise doesn't let you leave penalty-free; the exit fee is the rest of the plan.", 0),
        ("The boost is a one-off with no repeat charge: 10 GB for $10.",
         "A 10 GB boost is $10 and won't be charged again.", 0),
        # Compound number words are one figure: "sixty-five" is 65, not a "five" beside a "sixty".
        ("Calls are sixty-five pence a minute; dispute within twenty-eight days.",
         "Calls cost 65p a minute. Dispute within 28 days.", 0),
        # A name added beside every name of the reference explains; one in the place of a name replaces it.
        ("Turn on VoLTE (voice over 4G); keep Network mode on 5G/3G auto.",
         "Turn on VoLTE; set Network mode to 5G/3G auto.", 0),
        ("Turn on VoLTE; set Network mode to 4G/3G auto.", "Turn on VoLTE; set Network mode to 5G/3G auto.", 1),
        # A free thing charged for in the sentence that says the same, whatever else the reference charges.
        ("Premium texts are charged at a higher rate. The router is not included in your plan.",
         "Premium texts are charged at a higher rate. The router is included in your plan at no extra cost.", 1),
        ("Premium texts cost more. The router comes with your plan, included free.",
         "Premium texts are charged at a higher rate. The router is included in your plan at no extra cost.", 0),
        # Times of day and prices in words are the reference's figures in any spelling.
        ("Open Monday to Friday, 8:30am until 6pm.", "Opening hours: Monday-Friday 08:30-18:00.", 0),
        ("Open Monday to Friday, 8:30am until 7pm.", "Opening hours: Monday-Friday 08:30-18:00.", 1),
        ("Roaming is two pounds twenty-five per day.", "Roaming costs £2.25 a day.", 0),
        ("Roaming is two pounds fifty per day.", "Roaming costs £2.25 a day.", 1),
        ("Enter the nineteen-digit SIM number.", "Enter the 19-digit SIM number.", 0),
        # "Nothing extra" is what "the same as a normal call" says; "free" is not.
        ("There's no extra charge: calls use your minutes.", "Calls over Wi-Fi cost the same as normal calls.", 0),
        ("Calls over Wi-Fi are free.", "Calls over Wi-Fi cost the same as normal calls.", 1),
        ("You won't be charged for anything after you report it.",
         "You're not liable for charges after you report it.", 0),
    ],
)
def test_figures_in_other_words(candidate, reference, unknown):
    assert dc.unknown_numbers(candidate, reference, "") == unknown


def test_a_figure_under_the_label_after_it():
    reference = "Ping every 10 seconds and fail over after 3 missed replies (about 30 seconds)."
    assert dc.unknown_numbers("Ping every 10 seconds and fail over after 30 missed replies.", reference, "") == 1
    assert dc.unknown_numbers("Ping every ten seconds; three missed replies trigger it.", reference, "") == 0
    # What counts tries is no label: "wrongly 10 times" is the reference's "10 wrong entries".
    assert dc.unknown_numbers("If it's entered wrongly 10 times the SIM is blocked.",
                              "10 wrong entries block the SIM.", "I got it wrong 3 times") == 0  # fmt: skip


@pytest.mark.parametrize(
    ("text", "risky"),
    [
        ("After the security checks we'll read the code out to you.", set()),
        ("Sign in and we will send a temporary PIN by text.", set()),
        ("Warn your bank so they can stop payments and security codes.", set()),
        ("Someone may have your bank's text codes now.", set()),
        ("To stop it, text STOP to the short code on your bill.", set()),
        ("Forward the bank's text codes to a friend while you travel.", {"disclose codes"}),
        ("It's worth opening the link and checking whether you are owed money.", {"unofficial link"}),
        ("Log in to the hub and set the firewall to Disabled.", {"unprotect firewall"}),
        ("Text your PIN to the caller.", {"disclose pin"}),
        ("The simplest way to avoid extra charges is to cancel your contract.", {"payment contract"}),
        ("Keep the admin login to yourself rather than giving them your password.", set()),
        ("Add staff as users instead of sharing your password.", set()),
        ("Send the word STOP to the short number on your bill.", set()),
        ("If you did open the link and typed in your bank details, call your bank.", set()),
        ("Open the link in the text and enter your details.", {"unofficial link"}),
        ("Choose Erase All Content and Settings to clear whatever blocks it.", {"destroy settings"}),
        ("Open Wireless > Security and set the security mode to None.", {"unprotect security"}),
        ("Download one of the free unlock apps from an unlocking website.", {"unofficial website"}),
        ("Text the SIM number together with your account password to our agent.", {"disclose password"}),
    ],
)
def test_risky_advice_is_the_customers_to_follow(text, risky):
    assert dc.risky_actions(text) == risky


def test_the_operator_stopping_a_line_is_still_a_stop():
    assert dc.new_risky_actions("Ring us and we will cancel the contract.", "Call us to report the loss.") == 1


@pytest.mark.parametrize(
    ("candidate", "reference", "flips"),
    [
        ("On the router, clear the tick next to SIP ALG and reboot.", "On the router, untick SIP ALG and reboot.", 0),
        ("On the router, put a tick next to SIP ALG and reboot.", "On the router, untick SIP ALG and reboot.", 1),
        ("Open Purchase PIN and set it to Never ask.", "Open Purchase PIN and set it to Always ask.", 1),
        ("Set the failover mode to Manual.", "Failover mode: Automatic.", 1),
        ("Keep the failover mode on Automatic.", "Failover mode: Automatic.", 0),
        ("In Settings > Mobile, make sure the Mobile Data switch is grey.",
         "In Settings > Mobile, make sure Mobile Data is turned on.", 1),
        ("In Settings > Mobile, check the Mobile Data toggle is green.",
         "In Settings > Mobile, make sure Mobile Data is turned on.", 0),
        # A switch word in a setting's name sets nothing.
        ("Tap the app and switch on Allow background data usage.",
         "Tap the app and turn off Allow background data usage.", 1),
        ("You'll see Allow Mobile Data Switching: keep that switch disabled.",
         "Make sure Allow Mobile Data Switching is turned off.", 0),
        ("Do Not Disturb should be disabled.", "Check that Do Not Disturb is off.", 0),
        # A pronoun's switch is the one the clause before names.
        ("Content Lock is set on new lines; check it and make sure it says Off.",
         "Content Lock is set on new lines; check it and make sure it says On.", 1),
        ("If Number Lock is on under Account > Security, turn it on first.",
         "If Number Lock is on under Account > Security, switch it off first.", 1),
        ("Switch on the bar called Block third-party charges.", "Turn on Block third-party charges.", 0),
        ("The moment the new SIM is live, the old one is cut off.",
         "Your old SIM stops working as soon as the new one is activated.", 0),
        ("Remove phone billing, then set Require authentication for purchases to Never.",
         "Remove phone billing and turn on Require authentication for purchases.", 1),
    ],
)
def test_switch_positions_in_other_words(candidate, reference, flips):
    assert dc.flipped_switches(candidate, reference) == flips


def test_menus_walked_in_words():
    assert dc.menu_paths("Open Settings, tap Mobile Service, then Mobile Data Options, and enable it.") == [
        ["Settings", "Mobile Service", "Mobile Data Options"]
    ]
    assert dc.menu_paths("In the app choose Account followed by Bars & blocks.") == [["Account", "Bars & blocks"]]
    # A path given with separators is read as one, not again in words.
    assert dc.menu_paths("Open the Phone app, tap More > Settings > Calls.") == [["More", "Settings", "Calls"]]
    reference = "On iPhone go to Settings > Mobile Service > Mobile Data Options and turn Data Roaming on."
    assert dc.unknown_menu_segments("Open Settings, tap Mobile Service, then Mobile Data Options.", reference, "") == 0
    assert dc.unknown_menu_segments("Open Settings, tap General, then VPN & Device Management.", reference, "") >= 1
    # A switch word in a menu named in words is no switch: "Bars & blocks" blocks nothing.
    assert dc.flipped_switches("Choose Account followed by Bars & blocks, and activate the premium bar.",
                               "Go to Account > Bars & blocks and turn on the premium bar.") == 0  # fmt: skip


def test_a_thing_of_the_reference_waved_away():
    reference = "Plug the extender in near the router. Press the WPS button on the router, then on the extender."
    assert dc.dismissed_instructions("Press the extender's WPS button; there's no need to touch the router.",
                                     reference) == 1  # fmt: skip
    # A verb alone names no step of the reference.
    assert dc.dismissed_instructions("No need to call us.", "Call 150 to hear your messages.") == 0


def test_details_covered_in_any_wording():
    reference = "Dial **21* then the number and #, for example **21*07700900123#. Cancel with ##002#."
    paraphrase = "Type **21*, her number, then # (like **21*07700900123#); dial ##002# to switch it off."
    assert dc.details_covered(paraphrase, reference) == 1.0
    assert dc.details_covered("I'm sorry, I can't help with call settings.", reference) == 0.0
    in_words = "Open Settings, then Phone, then Wi-Fi Calling."
    assert dc.details_covered(in_words, "Go to Settings > Phone > Wi-Fi Calling.") == 1
    assert dc.details_covered("Restart the phone.", "Restart the phone.") == dc.NO_DETAILS


def test_a_toggle_named_only_by_its_clause():
    reference = "Open Settings > Phone > Show My Caller ID and switch it off."
    assert dc.flipped_switches("Open Settings > Phone > Show My Caller ID and make sure the toggle is green.",
                               reference) == 1  # fmt: skip
    assert dc.flipped_switches("Open Settings, tap Phone, then Show My Caller ID, and turn that toggle grey.",
                               reference) == 0  # fmt: skip


def test_what_the_reference_stops_in_the_passive_is_no_new_harm():
    reference = "Your contract is cancelled and payments refunded within 14 days of us receiving the phone."
    assert dc.new_risky_actions("Once it reaches us, we cancel the contract and refund you.", reference) == 0


