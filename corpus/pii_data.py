"""Synthetic labelled support tickets for training and checking the PII token classifier.

Faker supplies the personal values (names of 40 locales, street addresses and postcodes of 16, dates of birth);
hand-written ticket fragments put them where a real history does: introductions, sign-offs, a relative's line,
an engineer's visit, a delivery address. Around them sit the things that must survive: real town and country
names, handset models, plan names, menu paths, telecom terms and dates that are not birth dates. Names come in
title, lower and upper case. Each example is `(text, spans)` with character spans labelled NAME, ADDRESS,
POSTCODE or DATE_OF_BIRTH; the structured kinds (phones, e-mails, numbers) are left to validators.

`split="dev"` draws from fragments and locales the training split never sees, so the dev figures measure
phrasing and origins the model was not trained on. `split="fresh"` is an evaluation set for the benchmark: the dev
fragments with name and address locales that neither training nor dev uses, and held-out house and building
names (corpus/pii_addresses.py); its names are also absent from the name lists the scrubber's rules read.
"""

from __future__ import annotations

import importlib
import random
import re
from collections.abc import Iterator
from datetime import date, timedelta
from functools import cache

from faker import Faker

from corpus.pii_addresses import street_address

LABELS = ("NAME", "ADDRESS", "POSTCODE", "DATE_OF_BIRTH")
Example = tuple[str, list[tuple[int, int, str]]]

_NAME_LOCALES = {
    "train": (
        "en_US", "en_GB", "en_IE", "ga_IE", "en_IN", "en_NG", "yo_NG", "ig_NG", "ha_NG", "tw_GH", "sw", "zu_ZA",
        "en_PK", "de_DE", "fr_FR", "es_ES", "es_MX", "it_IT", "nl_NL", "pl_PL", "pt_BR", "sv_SE", "fi_FI",
        "tr_TR", "ro_RO", "cs_CZ", "hu_HU", "vi_VN", "id_ID", "hr_HR", "ja_JP", "zh_CN",
    ),
    "dev": ("en_KE", "pt_PT", "da_DK", "no_NO", "lt_LT", "sk_SK", "fil_PH", "zh_TW"),
    "fresh": ("sl_SI", "et_EE", "lv_LV", "de_AT", "de_CH", "fr_CH", "nl_BE", "es_CO", "es_AR", "es_CL", "fr_CA",
              "az_AZ", "uz_UZ"),
}  # fmt: skip
_ADDRESS_LOCALES = {
    "train": ("en_GB", "en_US", "en_IE", "en_AU", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL", "en_IN",
              "zu_ZA", "pt_BR", "sv_SE", "fi_FI", "hu_HU", "es_MX", "en_GB", "en_US", "en_IE"),
    "dev": ("en_CA", "en_NZ", "id_ID", "en_GB"),
    "fresh": ("de_AT", "de_CH", "fr_CH", "nl_BE", "pt_PT", "da_DK", "no_NO", "fr_CA", "sk_SK", "hr_HR",
              "cs_CZ", "en_NZ", "en_CA"),
}  # fmt: skip
# Locales whose Faker names are in another script; their romanised names are used instead.
_ROMANISED = ("ja_JP", "zh_CN", "zh_TW")

TOWNS = """London Manchester Birmingham Glasgow Edinburgh Cardiff Belfast Dublin Cork Galway Bristol Bath Oxford
Cambridge Norwich York Leeds Sheffield Newcastle Sunderland Durham Nottingham Leicester Derby Coventry Reading
Swindon Exeter Plymouth Truro Brighton Southampton Portsmouth Aberdeen Dundee Inverness Swansea Wrexham Lincoln
Hull Preston Blackpool Bolton Wigan Stockport Salford Chester Lancaster Carlisle Kendal Paris Lyon Marseille
Nice Toulouse Bordeaux Lille Berlin Munich Hamburg Cologne Frankfurt Stuttgart Vienna Zurich Geneva Madrid
Barcelona Seville Valencia Malaga Lisbon Porto Rome Milan Naples Florence Venice Turin Amsterdam Rotterdam
Brussels Antwerp Copenhagen Stockholm Oslo Helsinki Warsaw Krakow Prague Budapest Athens Istanbul Dubai
Lagos Abuja Accra Nairobi Johannesburg Cairo Mumbai Delhi Bengaluru Chennai Karachi Lahore Dhaka Singapore
Sydney Melbourne Brisbane Perth Auckland Wellington Toronto Vancouver Montreal Boston Chicago Houston Phoenix
Seattle Denver Miami Atlanta Dallas Austin Orlando Tokyo Osaka Seoul Beijing Shanghai Manila Jakarta""".split()
TOWNS += ["New York", "San Francisco", "Los Angeles", "Hong Kong", "Kuala Lumpur", "Cape Town", "Tel Aviv",
          "Milton Keynes", "St Albans", "Hemel Hempstead", "Stoke-on-Trent", "Newcastle upon Tyne"]  # fmt: skip
COUNTRIES = """Spain France Italy Germany Portugal Greece Turkey Ireland Scotland Wales England Poland Romania
Nigeria Ghana Kenya India Pakistan Bangladesh China Japan Australia Canada Mexico Brazil Morocco Egypt Thailand
Vietnam Croatia Netherlands Belgium Switzerland Austria Sweden Norway Denmark Finland America""".split()
HANDSETS = """iPhone 15|iPhone 15 Pro Max|iPhone 14|iPhone 13 mini|iPhone SE|iPhone 16|Galaxy S23|Galaxy S24 Ultra|
Galaxy A54|Galaxy A15|Galaxy Z Fold5|Galaxy Z Flip6|Pixel 8|Pixel 8a|Pixel 7 Pro|Pixel 9|Moto G54|Moto G84|
Motorola Edge 40|Xiaomi Redmi Note 12|Xiaomi 14|OnePlus 12|OnePlus Nord 3|Nokia G22|Nokia C32|Sony Xperia 10 V|
Oppo Find X5|Honor Magic6|Huawei P30|Nothing Phone 2|Apple Watch SE|Galaxy Watch6|iPad Air|Galaxy Tab A9|
Doro 8100|Fairphone 5|TCL 40 SE""".replace("\n", "").split("|")
PLANS = """Unlimited Max|Unlimited Plus|Unlimited Lite|SIM Only 12GB|SIM Only 50GB|SIM Only Unlimited|Family Share|
Pay As You Go|Essentials|Essentials Plus|Roam Further|Roam Abroad add-on|Business Pro|Smart 20GB|Data Booster|
International Saver|Home Broadband 500|Full Fibre 900|Fibre Essentials|TV Entertainment bundle|Netflix add-on|
Student 30GB|Travel Pass|EU Roaming Pass|Kids Safe plan|Global Roamer""".replace("\n", "").split("|")
MENUS = """Settings > Mobile network > Data roaming|Settings > Connections > Mobile networks > Access Point Names|
Settings > Network & internet > SIMs|Settings > Mobile Data > Mobile Data Options|Settings > Phone > Wi-Fi Calling|
Settings > General > Reset > Reset Network Settings|Settings > Connections > Wi-Fi Calling|Settings > Messages >
MMS Messaging|Settings > Cellular > Personal Hotspot|Settings > General management > Reset|Account > Billing >
Payment method|My Account > SIM > PUK code|Settings > Mobile network > Preferred network type|Settings > Calls >
Call forwarding|Settings > Apps > Messages > Storage > Clear cache|Settings > Battery > Adaptive battery|
Settings > Cellular > Cellular Data Options > Voice & Data|Settings > Security > SIM card lock|Settings > About
phone > Status > IMEI information""".replace("\n", "").split("|")
TERMS = """APN|VoLTE|VoWiFi|eSIM|PUK|PIN|SIM|MMS|SMS|5G|4G|5G SA|5G NSA|LTE|roaming|hotspot|tethering|PAC code|
STAC code|MMSC|IMS|RCS|NFC|Wi-Fi Calling|data cap|fair use policy|porting|signal booster|femtocell|dual SIM|
network unlock|Bluetooth|mobile data|voicemail|call barring|caller ID""".replace("\n", "").split("|")
STREET_WORDS = frozenset(
    "street st road rd lane avenue ave drive close way court place square terrace grove gardens park hill crescent"
    " parade mews row walk view rise green vale".split()
)

# Ticket fragments. Slots: {name} a full name, {first} a first name, {agent} an agent's first name, {address} a
# street address, {postcode}, {dob} a date of birth; the rest fill with things that must survive. A fragment
# whose name ends in `_dev` is kept for the dev split only.
_QUESTION = {
    "intro": [
        "hi my name is {name}", "Hello, I'm {name}.", "this is {name}", "{name} here.", "It's {name} again.",
        "My name's {name} and", "hi its {name},", "Hi, {name} speaking.", "name: {name}", "Account holder: {name}.",
        "Good morning, {name} here from {town}.", "I am {name}, the account holder.",
    ],
    "intro_dev": ["hey, {name} here", "Hiya, it's {name}.", "Customer: {name}."],
    "issue": [
        "my {handset} keeps dropping calls since the update.", "I have no signal in {town} since {date}.",
        "why was I charged for {term} on my {plan}?", "I can't find {menu} on my {handset}.",
        "the {term} stopped working when I travelled to {country}.", "please move me to {plan}.",
        "my bill dated {date} is higher than usual.", "is there an outage in {town}?",
        "I'm going to {town} next week, does my {plan} work there?", "how do I set up {term} on a {handset}?",
        "my contract ends on {date}, can I upgrade to the {handset}?", "{term} is greyed out under {menu}.",
        "I was in {country} from {date} and got roaming charges.", "The {handset} I bought in {town} won't charge.",
        "Texts aren't arriving on my {handset}.", "Can I add {plan} to my account?",
    ],
    "issue_dev": ["Since {date} my {handset} says no service in {town}.", "Does {plan} include {term}?"],
    "person": [
        "My son {name} has a line on my account.", "my wife {first} can't make calls.",
        "Please add {name} as an authorised user.", "The engineer {name} didn't turn up.",
        "I spoke to {name} yesterday and was promised a credit.", "My mum, {name}, needs a simpler phone.",
        "Can {first} collect the phone for me?", "The line is in my husband's name, {name}.",
        "an agent called {agent} told me it was fixed", "Contact is {name}.", "{first}'s phone was stolen.",
        "my daughter {name} is moving to {town}.", "The account holder is {name}.", "It's for my dad {name}.",
        "I'm calling for my neighbour {name}, who is {age}.",
    ],
    "person_dev": ["{name} from your {town} store sold me this.", "please speak to my partner {first} instead."],
    "address": [
        "Please update my address to {address}, {town} {postcode}.", "I moved to {address}, {postcode}.",
        "Ship the SIM to {address}, {town}, {postcode}.", "no signal at home, {address}, {town} {postcode}",
        "Deliver the router to {address} please.", "my address is {address} {postcode}",
        "The engineer should come to {address}, {postcode} {town}.", "Send the returns bag to {address}.",
        "postcode {postcode} if that helps with coverage.", "Is fibre available at {address}, {postcode}?",
        "My address is:\n{address}\n{town}\n{postcode}", "Address:\n{address}\n{town} {postcode}",
        "please post the bill to {address} instead", "Can you deliver to my work, {address}, {town}?",
        "it's a new build so no postcode yet, the address is {address}, {town}",
        "The billing address should be {address}, not my old one.", "i live at {address} {town}",
        "Send it to:\n{address}\n{postcode} {town}", "no coverage indoors at {address}",
    ],
    "address_dev": ["New address: {address}, {town}, {postcode}.", "we live at {address} near {town}.",
                    "Delivery address -\n{address}\n{town}", "can the engineer come to {address} on friday"],
    "dob": [
        "Date of birth {dob} for security.", "DOB: {dob}.", "my date of birth is {dob}", "born {dob}",
        "I was born on {dob}.", "d.o.b {dob}", "birthday {dob}, if you need it.", "DOB {dob}, postcode {postcode}.",
    ],
    "dob_dev": ["My birth date is {dob}.", "(dob {dob})"],
    # Identifiers the validators catch: the model sees them as context, labelled O.
    "contact": [
        "call me back on {phone}", "my number is {phone}.", "email me at {email}", "Account number {number}.",
        "customer ID {number}", "IMEI {number}", "order ref {number}, paid {amount}.", "text {phone} please",
    ],
    "contact_dev": ["reach me on {phone} or {email}"],
}
_ANSWER = {
    "greet": ["Hi {first},", "Hello {first}.", "Thanks {first}.", "Dear {name},", "Hi {first}, thanks for waiting.",
              "Dear Mr {last},", "Dear Ms {last},", "Hello {name},", "Thanks for getting in touch, {first}."],
    "greet_dev": ["Good afternoon {first},"],
    "body": [
        "please check {menu} and restart the {handset}.", "there is a fault in {town} which engineers expect "
        "to fix by {date}.", "{term} is included in {plan}.", "I've credited your account and {first} will "
        "get a text to confirm.", "we've sent a new SIM to the address on your account.", "I've moved you to "
        "{plan} from your next bill.", "{term} needs VoLTE to be on first: {menu}.", "Roaming in {country} is "
        "covered by {plan}.", "I've passed this to {agent} in our {town} team.",
        "your new SIM is on its way to {address}.", "I've updated your address to {address}, {postcode}.",
        "the engineer will visit {address} on {date}.",
    ],
    "body_dev": ["{term} works on the {handset} once you open {menu}.", "We'll post it to {address} today."],
    "sign": ["Regards, {agent}", "Kind regards,\n{agent}", "Thanks, {agent} (support team)", "- {agent}",
             "Best wishes, {agent} at the help desk", "Cheers, {agent}"],
    "sign_dev": ["Speak soon, {agent}"],
}
_DOB_FORMATS = ("%d/%m/%Y", "%d/%m/%y", "%Y-%m-%d", "%d.%m.%Y", "%d %B %Y", "%B %d, %Y", "%d-%m-%Y",
                "%-d %b %Y", "%m/%d/%Y", "{ord} of %B %Y", "%-d %B %Y", "%d %b %y")  # fmt: skip
_SLOT = re.compile(r"\{(\w+)\}")


@cache
def _faker(locale: str) -> Faker:
    return Faker(locale)


def _ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _case(value: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.25:
        return value.lower()
    return value.upper() if roll < 0.3 else value


class _Source:
    """Personal values and decoys, drawn from one split's locales."""

    def __init__(self, split: str, rng: random.Random):
        self.split, self.rng = split, rng

    def person(self) -> tuple[str, str, str]:
        locale = self.rng.choice(_NAME_LOCALES[self.split])
        fake = _faker(locale)
        fake.seed_instance(self.rng.getrandbits(32))
        if locale in _ROMANISED:
            first, last = fake.first_romanized_name(), fake.last_romanized_name()
        else:
            first, last = fake.first_name(), fake.last_name()
        roll = self.rng.random()
        if roll < 0.15 and locale not in _ROMANISED:
            full = f"{first} {fake.first_name()} {last}"
        elif roll < 0.22:
            full = f"{first} {last}-{fake.last_name()}"
        else:
            full = f"{first} {last}"
        return first, last, full

    def address(self) -> tuple[str, str]:
        """A street address (corpus/pii_addresses.py: flats, PO boxes, rural, several lines) and a postcode."""
        locale = self.rng.choice(_ADDRESS_LOCALES[self.split])
        fake = _faker(locale)
        fake.seed_instance(self.rng.getrandbits(32))
        return street_address(fake, self.rng, held_out=self.split != "train"), fake.postcode()

    def dob(self) -> str:
        born = date(1935, 1, 1) + timedelta(days=self.rng.randint(0, 365 * 72))
        fmt = self.rng.choice(_DOB_FORMATS).replace("{ord}", _ordinal(born.day))
        return born.strftime(fmt)

    def other_date(self) -> str:
        when = date(2022, 1, 1) + timedelta(days=self.rng.randint(0, 1200))
        return when.strftime(self.rng.choice(("%d/%m/%Y", "%Y-%m-%d", "%-d %B", "%B %-d", "%-d %b %Y", "%A")))


def _fill(template: str, values: dict[str, tuple[str, str | None]]) -> Example:
    """Fill `{slot}`s, recording the character span of each labelled value."""
    text, spans, cursor = [], [], 0
    length = 0
    for match in _SLOT.finditer(template):
        literal = template[cursor : match.start()]
        text.append(literal)
        length += len(literal)
        value, label = values[match.group(1)]
        if label:  # one span per line: the model never joins an entity across a line break
            offset = length
            for line in value.split("\n"):
                if line.strip():
                    lead = len(line) - len(line.lstrip())
                    spans.append((offset + lead, offset + lead + len(line.strip()), label))
                offset += len(line) + 1
        text.append(value)
        length += len(value)
        cursor = match.end()
    text.append(template[cursor:])
    return "".join(text), spans


def _join(parts: list[Example], rng: random.Random) -> Example:
    text, spans = "", []
    for piece, piece_spans in parts:
        closed = text.rstrip().endswith((".", ",", "!", "?", ":"))
        sep = "" if not text else rng.choice((" ", "\n") if closed else (" ", "\n", ". ", ", "))
        offset = len(text) + len(sep)
        text += sep + piece
        spans += [(s + offset, e + offset, k) for s, e, k in piece_spans]
    return text, spans


def _fragments(table: dict[str, list[str]], group: str, split: str) -> list[str]:
    return table[f"{group}_dev"] if split in ("dev", "fresh") else table[group]


_LOREM_LOCALES = ("en_US", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL", "da_DK")


@cache
def template_sentences() -> tuple[str, ...]:
    """Questions and answers of the project's template corpus: telecom wording with no personal data."""
    from corpus.glossary import load_glossary
    from corpus.scenarios import build_scenarios
    from corpus.settings import CorpusConfig, SplitFractions
    from corpus.templates import TemplateExpander

    glossary = load_glossary(CorpusConfig().glossary)
    expander = TemplateExpander(glossary, seed=0)
    scenarios = build_scenarios(glossary, SplitFractions(), seed=0, max_scenarios=400)
    texts = [text for sc in scenarios for pair in expander.expand(sc, 2).pairs for text in pair]
    # Sentences, not whole answers: a ticket fragment is a sentence or two.
    return tuple(sorted({s.strip() for t in texts for s in re.split(r"(?<=[.?!])\s+|\n", t) if len(s) > 20}))


@cache
@cache
def first_and_last_names() -> tuple[frozenset[str], frozenset[str]]:
    """Faker's first names and last names (casefolded) of the locales this module draws from, apart."""
    first: set[str] = set()
    last: set[str] = set()
    for locale in {*_NAME_LOCALES["train"], *_NAME_LOCALES["dev"], *_LOREM_LOCALES}:
        try:
            provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        except ModuleNotFoundError:
            continue
        for attr, into in (("first_names", first), ("last_names", last)):
            into.update(str(name).casefold() for name in getattr(provider, attr, ()) if " " not in str(name))
    return frozenset(first), frozenset(last)


def name_words() -> frozenset[str]:
    """Every first and last name (casefolded words) of the Faker locales this module draws from."""
    words: set[str] = set()
    for locale in {*_NAME_LOCALES["train"], *_NAME_LOCALES["dev"], *_LOREM_LOCALES}:
        try:
            provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        except ModuleNotFoundError:  # a locale whose names Faker draws from another locale's provider
            continue
        for attr in ("first_names", "last_names", "first_romanized_names", "last_romanized_names"):
            for name in getattr(provider, attr, ()):
                words.update(str(name).casefold().replace("-", " ").split())
    return frozenset(words)


def filler(rng: random.Random) -> str:
    """A sentence with nothing personal in it: the template corpus's wording, or Faker's lorem words of one of
    eight languages, so that an unfamiliar word is not taken for a name just for being unfamiliar."""
    if rng.random() < 0.5:
        return rng.choice(template_sentences())
    fake = _faker(rng.choice(_LOREM_LOCALES))
    fake.seed_instance(rng.getrandbits(32))
    return fake.sentence(nb_words=rng.randint(4, 14))


def synthetic_tickets(n: int, seed: int = 0, split: str = "train") -> Iterator[Example]:
    """`n` labelled texts (questions and answers alternating) of the given split."""
    rng = random.Random(seed)
    source = _Source(split, rng)
    for i in range(n):
        first, last, full = source.person()
        lower = rng.random() < 0.3
        name = full.lower() if lower else _case(full, rng)
        first_as = name.split()[0]
        agent = _case(source.person()[0], rng)
        street, postcode = source.address()
        fake = _faker(rng.choice(_ADDRESS_LOCALES[split]))
        if rng.random() < 0.15:
            street = street.lower()
        values = {
            "name": (name, "NAME"), "first": (first_as if rng.random() < 0.6 else first, "NAME"),
            "last": (last, "NAME"), "agent": (agent, "NAME"), "address": (street, "ADDRESS"),
            "postcode": (postcode, "POSTCODE"), "dob": (source.dob(), "DATE_OF_BIRTH"),
            "town": (rng.choice(TOWNS) if rng.random() < 0.7 else fake.city(), None),
            "country": (rng.choice(COUNTRIES), None),
            "handset": (_case(rng.choice(HANDSETS), rng), None), "plan": (rng.choice(PLANS), None),
            "menu": (rng.choice(MENUS), None), "term": (rng.choice(TERMS), None), "date": (source.other_date(), None),
            "age": (str(rng.randint(60, 95)), None), "phone": (fake.phone_number(), None),
            "email": (fake.email(), None), "number": (str(rng.randint(10**5, 10**15)), None),
            "amount": (f"£{rng.randint(1, 300)}.{rng.randint(0, 99):02d}", None),
        }  # fmt: skip
        if i % 2 == 0:
            groups = rng.sample(["intro", "person", "address", "dob", "contact"], k=rng.randint(0, 3))
            groups.insert(rng.randint(0, len(groups)), "issue")
            if rng.random() < 0.15:
                groups = ["issue"]
            parts = [_fill(rng.choice(_fragments(_QUESTION, g, split)), values) for g in groups]
        else:
            groups = [g for g in ("greet", "body", "sign") if rng.random() < 0.75] or ["body"]
            parts = [_fill(rng.choice(_fragments(_ANSWER, g, split)), values) for g in groups]
        if rng.random() < 0.35:
            parts.insert(rng.randint(0, len(parts)), (filler(rng), []))
        if rng.random() < 0.1:
            parts = [(filler(rng), [])]
        text, spans = _join(parts, rng)
        yield (text.lower(), spans) if rng.random() < 0.08 else (text, spans)
