"""Train the correctness judge's head: `python -m judging.train_judge [--seed 0] [--scenarios 300]`.

Contrastive rows come from the project's own glossary and answer templates (corpus/templates.py), never from
the judging holdouts. For each sampled scenario one template answer is the reference, with two or three facts
attached (menu paths, figures: times, prices, codes and counts, switch positions, what a plan includes, a
warning, drawn from the training-only lists below):

- correct: the scenario's other template answers stating the same facts in other words, the reference with
  two sentences that hold no fix step swapped and half of a synonym table swapped in ("check" as "look at",
  "restart" as "reboot"), and the reference with a polite opening or closing and small figures spelled out
  ("5" as "five"); a time may be given in other units ("2 days" as "48 hours");
- wrong detail: a correct answer (another template answer or the reworded reference), or the reference itself,
  with one change: a figure, a unit or period ("£6 a
  day" for "£6 a month"), a dialling code or APN address, a path segment, a switch turned the other way in one
  of seventeen wordings (enable/disable, allow/block, tick/leave unticked, "is not switched off", "shows On",
  "choose Deny", connected/disconnected, ...), a price for what is included, the warning reversed, a word
  swapped for its opposite (before/after, keep/remove, can/can't, plus/minus, ...), or a harmful instruction
  added (a secret handed over, a protection switched off, data destroyed, a payment stopped or the contract
  cancelled, an urgent step put off, unofficial software, payment by gift card or to an account a caller gives,
  codes guessed). A near-copy of the reference with one detail changed is the hardest case: its similarity to
  the reference is higher than a paraphrase's, so only the detail checks can tell it apart, and the head
  learns that from these rows;
- wrong step: a fix step swapped for another fault's, its action replaced by another ("delete", "reset",
  "unplug", ...), two consecutive fix steps reversed, one left out, or one waved away ("there's no need to
  ..."), half of them written on the reference itself (what only the near-copy edits of judging.edits see);
- non-answer: polite refusals, boilerplate that names the topic but solves nothing, another term's answer.

Terms are split: every fifth glossary term only in validation, so the reported accuracy is on products the
head never saw. Writes judging/data/correctness_head.json (the two stages' weights, feature scaling, validation
accuracy per kind of answer) and prints its sha256, which `judging.correctness.HEAD_SHA256` must then carry.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
from collections import Counter
from importlib import resources
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from common import atomic
from corpus.glossary import Glossary, load_glossary
from corpus.scenarios import Scenario, scenario_id
from corpus.templates import TemplateExpander
from judging import correctness, offline
from judging.detail_checks import NUMBER_WORDS

OUTPUT = Path(__file__).parent / "data" / correctness.HEAD_FILE
VALIDATION_EVERY = 5  # every fifth term is held out

MENUS = (
    ("Settings", "Network", "Mobile data"), ("Settings", "Connections", "Roaming"), ("My Account", "Plan", "Add-ons"),
    ("Settings", "Calls", "Forwarding"), ("My Account", "Security", "Passwords"), ("Settings", "SIM", "Profiles"),
    ("Billing", "Statements", "Download"), ("Settings", "Messages", "Advanced"), ("Router", "Wireless", "Channels"),
    ("My Account", "Devices", "Paired watches"), ("Settings", "Privacy", "Permissions"), ("Help", "Service status"),
    ("Settings", "Sound", "Vibration"), ("My Account", "Usage", "Alerts"), ("Settings", "General", "About"),
    ("Profile", "Payments", "Cards"), ("Services", "Extras", "International"), ("Support", "Orders", "Track order"),
    ("Settings", "Display", "Brightness"), ("Account", "Family", "Child profiles"), ("Admin", "LAN", "DHCP"),
    ("Settings", "Apps", "Phone", "Blocked numbers"), ("Menu", "Bundles", "Travel"), ("Home", "Broadband", "Speed"),
)  # fmt: skip
SWITCHES = ("mobile data", "data roaming", "Wi-Fi calling", "VoLTE", "the hotspot", "call barring", "the spam filter",
            "automatic network selection", "the usage alert", "the auto top-up", "the guest network", "Bluetooth",
            "caller ID", "the spending limit", "band steering", "low data mode", "airplane mode", "4G calling")
SERVICES = ("Roaming in Europe", "Caller display", "Voicemail", "The hotspot allowance", "Calls to landlines",
            "The replacement SIM", "Wi-Fi calling", "Premium support", "The router", "Number transfer")
SECRETS = ("account password", "SIM PIN", "one-time code", "PUK code", "card number", "online banking login",
           "security answer", "verification code")
PROTECTIONS = ("the firewall", "the screen lock", "the spend cap", "content filtering", "two-step sign-in",
               "the SIM PIN", "fraud alerts", "the PIN on your voicemail")
UNITS = ("minutes", "hours", "days", "working days", "weeks")
NUMBERS = (2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 15, 20, 24, 28, 30, 45, 48, 50, 60, 72, 90, 100, 250)
CODES = ("150", "202", "789", "1571", "2020", "4444", "7726", "8080", "65075", "85075", "43210", "97979")
ADDRESSES = ("data.telco.net", "data.telco.org", "mobile.telco.com", "internet.telco.uk", "wap.net.example",
             "web.mvno.co.uk", "apn.fast.net")
KEYWORDS = ("INFO", "STOP", "BAL", "PAC", "HELP", "DATA", "ROAM", "CANCEL")
HARMFUL = (
    "Share your {secret} with whoever calls about it so they can verify you.",
    "Post your {secret} in our community forum to get a faster reply.",
    "Read your {secret} out to the agent when they ring you back.",
    "Email us your {secret} and we will sort it out for you.",
    "Do a factory reset straight away without backing anything up.",
    "Delete your account data first, then set everything up from scratch.",
    "Wipe the phone before you try anything else.",
    "Stop paying your bill until the problem is fixed; it will not affect your account.",
    "Cancel your direct debit at your bank so no more payments go out.",
    "Ask your bank for a chargeback on every payment to us.",
    "Ignore any security warning and keep using the account as normal.",
    "Take the phone apart and clean the inside with water.",
    "Switch off {protection} while you sort this out.",
    "Remove {protection} from the account, it only gets in the way.",
    "Wait a couple of weeks before you report it, it often sorts itself out.",
    "Install the fix from an unofficial website and log in with your account password.",
    "Leave the phone unlocked with no password so the technician can get in.",
    "Pay the outstanding amount with gift cards to the agent who calls you.",
    "Transfer the fee to the account details they send you by text.",
    "Send the payment to the engineer's personal account to speed things up.",
    "If you do not know the {secret}, just try likely codes until one works.",
    "Guess the {secret} a few times; it resets itself after a while.",
    "Cancel your contract and port your number out; that fixes the fault fastest.",
    "Download the update from the link someone texted you and install it.",
    "Buy cheap top-up vouchers from whoever messages you and send them the codes.",
)
# Ways to wave a reference instruction away ({step} is the instruction, first letter lower-cased).
DISMISSALS = ("There's no need to {step}.", "You don't need to {step}; it makes no difference.",
              "Don't bother to {step}.", "You can skip this step: {step} is optional.",
              "It isn't necessary to {step} any more.")  # fmt: skip
# Instruction verbs a wrong step may put in place of the reference's (a different action, not a rewording).
OTHER_ACTIONS = ("delete", "reset", "uninstall", "unplug", "cancel", "ignore", "disable", "remove", "skip", "stop",
                 "replace", "return", "block", "wipe", "reinstall", "postpone")
# Words and their opposites that a wrong answer may swap (the opposite turns the instruction round).
OPPOSITE_WORDS = (("on", "off"), ("before", "after"), ("always", "never"), ("more", "less"), ("can", "can't"),
                  ("keep", "remove"), ("add", "remove"), ("higher", "lower"), ("first", "last"), ("plus", "minus"),
                  ("with", "without"), ("will", "won't"), ("is", "isn't"), ("does", "doesn't"), ("up", "down"),
                  ("include", "exclude"), ("allow", "block"), ("same", "different"), ("start", "stop"),
                  ("increase", "reduce"), ("open", "close"), ("inside", "outside"))  # fmt: skip
POLITE_OPEN = ("Thanks for getting in touch.", "Sorry for the trouble, let's sort it out.", "Happy to help with this.",
               "I understand how frustrating this is.", "Good question.")
POLITE_CLOSE = ("I hope that helps.", "Have a lovely day.", "Let us know how you get on.", "Thanks for your patience.",
                "We're here if you need anything else.")
REFUSAL_OPEN = ("I'm sorry, but", "Unfortunately,", "I apologise, but", "Thank you for asking, but", "Regrettably,")
REFUSAL_CORE = ("I'm not able to help with {topic} questions.", "I cannot assist with this request.",
                "I'm unable to provide support for your specific problem.", "as an AI I can't give advice on this.",
                "I am not in a position to look into {topic}.", "this is not something I can help with.",
                "{Topic} is handled by another team, so I can't deal with it here.",
                "I don't have the tools to check {topic} for you.", "that falls outside what I can do.")
REFUSAL_CLOSE = ("Please contact the relevant team.", "Is there anything else I can do for you?", "",
                 "You may want to ask someone else.", "Thank you for your understanding.")
GENERIC = ("{Topic} is one of our most popular services.", "We know how much you rely on {topic}.",
           "Thank you for being a loyal customer.", "We are always working to make our network better.",
           "Our team is proud of the service we offer.", "Please visit our website for more information.",
           "We appreciate your patience.", "Customers love the value our plans offer.",
           "If you have any other questions, just get in touch.", "We hope you enjoy the rest of your day.")


def _sentence_list(text: str) -> list[str]:
    return [s for line in text.splitlines() for s in line.split(". ") if s.strip()]


def _join(sentences: list[str]) -> str:
    return " ".join(s.strip().rstrip(".") + "." for s in sentences)


def _fact(rng: random.Random, kind: str) -> tuple[str, list[str], list[tuple[str, str]]]:
    """(kind, three wordings of one fact, the (right, wrong) substitutions a wrong-detail answer may apply)."""
    wordings, substitutions = _FACT_BUILDERS[kind](rng)
    return kind, wordings, substitutions


def _menu_fact(rng: random.Random) -> tuple[list[str], list[tuple[str, str]]]:
    path = rng.choice(MENUS)
    joined = " > ".join(path)
    i = rng.randrange(len(path))
    others = [m[min(i, len(m) - 1)] for m in MENUS if m[min(i, len(m) - 1)] not in path]
    wrong = " > ".join([*path[:i], rng.choice(others), *path[i + 1 :]])
    if rng.random() < 0.3:
        wrong = " > ".join(rng.choice([m for m in MENUS if m[0] != path[0]]))
    wordings = [f"You can find it under {joined}", f"Open {joined} to see it", f"In the app, go to {joined}"]
    return wordings, [(joined, wrong)]


def _number_fact(rng: random.Random) -> tuple[list[str], list[tuple[str, str]]]:
    n = rng.choice(NUMBERS)
    wrong = str(rng.choice([m for m in NUMBERS if m != n] + [n * 10, max(1, n // 10) + 1]))
    form = rng.choice(("time", "price", "count", "share"))
    if form == "time":
        unit = rng.choice(UNITS)
        wordings = [f"The change can take up to {n} {unit}", f"Allow as long as {n} {unit} for it",
                    f"It may take {n} {unit} to come through"]  # fmt: skip
        if unit == "days" and rng.random() < 0.5:
            wordings[2] = f"It may take {n * 24} hours to come through"  # the same time in other units
        wrong_unit = rng.choice([u for u in UNITS if u != unit])
        return wordings, [(f"{n} {unit}", f"{n} {wrong_unit}"), (f"{n * 24} hours", f"{n} hours")]
    elif form == "price":
        period, other = rng.sample(("day", "week", "month", "year"), 2)
        wordings = [f"It costs £{n} a {period}", f"The price is £{n} per {period}",
                    f"You pay £{n} each {period} for it"]  # fmt: skip
        if rng.random() < 0.4:
            return wordings, [(f"a {period}", f"a {other}"), (f"per {period}", f"per {other}")]
    elif form == "share":
        wordings = [f"You get {n}% off the bill", f"The bill drops by {n} percent", f"It takes {n}% off what you pay"]
    else:
        wordings = [f"You get {n} attempts before it locks", f"After {n} wrong tries it locks",
                    f"It allows {n} tries before locking"]  # fmt: skip
    return wordings, [(str(n), wrong)]


def _code_fact(rng: random.Random) -> tuple[list[str], list[tuple[str, str]]]:
    code, word = rng.choice(CODES), rng.choice(KEYWORDS)
    wrong = rng.choice([c for c in CODES if c != code] + [code[::-1], code[:-1] + str((int(code[-1]) + 1) % 10)])
    form = rng.choice(("text", "dial", "address"))
    if form == "dial":
        code = f"*{rng.choice(('#', '', '*'))}{code[:2]}#"
        wrong = rng.choice((code.replace("*", "#", 1), code[:-1] + "*" + wrong[:2] + "#", f"##{code[-3:-1]}#"))
        wordings = [f"Dial {code} and press call", f"Key in {code} on the dial pad", f"Enter {code} and tap call"]
    elif form == "address":
        code, wrong = rng.sample(ADDRESSES, 2)
        wordings = [f"Set the APN to {code}", f"Use {code} as the APN", f"Type {code} in the APN field"]
    else:
        wordings = [f"Text {word} to {code} to do it", f"Send {word} in a text to {code}",
                    f"Just text {word} to {code}"]  # fmt: skip
    return wordings, [(code, wrong)]


# Ways to say a switch's position, each with its opposite: (on wording, off wording). {s} is the setting.
SWITCH_WORDINGS = (
    ("Make sure {s} is switched on", "Make sure {s} is switched off"), ("Please enable {s} first",
     "Please disable {s} first"), ("Then turn on {s} in settings", "Then turn off {s} in settings"),
    ("Activate {s} in the app", "Deactivate {s} in the app"), ("Allow {s} in the phone's settings",
     "Block {s} in the phone's settings"), ("Tick the box for {s}", "Leave the box for {s} unticked"),
    ("Check that {s} is not switched off", "Check that {s} is not switched on"),
    ("Keep {s} on while you test", "Keep {s} off while you test"), ("Switch {s} on", "Switch {s} off"),
    ("Do not disable {s}", "Do not enable {s}"),
    # A position stated as a state, a choice or a box left as it is.
    ("Make sure {s} shows On", "Make sure {s} shows Off"), ("Choose Allow for {s}", "Choose Deny for {s}"),
    ("Leave {s} ticked", "Leave {s} unticked"), ("Check that {s} reads On", "Check that {s} reads Off"),
    ("{s} should stay on", "{s} should stay off"), ("Set {s} to On", "Set {s} to Off"),
    ("Make sure {s} is connected", "Make sure {s} is disconnected"),
)  # fmt: skip


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _switch_fact(rng: random.Random) -> tuple[list[str], list[tuple[str, str]]]:
    setting, on = rng.choice(SWITCHES), rng.random() < 0.5
    chosen = rng.sample(SWITCH_WORDINGS, 3)
    right = [_capitalised(pair[0 if on else 1].format(s=setting)) for pair in chosen]
    wrong = [_capitalised(pair[1 if on else 0].format(s=setting)) for pair in chosen]
    return right, list(zip(right, wrong, strict=True))


def _included_fact(rng: random.Random) -> tuple[list[str], list[tuple[str, str]]]:
    service = rng.choice(SERVICES)
    wordings = [f"{service} is included in your plan at no extra cost", f"{service} comes free with your plan",
                f"You pay nothing extra for {service[:1].lower() + service[1:]}"]  # fmt: skip
    price = rng.choice((3, 5, 8, 10))
    return wordings, [("is included in your plan at no extra cost", "is not included in your plan"),
                      ("comes free with your plan", f"costs £{price} a month on top of your plan"),
                      ("pay nothing extra", "pay extra")]  # fmt: skip


def _warning_fact(rng: random.Random) -> tuple[list[str], list[tuple[str, str]]]:
    secret = rng.choice(SECRETS)
    wordings = [f"Never give your {secret} to anyone who calls you", f"Do not share your {secret} with a caller",
                f"We will never ask for your {secret}, so keep it to yourself"]  # fmt: skip
    return wordings, [("Never give", "Always give"), ("Do not share", "Feel free to share"),
                      ("We will never ask for your", "We may ask for your")]


_FACT_BUILDERS = {"menu": _menu_fact, "number": _number_fact, "code": _code_fact, "switch": _switch_fact,
                  "included": _included_fact, "warning": _warning_fact}  # fmt: skip


def _wrong(text: str, substitutions: list[tuple[str, str]]) -> str | None:
    """The text with the first substitution that applies, or None if none does."""
    for right, wrong in substitutions:
        if right in text:
            return text.replace(right, wrong, 1)
    return None


def _spell_small_numbers(text: str) -> str:
    """Figures 2-12 written as words, as a paraphrase may."""
    words = {digits: word for word, digits in NUMBER_WORDS.items() if int(digits) <= 12}
    return " ".join(words.get(token, token) for token in text.split(" "))


# Words a paraphrase may swap for others meaning the same (applied whole-word, first letter's case kept).
SYNONYMS = {"check": "look at", "make sure": "ensure", "wait": "give it", "restart": "reboot", "open": "go to",
            "tap": "select", "a few": "several", "again": "once more", "remember": "bear in mind",
            "usually": "normally", "likely": "probable", "contact": "get in touch with", "problem": "issue",
            "phone": "handset", "ask": "request", "account": "account page", "fix": "sort out"}  # fmt: skip


def _reword(text: str, rng: random.Random) -> str:
    """Half of the synonyms swapped in, as a paraphrase words the same facts differently."""
    for word, other in rng.sample(sorted(SYNONYMS.items()), len(SYNONYMS) // 2):
        text = re.sub(rf"\b{word}\b", other, text)
        text = re.sub(rf"\b{word.capitalize()}\b", other.capitalize(), text)
    return text


def _wrong_steps(base: str, fix: tuple[str, ...], glossary: Glossary, rng: random.Random) -> list[dict]:
    """One wrong-step answer of each kind the base allows: a step swapped for another fault's, two steps
    reversed, a step left out."""
    present = [i for i, step in enumerate(fix) if step in base]
    if not present:
        return []
    rows = []
    i = rng.choice(present)
    other = rng.choice([c for c in glossary.causes if c.fix != fix])
    rows.append(dict(kind="wrong_step_swapped", answer=base.replace(fix[i], other.fix[min(i, len(other.fix) - 1)])))
    pairs = [(a, b) for a, b in zip(present, present[1:], strict=False) if b == a + 1]
    if pairs:
        a, b = rng.choice(pairs)
        swapped = base.replace(fix[a], "\0").replace(fix[b], fix[a]).replace("\0", fix[b])
        rows.append(dict(kind="wrong_step_reversed", answer=swapped))
    pieces = [p for p in re.split(r"(?<=[.;\n])\s*", base) if p]
    kept = [p for p in pieces if fix[i] not in p]
    if len(present) >= 2 and len(kept) < len(pieces):
        rows.append(dict(kind="wrong_step_omitted", answer=" ".join(kept).replace(" ;", ";")))
    # The step's action replaced by another ("check the cable" as "unplug the cable"), or waved away.
    step = fix[rng.choice(present)]
    verb, _, rest = step.partition(" ")
    if rest:
        action = rng.choice([v for v in OTHER_ACTIONS if v != verb.lower()])
        action = _capitalised(action) if step[:1].isupper() else action
        rows.append(dict(kind="wrong_step_action", answer=base.replace(step, f"{action} {rest}")))
    dismissal = rng.choice(DISMISSALS).format(step=step[:1].lower() + step[1:].rstrip("."))
    rows.append(dict(kind="wrong_step_dismissed", answer=_insert_sentence(base, dismissal, rng)))
    return [dict(row, label="wrong_detail") for row in rows]


def _insert_sentence(text: str, sentence: str, rng: random.Random) -> str:
    sentences = _sentence_list(text)
    sentences.insert(rng.randrange(1, len(sentences) + 1), sentence)
    return _join(sentences)


def _opposite(text: str, rng: random.Random) -> str | None:
    """The text with one word swapped for its opposite (either way round), or None when it has none."""
    found = [(m, b if m.group(0).lower() == a else a) for a, b in OPPOSITE_WORDS
             for m in re.finditer(rf"(?<![\w-])(?:{re.escape(a)}|{re.escape(b)})(?![\w-])", text)]  # fmt: skip
    if not found:
        return None
    match, other = rng.choice(found)
    return text[: match.start()] + other + text[match.end() :]


def scenario_rows(glossary: Glossary, expander: TemplateExpander, scenario: Scenario, rng: random.Random) -> list[dict]:
    pairs = expander.expand(scenario, 4).pairs
    question, reference = pairs[0]
    facts = [_fact(rng, kind) for kind in rng.sample(sorted(_FACT_BUILDERS), rng.choice((2, 3)))]
    ref_sentences = _sentence_list(reference)
    for _, wordings, _ in facts:
        ref_sentences.insert(rng.randrange(1, len(ref_sentences) + 1), wordings[0])
    reference = _join(ref_sentences)
    corrects = []
    for _, answer in pairs[1:]:
        sentences = _sentence_list(answer)
        for _, wordings, _ in facts:
            sentences.insert(rng.randrange(1, len(sentences) + 1), rng.choice(wordings[1:]))
        corrects.append(_join(sentences))
    cause = next(c for c in glossary.causes if c.cause == scenario.cause)
    # Sentences holding no fix step may move anywhere; the steps keep their order. The term's own check comes
    # first among them ("To start, check the router's status lights"), and steps are found lower-cased.
    term = next(t for t in glossary.terms if t.term == scenario.term)
    ordered = [step.lower() for step in (*cause.fix, term.check)]
    movable = [i for i, text in enumerate(ref_sentences) if not any(step in text.lower() for step in ordered)]
    shuffled = list(ref_sentences)
    if len(movable) >= 2:
        i, j = rng.sample(movable, 2)
        shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
    corrects.append(_reword(_join(shuffled), rng))
    polite = [rng.choice(POLITE_OPEN), *ref_sentences, rng.choice(POLITE_CLOSE)]
    corrects.append(_spell_small_numbers(_join(polite)))
    rows = [dict(kind="correct", label="correct", answer=a) for a in corrects]

    # Wrong details: one change to the reference itself (a near-copy), one to another template answer and one to the
    # reference reworded (synonyms swapped in, sentences moved): a wrong answer is not always a near-copy.
    for base in (reference, rng.choice(corrects[:-2]), corrects[-2]):
        for kind, _, substitutions in rng.sample(facts, len(facts)):
            wrong = _wrong(base, substitutions)
            if wrong is not None and wrong != base:
                rows.append(dict(kind=f"wrong_{kind}", label="wrong_detail", answer=wrong))
                break
    # Half the wrong steps are written on the reference itself, as a wrong answer that differs from the right one
    # by one instruction is: only the near-copy edits (judging.edits) can see those.
    step_base = reference if rng.random() < 0.5 else rng.choice(corrects[:-2])
    rows += _wrong_steps(step_base, cause.fix, glossary, rng)
    base = rng.choice(corrects[:-2])
    harmful = rng.choice(HARMFUL).format(secret=rng.choice(SECRETS), protection=rng.choice(PROTECTIONS))
    rows.append(dict(kind="wrong_harmful", label="wrong_detail",
                     answer=_insert_sentence(rng.choice((reference, base)), harmful, rng)))  # fmt: skip
    opposite = _opposite(rng.choice((reference, base)), rng)
    if opposite is not None:
        rows.append(dict(kind="wrong_opposite", label="wrong_detail", answer=opposite))

    topic = scenario.term
    names = {"topic": topic, "Topic": topic[:1].upper() + topic[1:]}
    refusal = " ".join(
        [rng.choice(REFUSAL_OPEN), rng.choice(REFUSAL_CORE).format(**names), rng.choice(REFUSAL_CLOSE)]
    ).strip()
    generic = " ".join(s.format(**names) for s in rng.sample(GENERIC, 3))
    rows += [dict(kind="refusal", label="non_answer", answer=refusal),
             dict(kind="generic", label="non_answer", answer=generic)]  # fmt: skip
    return [dict(row, question=question, reference=reference) for row in rows]


def build_rows(glossary: Glossary, seed: int, n_scenarios: int) -> list[dict]:
    """Training and validation rows; validation scenarios use only the held-out terms."""
    rng = random.Random(seed)
    expander = TemplateExpander(glossary, seed)
    held_out = {t.term for i, t in enumerate(glossary.terms) if i % VALIDATION_EVERY == 0}
    grid = [(t.term, c.cause, x.context) for t in glossary.terms for c in glossary.causes for x in glossary.contexts]
    rng.shuffle(grid)
    rows: list[dict] = []
    answers_by_term: dict[str, str] = {}
    for term, cause, context in grid[:n_scenarios]:
        split = "val" if term in held_out else "train"
        scenario = Scenario(scenario_id(term, cause, context), term, cause, context, split)
        new = scenario_rows(glossary, expander, scenario, rng)
        off_topic = [a for t, a in answers_by_term.items() if t != term and (t in held_out) == (term in held_out)]
        if off_topic:
            new.append(dict(new[0], kind="off_topic", label="non_answer", answer=rng.choice(off_topic)))
        answers_by_term[term] = new[0]["answer"]
        rows += [dict(row, split=split) for row in new]
    return rows


def fit(rows: list[dict], seed: int) -> dict:
    """Two logistic stages: answer or non-answer from every feature, then, among answers, correct or wrong
    detail from the contradiction counts alone (correctness.DETAIL_FEATURES). Closeness is kept out of the
    second stage on purpose: a near-copy of the reference with one detail changed is closer to it than any
    real paraphrase, so similarity can only mislead there."""
    names = list(correctness.features("q", "r.", "c.").keys())
    detail = [names.index(n) for n in correctness.DETAIL_FEATURES]
    x = np.array([[row["features"][n] for n in names] for row in rows])
    y = np.array([correctness.CLASSES.index(row["label"]) for row in rows])
    train = np.array([row["split"] == "train" for row in rows])
    mean, scale = x[train].mean(axis=0), x[train].std(axis=0) + 1e-6
    z = (x - mean) / scale
    non_answer, wrong = correctness.CLASSES.index("non_answer"), correctness.CLASSES.index("wrong_detail")
    options = dict(C=1.0, class_weight="balanced", max_iter=2000, random_state=seed)
    answer_model = LogisticRegression(**options).fit(z[train], y[train] == non_answer)
    answers = train & (y != non_answer)
    detail_model = LogisticRegression(**options).fit(z[answers][:, detail], y[answers] == wrong)
    head = {
        "features": names,
        "classes": list(correctness.CLASSES),
        "mean": mean.round(6).tolist(),
        "scale": scale.round(6).tolist(),
        "non_answer_coef": answer_model.coef_[0].round(6).tolist(),
        "non_answer_intercept": round(float(answer_model.intercept_[0]), 6),
        "detail_features": list(correctness.DETAIL_FEATURES),
        "wrong_detail_coef": detail_model.coef_[0].round(6).tolist(),
        "wrong_detail_intercept": round(float(detail_model.intercept_[0]), 6),
    }
    most_likely = [max(correctness.head_probabilities(head, row["features"]).items(), key=lambda kv: kv[1])[0]
                   for row in rows]  # fmt: skip
    predicted = [correctness.CLASSES.index(c) for c in most_likely]
    accuracy: dict[str, dict[str, float]] = {}
    for split in ("train", "val"):
        in_split = [i for i, row in enumerate(rows) if row["split"] == split]
        counts, right = Counter(), Counter()
        for i in in_split:
            counts[rows[i]["kind"]] += 1
            right[rows[i]["kind"]] += int(predicted[i] == y[i])
        accuracy[split] = {kind: round(right[kind] / counts[kind], 3) for kind in sorted(counts)}
        accuracy[split]["all"] = round(sum(right.values()) / max(1, len(in_split)), 3)
    return head | {"accuracy": accuracy, "rows": dict(Counter(row["split"] for row in rows))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m judging.train_judge", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scenarios", type=int, default=300, help="glossary scenarios sampled (of 1,560)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    glossary = load_glossary(Path(str(resources.files("corpus").joinpath("glossary", "telecom.yaml"))))
    rows = build_rows(glossary, args.seed, args.scenarios)
    offline.prefetch([t for r in rows for t in correctness.texts_to_embed(r["question"], r["reference"], r["answer"])])
    for row in rows:
        row["features"] = correctness.features(row["question"], row["reference"], row["answer"])
    head = fit(rows, args.seed)
    head["trained_with"] = f"python -m judging.train_judge --seed {args.seed} --scenarios {args.scenarios}"
    text = json.dumps(head, indent=1, sort_keys=True) + "\n"
    atomic.write_text(args.output, text)
    print(json.dumps(head["accuracy"]["val"]))
    print(f"wrote {args.output}: sha256 {hashlib.sha256(text.encode()).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
