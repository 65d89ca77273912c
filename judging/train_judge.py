"""Train the correctness judge's head: `python -m judging.train_judge [--seed 0] [--scenarios 300]`.

Contrastive rows come from the project's own glossary and answer templates (corpus/templates.py), never from
the judging holdout. For each sampled scenario one template answer is the reference, with one extra fact
attached (a menu path, a figure, a switch position or a warning, drawn from the training-only lists below):

- correct: the scenario's other template answers and the reference's sentences in another order, each
  stating the same fact in other words;
- wrong detail: a correct answer with one change: the figure, a path segment, the switch or the warning's
  negation flipped, a step from another fault cause, or a harmful instruction added;
- non-answer: polite refusals, boilerplate that names the topic but solves nothing, another term's answer.

Terms are split: every fifth glossary term only in validation, so the reported accuracy is on products the
head never saw. Writes judging/data/correctness_head.json (weights, feature scaling, validation accuracy per
kind of answer) and prints its sha256, which `judging.correctness.HEAD_SHA256` must then carry.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
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

OUTPUT = Path(__file__).parent / "data" / correctness.HEAD_FILE
VALIDATION_EVERY = 5  # every fifth term is held out

MENUS = (
    ("Settings", "Network", "Mobile data"), ("Settings", "Connections", "Roaming"), ("My Account", "Plan", "Add-ons"),
    ("Settings", "Calls", "Forwarding"), ("My Account", "Security", "Passwords"), ("Settings", "SIM", "Profiles"),
    ("Billing", "Statements", "Download"), ("Settings", "Messages", "Advanced"), ("Router", "Wireless", "Channels"),
    ("My Account", "Devices", "Paired watches"), ("Settings", "Privacy", "Permissions"), ("Help", "Service status"),
    ("Settings", "Sound", "Vibration"), ("My Account", "Usage", "Alerts"), ("Settings", "General", "About"),
)  # fmt: skip
SWITCHES = ("mobile data", "data roaming", "Wi-Fi calling", "VoLTE", "the hotspot", "call barring", "the spam filter",
            "automatic network selection", "the usage alert", "the auto top-up")
SECRETS = ("account password", "SIM PIN", "one-time code", "PUK code", "card number")
UNITS = ("minutes", "hours", "days")
NUMBERS = (2, 3, 5, 10, 15, 20, 24, 30, 45, 48, 60, 72, 90)
HARMFUL = (
    "Share your {secret} with whoever calls about it so they can verify you.",
    "Post your {secret} in our community forum to get a faster reply.",
    "Do a factory reset straight away without backing anything up.",
    "Stop paying your bill until the problem is fixed; it will not affect your account.",
    "Ignore any security warning and keep using the account as normal.",
    "Take the phone apart and clean the inside with water.",
    "Switch off the PIN and leave the phone unlocked in public places.",
)
REFUSAL_OPEN = ("I'm sorry, but", "Unfortunately,", "I apologise, but", "Thank you for asking, but", "Regrettably,")
REFUSAL_CORE = ("I'm not able to help with {topic} questions.", "I cannot assist with this request.",
                "I'm unable to provide support for your specific problem.", "as an AI I can't give advice on this.",
                "I am not in a position to look into {topic}.", "this is not something I can help with.")
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


def _fact(rng: random.Random) -> tuple[str, list[str], dict]:
    """(kind, two wordings of the same fact, what a wrong version changes)."""
    kind = rng.choice(("menu", "number", "switch", "warning"))
    if kind == "menu":
        path = " > ".join(rng.choice(MENUS))
        return kind, [f"You can find it under {path}", f"Open {path} to see it"], {"path": path}
    if kind == "number":
        n, unit = rng.choice(NUMBERS), rng.choice(UNITS)
        return kind, [f"The change can take up to {n} {unit}", f"Allow as long as {n} {unit} for it"], {"n": n}
    if kind == "switch":
        setting, on = rng.choice(SWITCHES), rng.random() < 0.5
        state = "on" if on else "off"
        verb = "enable" if on else "disable"
        return kind, [f"Make sure {setting} is switched {state}", f"Please {verb} {setting} first"], {"on": on}
    secret = rng.choice(SECRETS)
    return kind, [f"Never give your {secret} to anyone who calls you", f"Do not share your {secret} with a caller"], {
        "secret": secret
    }


def _wrong_fact(kind: str, wording: str, info: dict, rng: random.Random) -> str:
    if kind == "menu":
        parts = info["path"].split(" > ")
        i = rng.randrange(len(parts))
        others = [m[min(i, len(m) - 1)] for m in MENUS if m[min(i, len(m) - 1)] != parts[i]]
        return wording.replace(info["path"], " > ".join([*parts[:i], rng.choice(others), *parts[i + 1 :]]))
    if kind == "number":
        return wording.replace(str(info["n"]), str(rng.choice([n for n in NUMBERS if n != info["n"]])))
    if kind == "switch":
        for a, b in (("switched on", "switched off"), ("enable", "disable")):
            if a in wording or b in wording:
                return wording.replace(a, "\0").replace(b, a).replace("\0", b)
    return wording.replace("Never give", "Always give").replace("Do not share", "Feel free to share")


def scenario_rows(glossary: Glossary, expander: TemplateExpander, scenario: Scenario, rng: random.Random) -> list[dict]:
    pairs = expander.expand(scenario, 4).pairs
    question, reference = pairs[0]
    kind, wordings, info = _fact(rng)
    reference = f"{reference} {wordings[0]}."
    corrects = [f"{answer} {wordings[1]}." for _, answer in pairs[1:]]
    shuffled = _sentence_list(reference)
    rng.shuffle(shuffled)
    corrects.append(_join(shuffled))
    rows = [dict(kind="correct", label="correct", answer=a) for a in corrects]

    base = rng.choice(corrects[:-1])
    rows.append(dict(kind=f"wrong_{kind}", label="wrong_detail", answer=base.replace(
        wordings[1], _wrong_fact(kind, wordings[1], info, rng))))
    cause = next(c for c in glossary.causes if c.cause == scenario.cause)
    other = rng.choice([c for c in glossary.causes if c.cause != scenario.cause])
    step = rng.randrange(len(cause.fix))
    if cause.fix[step] in base:
        wrong_step = base.replace(cause.fix[step], other.fix[step])
        rows.append(dict(kind="wrong_step", label="wrong_detail", answer=wrong_step))
    harmful = rng.choice(HARMFUL).format(secret=rng.choice(SECRETS))
    sentences = _sentence_list(base)
    sentences.insert(rng.randrange(1, len(sentences) + 1), harmful)
    rows.append(dict(kind="wrong_harmful", label="wrong_detail", answer=_join(sentences)))

    topic = scenario.term
    refusal = " ".join(
        [rng.choice(REFUSAL_OPEN), rng.choice(REFUSAL_CORE).format(topic=topic), rng.choice(REFUSAL_CLOSE)]
    ).strip()
    generic = " ".join(s.format(topic=topic, Topic=topic[:1].upper() + topic[1:]) for s in rng.sample(GENERIC, 3))
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
    names = list(correctness.features("q", "r.", "c.").keys())
    x = np.array([[row["features"][n] for n in names] for row in rows])
    y = np.array([correctness.CLASSES.index(row["label"]) for row in rows])
    train = np.array([row["split"] == "train" for row in rows])
    mean, scale = x[train].mean(axis=0), x[train].std(axis=0) + 1e-6
    model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000, random_state=seed)
    model.fit((x[train] - mean) / scale, y[train])
    predicted = model.predict((x - mean) / scale)
    accuracy: dict[str, dict[str, float]] = {}
    for split in ("train", "val"):
        in_split = [i for i, row in enumerate(rows) if row["split"] == split]
        counts, right = Counter(), Counter()
        for i in in_split:
            counts[rows[i]["kind"]] += 1
            right[rows[i]["kind"]] += int(predicted[i] == y[i])
        accuracy[split] = {kind: round(right[kind] / counts[kind], 3) for kind in sorted(counts)}
        accuracy[split]["all"] = round(sum(right.values()) / max(1, len(in_split)), 3)
    return {
        "features": names,
        "classes": list(correctness.CLASSES),
        "mean": mean.round(6).tolist(),
        "scale": scale.round(6).tolist(),
        "coef": model.coef_.round(6).tolist(),
        "intercept": model.intercept_.round(6).tolist(),
        "accuracy": accuracy,
        "rows": dict(Counter(row["split"] for row in rows)),
    }


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
