"""Synthetic street addresses for the PII classifier's training and evaluation sets, in the forms a support history
writes them, beyond Faker's one-line `street_address()`: flats and units ("Flat 3B", "Apt 12", "Unit 4/17"),
house numbers with letters or ranges ("12A", "7-9"), floors, named buildings, PO boxes of several countries,
rural addresses (a house name and a lane, a rural route), several lines, and the formats of Faker's locales.
The town is never part of the labelled address (the scrubber keeps towns); the caller adds postcode and town.

Word lists for house and building names are split: the training set draws the even-numbered entries, evaluation
sets the odd ones, so an evaluation does not reward remembering a name like "Rose Cottage".
"""

from __future__ import annotations

import random

from faker import Faker

UNITS = ("Flat", "Apartment", "Apt", "Apt.", "Unit", "Suite", "Studio", "Room", "Maisonette", "flat", "apt")
STREET_TYPES = (
    "Road", "Rd", "Street", "St", "Lane", "Ln", "Avenue", "Ave", "Close", "Drive", "Dr", "Way", "Crescent", "Cres",
    "Gardens", "Terrace", "Grove", "Place", "Pl", "Row", "Hill", "Mews", "Court", "Walk", "Parade", "Boulevard",
    "Square", "Rise", "View", "Park", "Green", "Wynd", "Gate",
)  # fmt: skip
STREET_WORDS = (
    "High", "Station", "Church", "Main", "Mill", "Park", "Victoria", "King", "Queen's", "New", "North", "Bridge",
    "School", "Market", "London", "Manor", "Green", "Albert", "Castle", "West", "York", "Chapel", "Orchard", "Pound",
)  # fmt: skip
HOUSE_WORDS = (
    "Rose", "Ivy", "Oak", "Willow", "Hawthorn", "Meadow", "Mill", "Orchard", "Holly", "Beech", "Old School",
    "Old Forge", "Old Rectory", "Church", "Brook", "Hillside", "Fern", "Laurel", "Cherry Tree", "Primrose", "Elm",
    "Ash", "Bramble", "Heather", "Swallow", "Badger", "Kingfisher", "Lilac",
)  # fmt: skip
HOUSE_KINDS = ("Cottage", "House", "Farm", "Lodge", "Barn", "View", "Croft", "Bungalow", "Farmhouse", "Villa")
BUILDINGS = ("Court", "House", "Heights", "Tower", "Mansions", "Apartments", "Lofts", "Point", "Wharf", "Quay")
PO_BOXES = (
    "PO Box {n}", "P.O. Box {n}", "Post Office Box {n}", "GPO Box {n}", "Private Bag {n}", "Locked Bag {n}",
    "Postfach {n}", "BP {n}", "Apartado {n}", "Postbus {n}", "po box {n}", "PMB {n}",
)  # fmt: skip
RURAL_ROUTES = ("RR {a} Box {n}", "Rural Route {a}, Box {n}", "HC {a} Box {n}", "RD {a}", "Lot {n}, {road}")
FLOORS = ("Ground Floor", "Ground floor flat", "1st Floor", "2nd Floor", "3rd floor", "Top floor flat", "Basement flat")


def _half(words: tuple[str, ...], held_out: bool) -> tuple[str, ...]:
    return words[1::2] if held_out else words[0::2]


def _house_number(rng: random.Random) -> str:
    n = rng.choice((rng.randint(1, 40), rng.randint(1, 250), rng.randint(1, 2500)))
    roll = rng.random()
    if roll < 0.15:
        return f"{n}{rng.choice('ABCDabc')}"
    if roll < 0.2:
        return f"{n}-{n + rng.choice((1, 2, 4))}"
    return str(n)


def _street(fake: Faker, rng: random.Random) -> str:
    """A street name: the locale's own, or an English one built from a surname or a common street word."""
    roll = rng.random()
    if roll < 0.4:
        return fake.street_name()
    word = fake.last_name() if roll < 0.7 else rng.choice(STREET_WORDS)
    return f"{word} {rng.choice(STREET_TYPES)}"


def _numbered_street(fake: Faker, rng: random.Random) -> str:
    return f"{_house_number(rng)} {_street(fake, rng)}"


def street_address(fake: Faker, rng: random.Random, held_out: bool) -> str:
    """One address without town or postcode; its parts are joined by ", " or by line breaks."""
    roll = rng.random()
    if roll < 0.3:
        parts = fake.street_address().split("\n")
    elif roll < 0.45:
        parts = [_numbered_street(fake, rng)]
    elif roll < 0.6:
        unit = f"{rng.choice(UNITS)} {rng.randint(1, 60)}{rng.choice(('', '', 'A', 'B', 'C', 'a'))}"
        if rng.random() < 0.3:
            building = f"{fake.last_name()} {rng.choice(_half(BUILDINGS, held_out))}"
            parts = [unit, building, _numbered_street(fake, rng)]
        elif rng.random() < 0.3:
            parts = [_numbered_street(fake, rng), unit]  # American order: "221 Pine St, Apt 5"
        else:
            parts = [unit, _numbered_street(fake, rng)]
    elif roll < 0.68:
        unit = f"{rng.choice(('Unit ', 'unit ', 'Flat ', ''))}{rng.randint(1, 30)}/{rng.randint(1, 400)}"
        parts = [f"{unit} {_street(fake, rng)}"]  # Australian and Indian "4/17 Smith Street"
    elif roll < 0.74:
        parts = [rng.choice(FLOORS), _numbered_street(fake, rng)]
    elif roll < 0.84:
        parts = [rng.choice(PO_BOXES).format(n=rng.randint(1, 9999))]
    elif roll < 0.94:
        house = f"{rng.choice(_half(HOUSE_WORDS, held_out))} {rng.choice(_half(HOUSE_KINDS, held_out))}"
        parts = [house, _street(fake, rng)] if rng.random() < 0.7 else [f"The {house}", fake.street_name()]
    else:
        road = _street(fake, rng)
        parts = [rng.choice(RURAL_ROUTES).format(a=rng.randint(1, 12), n=rng.randint(1, 400), road=road)]
    return ("\n" if rng.random() < 0.2 else ", ").join(parts)
