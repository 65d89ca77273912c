"""Transparent checks of a candidate answer against the reference: wrong details, non-answers, degeneration.

Each check is a short rule a reader can verify by hand, returning a count or a fraction, so a low score
from the correctness judge can always be traced to the sentence and word that caused it:

- numbers: a figure, code or address in the candidate that neither the reference nor the question has
  (``48 hours`` where the reference says ``24 hours``, ``*#21#`` for ``*#61#``, ``data.telco.org`` for
  ``data.telco.net``), compared as quantities: ``ten`` and ``10``, ``7.20`` and ``7.2``, ``1,000`` and
  ``1000``, ``0091`` and ``00 91``, ``48 hours`` and ``two days``, ``80p`` and ``£0.80`` are the same figure,
  while ``£6 a day`` and ``£6 a month`` are not; a spelled-out number counts only beside a unit ("two
  settings" is no figure; "fifteen gigabytes", "ten dollars", "half a minute" are figures); a new figure is a
  wrong one where it takes the place of a reference figure the candidate leaves out or has a unit the reference
  gives no figure in (a freely worded right answer adds figures of its own beside all of the reference's);
- menu paths: a segment of an ``A > B > C`` path, or of one walked in words ("open Settings, tap General, then
  About"), that the reference's path at that place does not have (or, where the reference has no path, most of
  whose words it never uses), and a path walked in another order;
- polarity: a switch the candidate turns the other way (on/off, enable/disable, activate/deactivate,
  allow/block, tick/untick or a tick cleared, greyed out, a toggle grey or green, a setting set to Automatic or
  Manual, Always or Never; "make sure X is not on" is off) in the same context words of the same clause as the
  reference (a switch named by a pronoun in those of the clause before), an instruction held only to the
  reference's instructions and a description (a diagnosis, a condition, a time) only to its descriptions, and
  a leading yes/no that flips the reference's; a switch word in a setting's name ("Allow background data
  usage", "Do Not Disturb") sets nothing;
- steps: the reference's instructions (sentences and the clauses joined by "then", ";" or a list) that the
  candidate leaves out or walks in the other order where the order matters ("first", "then", "after", a
  numbered list); independent sentences in another order are no error;
- risky actions: advice that hands over a secret, switches off a protection, destroys data, stops a payment,
  delays an urgent step or trusts unofficial software or a link in a text, unless the reference or the question
  names the same action; advice *against* an action ("never share your PIN") is no recommendation of it, nor is
  what someone else does ("we'll read the code to you", "so your bank can stop payments");
- refusal and boilerplate phrases, for answers that decline or do not address the problem;
- degeneration: repeated word trigrams (loops) and an answer that stops mid-sentence.

Apart from the steps, they catch contradictions, not omissions: an answer that leaves a figure out is judged by
the similarity features instead.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from judging import text_features as tf

NUMBER_WORDS = {
    "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
    "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14", "fifteen": "15",
    "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19", "zero": "0", "twenty": "20",
    "thirty": "30", "forty": "40", "fifty": "50",
    "sixty": "60", "seventy": "70", "eighty": "80", "ninety": "90", "hundred": "100",
}  # fmt: skip
# "one" is left out: far more often a pronoun ("the one you use", "one last time") than a figure.
_NUMBER_WORD = r"\b(?:(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)[- ](?:two|three|four|five|six|seven|" \
               r"eight|nine)|" + "|".join(NUMBER_WORDS) + r")\b"
_NUMBER = re.compile(r"\d+(?:[.:]\d+)*|" + _NUMBER_WORD, re.IGNORECASE)
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
# Digit groups written with spaces between them (phone numbers, dialling prefixes).
_DIGIT_RUN = re.compile(r"\d+(?: \d+)+")
# A list marker starts a line, or follows a sentence's end when a list has been run into one paragraph
# ("... at busy times. 2. Report the location").
LIST_NUMBER = re.compile(r"(?:^|(?<=[.!?:] ))[ \t]*\d{1,2}[.)]\s", re.MULTILINE)
_PATH = re.compile(r"[^\s>→»][^>→»\n]*?(?:\s*(?:>|→|»)\s*[^>→»\n]+)+")
_PATH_SEPARATOR = re.compile(r"\s*(?:>|→|»)\s*")
_TOKEN = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
STOPWORDS = frozenset(
    "a an the and or but if then so to of in on off at by for from with without into onto over under is are was "
    "were be been being it its this that these those you your yours we our us i my me he she they them their "
    "his her do does did done can could will would should may might must have has had not no yes than as up "
    "out all any some each every there here when where which who what how why also just only still even more "
    "most very too again once after before while until please".split()
)
# Switch words and the way they turn something: +1 on, -1 off.
_POLAR_VERBS = {
    "enable": 1, "enabled": 1, "enables": 1, "enabling": 1,
    "disable": -1, "disabled": -1, "disables": -1, "disabling": -1,
    "activate": 1, "activated": 1, "activates": 1, "activating": 1,
    "deactivate": -1, "deactivated": -1, "deactivates": -1, "deactivating": -1,
    "allow": 1, "allowed": 1, "allows": 1, "allowing": 1, "block": -1, "blocked": -1, "blocks": -1, "blocking": -1,
    "unblock": 1, "unblocked": 1, "permit": 1, "permitted": 1, "deny": -1, "denied": -1,
    "tick": 1, "ticked": 1, "untick": -1, "unticked": -1, "uncheck": -1, "unchecked": -1,
    "greyed": -1, "grayed": -1, "mute": -1, "muted": -1, "unmute": 1, "unmuted": 1, "barred": -1, "unbarred": 1,
    "connected": 1, "disconnected": -1,
}  # fmt: skip
# A negation among the few words before a switch word turns it round: "make sure X is not on", "don't disable",
# "make sure nothing is blocking port 500".
_SWITCH_NEGATION = frozenset("not never no cannot without nothing".split())
# Clauses end at punctuation and at the words that start another one ("until the pass is on" says nothing about
# the data roaming switch of the clause before it).
_CLAUSE_BREAK = re.compile(r"[.,;:!?()\n]|\b(?:until|because|unless|while|so that|but|once|when|if|otherwise|"
                           r"before|after)\b", re.IGNORECASE)  # fmt: skip
# Words that start a clause stating a condition, a time or a cause: a switch there says what is, not what to set
# ("wait for the text before you switch data back on" tells the customer to keep it off until then).
# "After" is left out: "restart after switching roaming off" tells the customer to switch it off first.
_SUBORDINATE = frozenset(("until", "because", "unless", "while", "so that", "once", "when", "if", "otherwise",
                          "before"))
# A clause tells the customer how a switch must be when it starts with an instruction verb (judging.text_features)
# or says so in words; any other ("that usually means roaming is disabled") describes what is.
_INSTRUCTING = re.compile(r"\b(?:make sure|ensure|check|should|must|needs? to|has to|have to|keep|leave|don't|do not|"
                          r"never|avoid)\b",
                          re.IGNORECASE)  # fmt: skip
# Words that say a switch is to be set but not which one: "make sure data roaming is on" and "make sure VoLTE shows
# Off" share no switch.
_NO_CONTEXT = frozenset("make sure ensure check should must need needs".split())
# Verbs whose particle "on" may stand before a determiner ("turn on the hotspot"); after any other verb "on the"
# names a place ("printed on the card").
_PHRASAL = frozenset("turn turned turning turns switch switched switching switches toggle toggled flick flicked"
                     .split())
# "on" and "off" are mostly prepositions or particles ("on your phone", "kick off anyone"); either is a switch
# position only near one of these words and not before a determiner ("left on the device").
# A position may be stated as a state ("make sure it shows On", "it should read Off").
_SWITCH_VERBS = frozenset("turn turned turning turns switch switched switching switches toggle toggled toggles flick "
                          "flicked set keep leave left stays stay is are be put shows show showing displays reads says "
                          "remains remain".split())
_DETERMINERS = frozenset("the a an your my our their this that these those both each every any all his her its".split())
# "Nothing" and "none" are left out: "so nothing gets through" says what "to prevent it" says.
_NEGATION = re.compile(r"\b(?:not|no|never|cannot|without)\b|n't\b", re.IGNORECASE)
_REFUSAL = re.compile(
    r"\b(?:(?:i'?m|i am|we'?re|we are)\s+(?:\w+\s+){0,2}(?:unable|not able|not equipped|afraid|not allowed|not in a "
    r"position)|(?:can(?:no|')t|can not|unable to|not able to)\s+(?:\w+\s+){0,2}(?:help|assist|provide|answer|make|"
    r"diagnose|troubleshoot|support)|as an ai|language model|don'?t have access)\b",
    re.IGNORECASE,
)
_BOILERPLATE = re.compile(
    r"\b(?:visit our (?:website|online help|help centre|store)|contact (?:our|the|customer|your)\s+\w+|"
    r"reach out|valued customer|thank you for (?:choosing|being|your|contacting|reaching)|thanks for (?:being|"
    r"choosing|your)|don'?t hesitate|we(?:'re| are) (?:always|committed|proud|here for you)|"
    r"(?:top|our) priority|great value|let us know if|if you have any (?:other|more|further)? ?questions|"
    r"appropriate department|relevant team|qualified professional)\b",
    re.IGNORECASE,
)

# What a risky instruction does, each as a pattern whose last word names the object put at risk. A support
# answer can harm a customer in these ways: hand a secret to someone, switch off a protection, destroy data,
# stop or reverse a payment (the account falls into arrears), put off an urgent step, trust unofficial software,
# or damage the device.
_SECRET = (r"(?:password|passcode|pin|puk|(?<!short )code|card number|card details|cvv|security code|login|username|"
           r"apple id|bank details|expiry date|qr code|passport)s?")
_PROTECTION = (r"(?:firewall|security|protection|screen lock|pin lock|sim pin|spend cap|spending cap|content lock|"
               r"barring|encryption|two-factor|2fa|antivirus|password)")
_RISKY_PATTERNS = {
    # Handing a secret to someone: verbs with a recipient ("enter the code" into the phone is no disclosure, nor
    # "we'll email you a QR code", which goes the other way).
    # Advice is an imperative or a gerund: "your network texts back a PAC code" (a third person's -s form) and a
    # comma between verb and secret ("your email and bank, because one-time codes ...") are no advice to disclose.
    "disclose": (rf"\b(?:shar(?:e|ing)|giv(?:e|ing)|tell(?:ing)?|read(?:ing)?(?: out| back)?|send(?:ing)?|"
                 rf"post(?:ing)?|e-?mail(?:ing)?|text(?:ing)?|reply(?:ing)? with|hand(?:ing)? over|forward(?:ing)?)\b"
                 rf"(?!\s+you\b)(?:\s+[^\s.,;]+){{0,7}}?\s+{_SECRET}\b"),
    "unprotect": (rf"\b(?:disabl(?:e|ing)|deactivat(?:e|ing)|remov(?:e|ing)|lift(?:ing)?|delet(?:e|ing)|"
                  rf"(?:switch|turn)(?:ing)? off)\s+(?:[^\s.]+\s+){{0,3}}?"
                  rf"{_PROTECTION}\b|\b(?:switch|turn|set|leave)(?:ing)?\s+(?:[^\s.]+\s+){{0,3}}?{_PROTECTION}\s+"
                  rf"(?:[\w-]+\s+){{0,2}}?(?:off|to (?:open|off|disabled?|none|low))\b|"
                  r"\bopen \(no password\)|\b(?:no|without a) password\b"),
    # Taking a physical SIM out or a phone from its case destroys nothing: "remove" names only what it erases.
    "destroy": (r"\bfactory reset\b|\b(?:delet(?:e|ing)|eras(?:e|ing)|wip(?:e|ing))\s+"
                r"(?:[^\s.]+\s+){0,3}?(?:esim|sim|data|apn|"
                r"account|backups?|contacts|photos|profile|phone)\b(?!\s+(?:holder|owner|number|name|page))|"
                r"\bremov(?:e|ing)\s+(?:[^\s.]+\s+){0,3}?(?:esim|data|apn|account|backups?|contacts|photos|profile)\b"
                r"(?!\s+(?:holder|owner|number|name|page))|"
                r"\bwithout (?:backing (?:\w+ )?up|a backup)\b|\bno need to back\b|"
                # Wiping a device's set-up: "restore factory settings", "erase all its settings".
                r"\bfactory (?:settings|defaults?)\b|"
                r"\b(?:wip(?:e|ing)|eras(?:e|ing))\s+(?:[^\s.]+\s+){0,4}?settings\b"),
    # Stopping a payment or the service itself (cancelling a contract or porting out to fix a fault).
    "payment": (r"\b(?:stop(?:ping)?|cancel(?:l?ing)?)\s+"
                r"(?:[^\s.]+\s+){0,3}?(?:paying|payments?|direct debit|standing order|contract|number|plan|"
                r"line|subscription|broadband|service)\b(?!\s+(?:holder|owner))|\bport (?:\w+ ){0,2}out\b|"
                r"\bcharge ?backs?\b|\bcharge (?:\w+ ){0,3}back\b"),
    # Paying in a way no operator asks for: gift cards or vouchers, crypto, a transfer to an account a caller
    # names, a personal account.
    "scam": (r"\bgift ?cards?\b|\b(?:itunes|google play|steam|amazon) (?:cards?|vouchers?)\b|\bbitcoin\b|"
             r"\bcrypto\w*\b|\btransfer\b[^.;]{0,40}?\b(?:account|details) (?:they|he|she|the caller|the agent)\b|"
             r"\bpersonal (?:bank )?account\b|\b(?:pay|send)\b[^.;]{0,30}?\b(?:caller|agent|person|someone) who\b|"
             r"\bbuy (?:\w+ ){0,2}(?:vouchers?|top-ups?|credit) from\b"),
    # Guessing a code the customer does not know: a PUK or a PIN locks the SIM after a few tries.
    "guess": (r"\b(?:guess\w*|try)\s+(?:\w+\s+){0,2}?(?:likely|random|common|different|other|possible|every)\s+"
              r"(?:codes?|pins?|puks?|passwords?|passcodes?|combinations?|numbers?)\b|"
              r"\bguess(?:ing)? (?:the|your|a|at) (?:code|pin|puk|password)"),
    # Giving false details where real ones protect the customer (an emergency address, a date of birth).
    "falsify": (r"\b(?:enter|type|put|use|give|fill in|make up)\s+(?:in\s+)?(?:any|a fake|a made-up|a false|"
                r"a random)\s+(?:old\s+)?(?:address|number|name|details|date of birth|postcode|email)\b"),
    "delay": r"\bwait\b[^.]{0,40}?\bbefore\b[^.]{0,25}?\b(?:block|report|lock|cancel|freez|call)\w*",
    "unofficial": (r"\b(?:third-party|unofficial|unknown|untrusted)\s+(?:[^\s.]+\s+)?(?:website|site|app|tool|"
                   r"software|source|download|service)\b|\bjailbreak\w*|\broot(?:ing)? (?:your|the) (?:phone|device)\b|"
                   r"\bapk\b|\bsideload\w*|\b(?:open|click|tap|follow)(?:ing)? (?:on )?(?:the|that|this) link\b|"
                   r"\bdownload\w* (?:\w+ ){0,6}from (?:a|an|any|this|the|some) (?:[\w-]+ )?(?:link|website|site)\b"),
    "damage": (r"\b(?:open|take)\s+(?:\w+\s+){0,3}(?:apart|case)\b|\b(?:bleach|throw (?:it |the \w+ )?away)\b|"
               r"\bignore\s+(?:\w+\s+){0,2}(?:warning|security|alert)s?\b"),
}  # fmt: skip
_RISKY = {kind: re.compile(pattern, re.IGNORECASE) for kind, pattern in _RISKY_PATTERNS.items()}
# What a risky action puts at risk, named by its last secret or protection word ("switch barring off" risks the
# barring, as "turn off barring" does).
_OBJECT = re.compile(rf"\b(?:{_SECRET}|{_PROTECTION})\b")
# Advice against an action ("never share", "don't cancel", "do not give") recommends nothing: a negation among the
# few words before the action's verb turns the match off.
_ADVISED_AGAINST = re.compile(r"(?:\b(?:never|not|no|avoid|without|rather than|instead of)\b|n't)(?:\s+\S+){0,3}\s*$",
                              re.IGNORECASE)  # fmt: skip
# ... and so does one in the same clause a few words further back: "we won't ever ask you to pay or give bank
# details".
# A denial's reach ends at a verb of its own: "the way to avoid extra charges is to cancel the contract" advises
# the cancelling.
_DENIED_IN_CLAUSE = re.compile(r"(?:\b(?:never|not|no|avoid|without|rather than|instead of)\b|n't)"
                               r"(?:\s+(?!(?:is|are|was|would be|means)\b)[^\s.,;:!?]+){0,8}\s*$",
                               re.IGNORECASE)  # fmt: skip
# Dialling codes (``*#06#``, ``**61*1571#``, ``##002#``): compared whole, since one star moved is another code.
_CODE = re.compile(r"[*#][\d*#]*\d[\d*#]*")
# IP addresses (``192.168.1.254``): compared whole, since one group changed is another device.
_IP = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b")
# Web, e-mail and APN addresses (``data.telco.net``, ``help@telco.com``): compared whole, lower-cased.
_ADDRESS = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b|\b(?:[a-z0-9-]+\.)+[a-z]{2,}\b", re.IGNORECASE)
# A figure with its unit: a currency before it, a unit after it, and a period it is counted per ("£6 a day").
_UNITS = {
    "minute": ("duration", 1), "minutes": ("duration", 1), "min": ("duration", 1), "mins": ("duration", 1),
    "hour": ("duration", 60), "hours": ("duration", 60), "hr": ("duration", 60), "hrs": ("duration", 60),
    "day": ("duration", 1440), "days": ("duration", 1440), "working day": ("duration", 1440),
    "working days": ("duration", 1440), "business days": ("duration", 1440), "week": ("duration", 10080),
    "weeks": ("duration", 10080), "month": ("duration", 43200), "months": ("duration", 43200),
    "year": ("duration", 525600), "years": ("duration", 525600), "p": ("money", 1), "pence": ("money", 1),
    "pound": ("money", 100), "pounds": ("money", 100), "%": ("percent", 1), "percent": ("percent", 1),
    "per cent": ("percent", 1), "mb": ("data", 1), "gb": ("data", 1000), "tb": ("data", 1000000),
    "mbps": ("speed", 1), "gbps": ("speed", 1000),
    # Units in words, as freely worded answers give them ("ten dollars", "fifteen gigabytes", "30 seconds").
    "second": ("duration", 1 / 60), "seconds": ("duration", 1 / 60), "sec": ("duration", 1 / 60),
    "secs": ("duration", 1 / 60), "megabyte": ("data", 1), "megabytes": ("data", 1), "gigabyte": ("data", 1000),
    "gigabytes": ("data", 1000), "gig": ("data", 1000), "gigs": ("data", 1000), "terabyte": ("data", 1000000),
    "terabytes": ("data", 1000000), "dollar": ("money", 100), "dollars": ("money", 100), "euro": ("money", 100),
    "euros": ("money", 100), "cent": ("money", 1), "cents": ("money", 1), "kbps": ("speed", 0.001),
}  # fmt: skip
_CURRENCY = {"£": 100, "$": 100, "€": 100}
_PERIODS = {"daily": "day", "weekly": "week", "monthly": "month", "yearly": "year", "annually": "year",
            "mins": "minute", "min": "minute"}  # fmt: skip
_UNIT = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
_QUANTITY = re.compile(
    r"(?P<currency>[£$€])?\s?(?<![A-Za-z\d.])(?P<figure>\d+(?:\.\d+)?|" + _NUMBER_WORD + r")"
    r"(?:[\s-]?(?P<unit>" + _UNIT + r")\b"
    r"|(?<=\d)(?P<sign>%)|(?![A-Za-z]))(?:\s+(?:a|an|per|each|every|/)\s*"
    r"(?P<per>minute|min|hour|day|week|month|year|mb|gb|"
    r"call|text)s?\b|\s+(?P<adverb>daily|weekly|monthly|yearly|annually)\b)?",
    re.IGNORECASE,
)
# Figures joined to letters name things ("4G", "A54", "Hub3"): compared whole, lower-cased.
_GLUED = re.compile(r"\b(?=[A-Za-z]*\d)(?=\d*[A-Za-z])[A-Za-z\d]+\b")
# Words that mean "no charge": a price where the reference says it is free is a wrong figure.
_FREE = re.compile(r"\b(?:free|included|no (?:\w+ )?(?:cost|charge|fee)s?|nothing extra|at no cost|"
                   r"costs? (?:you )?nothing|(?:doesn't|does not|won't|will not) cost|without (?:paying|a fee|charge)|"
                   r"(?:won't|will not|don't|do not|doesn't|does not) (?:have to |need to )?pay|"
                   r"(?:won't|will not|aren't|are not|isn't|is not) (?:be )?charged|"
                   r"not (?:liable|responsible) for (?:any )?(?:charges|costs|fees))\b",
                   re.IGNORECASE)  # fmt: skip
# Words that put a price on something: said of what the reference calls free, a wrong figure in words.
_CHARGED = re.compile(r"\b(?:charged?|charges|fee|fees|costs?|payable)\b", re.IGNORECASE)


def _value(figure: str) -> str:
    """One spelling per value: number words as digits, decimals without trailing zeros ("7.20" is "7.2")."""
    tens, _, units = figure.lower().replace(" ", "-").partition("-")
    if units in NUMBER_WORDS and tens in NUMBER_WORDS:  # "sixty-five", "twenty eight"
        return str(int(NUMBER_WORDS[tens]) + int(NUMBER_WORDS[units]))
    figure = NUMBER_WORDS.get(figure.lower(), figure)
    if re.fullmatch(r"\d+\.\d+", figure):
        figure = figure.rstrip("0").rstrip(".")
    return figure


# A time of day in any spelling ("6pm", "8:30am", "18:00", "08.30 am") becomes one name, "h1800": compared whole,
# like a code.
_CLOCK = re.compile(r"\b(\d{1,2})(?:[:.](\d{2}))?\s?([ap])\.?m\b\.?|\b(\d{1,2}):(\d{2})\b(?!\s?[ap]\.?m\b)",
                    re.IGNORECASE)
# A price in words ("two pounds twenty-five", "five dollars and fifty cents") becomes one figure ("£2.25").
_MONEY_WORDS = re.compile(rf"(?P<whole>\d+|{_NUMBER_WORD})\s+(?:pounds?|dollars?|euros?)\s+(?:and\s+)?"
                          rf"(?P<part>\d{{2}}|{_NUMBER_WORD})(?:\s+(?:pence|p|cents?))?\b", re.IGNORECASE)


def _clock(match: re.Match) -> str:
    if match[4]:
        hour, minute = int(match[4]), int(match[5])
    else:
        hour, minute = int(match[1]) % 12 + (12 if match[3].lower() == "p" else 0), int(match[2] or 0)
    return f"h{hour:02d}{minute:02d}" if hour < 24 and minute < 60 else match[0]


def _spoken(text: str) -> str:
    """Times of day and prices in words written as one figure each (see above)."""
    text = _MONEY_WORDS.sub(lambda m: f"£{_value(m['whole'])}.{int(_value(m['part'])):02d}", text)
    return _CLOCK.sub(_clock, text)


def _without_layout(text: str) -> str:
    """The text without list markers and thousands separators, codes and addresses blanked out."""
    text = _spoken(_THOUSANDS.sub("", LIST_NUMBER.sub("", text)))
    return _ADDRESS.sub(" ", _CODE.sub(" ", _IP.sub(" ", text)))


def numbers(text: str) -> set[str]:
    """Figures, codes and addresses as digit strings ("eight-digit" gives "8"; "0800 123 456" gives three);
    the numbers of a numbered list are layout, not figures."""
    text = _spoken(_THOUSANDS.sub("", LIST_NUMBER.sub("", text)))
    return {_value(match) for match in _NUMBER.findall(text)}


def codes(text: str) -> set[str]:
    return {code.rstrip("*") for code in _CODE.findall(text)}


def addresses(text: str) -> set[str]:
    return {address.lower() for address in _ADDRESS.findall(text)}


def ip_addresses(text: str) -> set[str]:
    return set(_IP.findall(text))


def names(text: str) -> set[str]:
    """Figures joined to letters that are no quantity with a unit ("4g", "a54"; not "5gb" or "80p")."""
    return {n.lower() for n in _GLUED.findall(_without_layout(text)) if not _QUANTITY.fullmatch(n)}


def _joined_runs(text: str) -> dict[str, set[str]]:
    """Digit groups separated by single spaces, joined ("0300 123 4567" gives "03001234567"), with their parts."""
    return {run.replace(" ", ""): set(run.split(" ")) for run in _DIGIT_RUN.findall(_THOUSANDS.sub("", text))}


# Halves in words: "half a minute" is 30 seconds, "half an hour" 30 minutes.
_HALF = re.compile(r"\bhalf an? (minute|hour|day)\b", re.IGNORECASE)
_HALVES = {"minute": "30 seconds", "hour": "30 minutes", "day": "12 hours"}


def quantities(text: str) -> list[tuple[str, str | None, float, str | None]]:
    """(value, kind of unit or None, amount in the kind's base unit, period) for every figure outside codes and
    addresses: "£6 a day" gives ("6", "money", 600, "day"), "two days" ("2", "duration", 2880, None). A spelled
    number without a unit is skipped: "two settings" states no figure."""
    found = []
    for match in _QUANTITY.finditer(_HALF.sub(lambda m: _HALVES[m.group(1).lower()], _without_layout(text))):
        value = _value(match["figure"])
        unit = (match["unit"] or match["sign"] or "").lower()
        kind, factor = _UNITS.get(unit, (None, 1))
        if match["currency"]:
            kind, factor = "money", _CURRENCY[match["currency"]] if kind in (None, "money") else factor
        if kind is None and not match["figure"][0].isdigit():
            continue
        period = (match["per"] or "").lower() or _PERIODS.get((match["adverb"] or "").lower()) or None
        found.append((value, kind, round(float(value) * factor, 4), _PERIODS.get(period or "", period)))
    return found


def _same_quantity(a: tuple, b: tuple) -> bool:
    """The same figure: equal amounts where both units are known (else equal values), and no two different
    periods ("£6 a day" is not "£6 a month")."""
    same = a[2] == b[2] if a[1] and b[1] and a[1] == b[1] else a[0] == b[0] and not (a[1] and b[1])
    return same and (a[3] is None or b[3] is None or a[3] == b[3])


def _missing_figures(found: list[tuple], values: set[str], ref_found: list[tuple]) -> list[tuple]:
    """The reference's figures (`ref_found`) the candidate states nowhere, as a quantity (`found`) or in words
    (`values`)."""
    return [k for k in ref_found
            if not any(_same_quantity(c, k) for c in found) and not (k[1] is None and k[0] in values)]  # fmt: skip


# Nothing on top of the usual price: no claim that a thing is free.
_NO_EXTRA = re.compile(r"\b(?:no|nothing|without)\s+(?:extra|additional)(?:\s+(?:cost|charge|fee|to pay))?s?\b|"
                       r"\bat no (?:extra|additional) cost\b", re.IGNORECASE)
# A free phrase negated ("is not included", "isn't free") puts a charge on it.
_NOT_FREE = re.compile(r"\b(?:not|isn't|aren't|no longer)\s+(?:\w+\s+)?(?:free|included)\b", re.IGNORECASE)


def _free_or_charged(text: str) -> tuple[bool, bool]:
    """(says something is free, puts a charge on something outside those words)."""
    charged = bool(_NOT_FREE.search(text))
    text = _NOT_FREE.sub(" charged ", text)
    return bool(_FREE.search(text)), charged or bool(_CHARGED.search(_FREE.sub(" ", text)))


def _free_made_charged(candidate: str, reference: str) -> int:
    """Reference sentences that call something free whose closest candidate sentence (most content words shared,
    at least half) charges for it instead: "the router is not included" for "the router is included at no
    extra cost", whatever else either answer charges for."""
    said = [(content_words(s), _free_or_charged(s)) for s in tf.sentences(candidate.replace("\n", " "))]
    count = 0
    for sentence in tf.sentences(reference.replace("\n", " ")):
        free, charged = _free_or_charged(sentence)
        if not free or charged or not said:
            continue
        words = content_words(sentence)
        best = max(said, key=lambda other: _jaccard(words, other[0]))
        count += _jaccard(words, best[0]) >= 0.5 and best[1][1] and not best[1][0]
    return count


def unknown_numbers(candidate: str, reference: str, question: str) -> int:
    """Figures, codes and addresses in the candidate that neither the reference nor the question states:
    figures compared as quantities (see `quantities`), spaced digit groups compared joined ("0091" matches
    "00 91"), a code's digits known on their own too ("dial 1571" where the reference says ``*61*1571#``), and
    a price for what the reference calls free.

    A new figure is a wrong one where it can stand for a reference figure the candidate leaves out (of the same
    kind, or either has no unit), where it has a unit of which the reference states no figure ("keeps for 12
    months" where the reference says it expires at the month's end), or where it is a price for what the
    reference calls free: a freely worded right answer adds figures of its own ("dial 999 in an emergency")
    beside every figure of the reference, a wrong one puts its figure in the place of the reference's."""
    known_text = reference + "\n" + question
    known = quantities(known_text)
    known_values = numbers(_without_layout(known_text)) | set(_joined_runs(known_text))
    known_values |= {digits for code in codes(known_text) for digits in re.findall(r"\d+", code)}
    found, ref_found = quantities(candidate), quantities(reference)
    missing_kinds = {k[1] for k in _missing_figures(found, numbers(candidate), ref_found)}
    ref_kinds = {k[1] for k in ref_found}
    cand_free, cand_charged = _free_or_charged(candidate)
    ref_free, ref_charged = _free_or_charged(reference)
    unknown = set()
    for quantity in found:
        if not any(_same_quantity(quantity, k) for k in known):
            if quantity[1] is None and quantity[0] in known_values:
                continue
            replaces = bool(missing_kinds) and (quantity[1] is None or bool(missing_kinds & {quantity[1], None}))
            new_kind = quantity[1] is not None and quantity[1] not in ref_kinds
            if replaces or new_kind or quantity[1] == "money" and ref_free:
                unknown.add(quantity[:2] + quantity[3:])
    for whole, parts in _joined_runs(_without_layout(candidate)).items():
        if whole in known_values:
            unknown = {q for q in unknown if q[0] not in parts}
    if ref_free and any(q[1] == "money" for q in unknown):
        unknown.add(("free", "money", None))
    # "Free" against a reference that only charges, where the candidate names no charge or price of its own (one
    # that does, "days you don't use cost nothing, the others $10", says what the reference says); a charge
    # against a reference that only says free.
    says_a_price = cand_charged or any(q[1] == "money" for q in found)
    # "No extra charge" says what "costs the same as a normal call" says: nothing on top, not nothing at all.
    cand_free = cand_free and bool(_FREE.search(_NO_EXTRA.sub(" ", candidate)))
    if (cand_free and not ref_free and ref_charged and not says_a_price
            or cand_charged and ref_free and not ref_charged and not cand_free):
        unknown.add(("free", "money", None))
    if ("free", "money", None) not in unknown and _free_made_charged(candidate, reference):
        unknown.add(("free", "money", None))
    # A known figure under a label the reference gives other figures ("option 4" for "option 2", "30 missed
    # replies" for "3 missed replies"); an unknown one is counted above.
    known_labels = {label for label, _ in labelled_figures(known_text)}
    mislabelled = sum(1 for label, value in labelled_figures(candidate) - labelled_figures(known_text)
                      if label in known_labels and value in known_values)  # fmt: skip
    # A new code, address or name counts where the reference gives none of its kind or one is left out: beside
    # every one of the reference's ("VoLTE (voice over 4G)" where it names 3G and 5G) it explains, not replaces.
    new_wholes = 0
    for read in (codes, addresses, names, ip_addresses):
        ours, theirs = read(candidate), read(reference)
        if not theirs or theirs - ours:
            new_wholes += len(ours - read(known_text))
    return len(unknown) + mislabelled + new_wholes


# A bare figure named by the word before it ("option 4", "channel 11", "port 25"): a figure the reference gives
# elsewhere ("4 to 6 digits") is still another option when the reference's options are 3 and 2.
# A label may name a list ("ports 500 and 4500", "channel 1, 6 or 11"): each figure of it is under the label.
_LABELLED = re.compile(r"\b([a-z][a-z-]+) (\d+(?:(?:, | and | or |, or |, and |-)\d+)*)\b(?![.,:]\d)", re.IGNORECASE)
# Words before a figure that name no thing of their own: a step or list number, a verb, a preposition.
_NO_LABEL = frozenset("step steps number item point part stage page up and or to of in on at by for from with than "
                      "another extra first last next those re ve ll "
                      "about around over under within after before until every each per press dial call text "
                      "enter key type send wait allow take takes costs cost is are be was were only just".split())


# Words after a figure that count tries or characters rather than name a thing: "entered wrongly 10 times" is the
# reference's "10 wrong entries", whatever else is counted in times.
_COUNTED = frozenset("times attempts tries goes digits digit characters letters wrong wrongly more less fewer failed "
                     "incorrect new old other different separate".split())
# ... or by the word after it, when that is no unit nor such a count: "after 3 missed replies" against "after 30
# missed replies" (30 being the reference's figure for the seconds that takes).
_LABELLED_AFTER = re.compile(r"(?<![\d.,:])(\d+) ([a-z][a-z-]+)\b", re.IGNORECASE)


def labelled_figures(text: str) -> set[tuple[str, str]]:
    """(label, figure) for every bare figure after or before a naming word, codes and addresses left out."""
    plain = _without_layout(text)
    before = {(label.lower(), _value(value)) for label, values in _LABELLED.findall(plain)
              if label.lower() not in _NO_LABEL and label.lower() not in STOPWORDS
              for value in re.findall(r"\d+", values)}  # fmt: skip
    after = {(label.lower(), _value(value)) for value, label in _LABELLED_AFTER.findall(plain)
             if label.lower() not in _NO_LABEL | _COUNTED and label.lower() not in STOPWORDS
             and label.lower() not in _UNITS}  # fmt: skip
    return before | after


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def content_words(text: str) -> set[str]:
    return {t for t in tokens(text) if t not in STOPWORDS and len(t) > 2}


# A menu name is short: a longer stretch between two separators is the end of one path and the start of another
# ("Settings > Personal Hotspot and make sure it is on. Then go to Settings > Mobile Service").
MENU_NAME_WORDS = 4


def _menu_name(words: list[str], backwards: bool = False) -> str:
    """The menu name at the start of `words` (or at its end, backwards): up to three words, ending at a function
    word (but "and" between two words of a name), an instruction verb or a punctuation mark."""
    name: list[str] = []
    words = list(reversed(words)) if backwards else words
    for i, word in enumerate(words):
        bare = word.strip(".,;:!?()\"'").lower()
        following = words[i + 1].strip(".,;:!?()\"'").lower() if i + 1 < len(words) else ""
        joins = bare in ("and", "&") and len(name) == 1 and following  # "Bars and blocks", "Voice & Data"
        joins = joins and following not in STOPWORDS and following not in tf.INSTRUCTION_VERBS
        # A capitalised word belongs to the name even where it is a function word ("Show My Caller ID", "More"),
        # and so does a capitalised verb next to the separator ("Plan > Upgrade", "Settings > Call forwarding").
        named = word[:1].isupper() and bare != "i"
        verb = bare in tf.INSTRUCTION_VERBS and not (named and not name)
        if (bare in STOPWORDS and not joins and not named) or verb or len(name) == 3:
            break
        if backwards and word[-1:] in ".,;:!?":
            break
        name.append(word.strip(".,;:!?()\"'"))
        if not backwards and word[-1:] in ".,;:!?)":
            break
        if backwards and word[:1] in "(\"'":  # "(Settings > ..." starts the path at the bracket
            break
    return " ".join(reversed(name) if backwards else name)


def menu_paths(text: str) -> list[list[str]]:
    """Every ``A > B > C`` path as its menu names: the first from the end of the words before it, the last from
    the start of the words after it; a long stretch in between ends one path and starts the next."""
    paths = []
    for path in _PATH.findall(text):
        parts = _PATH_SEPARATOR.split(path.strip())
        current = [_menu_name(parts[0].split(), backwards=True)]
        for i, part in enumerate(parts[1:], start=1):
            words = part.split()
            if i == len(parts) - 1 or len(words) > MENU_NAME_WORDS or re.search(r"[.;:!?]\s", part):
                current.append(_menu_name(words))
                if i < len(parts) - 1:
                    paths.append(current)
                    current = [_menu_name(words, backwards=True)]
            else:
                current.append(part.strip())
        paths.append(current)
    paths += _paths_in_words(text)
    return [[name for name in path if name] for path in paths if sum(1 for name in path if name) >= 2]


# A path given in words: a capitalised menu name after a verb that moves through menus, then more names after a
# comma, "then" or "followed by" ("open Settings, tap General, then About"; "go to Account followed by Bars &
# blocks"; "under Settings, then Connections").
_NAVIGATE = re.compile(r"\b(?i:open|tap(?: on)?|select|choose|go (?:in)?to|head (?:in)?to|navigate to|click(?: on)?|"
                       r"pick|scroll (?:down )?to|under)\s+(?:the\s+)?(?=[A-Z])")
_NEXT_NAME = re.compile(r"(?:\s*,\s*(?i:and\s+)?(?i:then\s+)?|\s+(?i:and\s+)?(?i:then)\s+|\s+(?i:followed by)\s+|"
                        r"\s+(?i:and)\s+(?=(?i:tap|select|choose|open)\b))"
                        r"(?:(?i:tap|select|choose|open|go to|click|pick|press|scroll (?:down )?to)(?:\s+(?i:on))?\s+)?"
                        r"(?:the\s+)?(?=[A-Z])")


def _paths_in_words(text: str) -> list[list[str]]:
    paths, end = [], 0
    for start in _NAVIGATE.finditer(text):
        if start.start() < end:
            continue  # inside the path found before
        path, at = [], start.end()
        while True:
            name = re.split(r"\s+(?:followed|then)\b", _menu_name(text[at:].split()))[0]
            found = text.find(name, at) if name else -1
            if found != at or _PATH_SEPARATOR.match(text, at + len(name)) or _PATH_SEPARATOR.search(name):
                break  # the start of an ``A > B`` path, read as one
            path.append(name)
            at = found + len(name)
            following = _NEXT_NAME.match(text, at)
            if not following:
                break
            at = following.end()
        if len(path) >= 2:
            paths.append(path)
            end = at
    return paths


def menu_segments(text: str) -> list[str]:
    return [segment for path in menu_paths(text) for segment in path]


# A path segment counts as known when at least this share of its content words occur in the reference or the
# question: "Mobile Data Options" against a reference naming "Mobile Data Network" is the same place half-way.
KNOWN_SEGMENT_SHARE = 0.5


def _same_place(segment: set[str], other: set[str]) -> bool:
    return bool(segment) and len(segment & other) / len(segment) >= KNOWN_SEGMENT_SHARE


def _segment_words(segment: str) -> set[str]:
    """A menu name's content words; a menu named by a function word alone ("More") is named by it."""
    return content_words(segment) or set(tokens(segment))


def unknown_menu_segments(candidate: str, reference: str, question: str) -> int:
    """Path segments of the candidate that are not where the reference's paths go, plus one for a path walked in
    another order. A segment between two that the reference's path has must be one of that path's ("Settings >
    Display > Roaming" for "Settings > Network > Roaming"), and so must every segment where no candidate path
    shares one with the reference (the path was swapped for another). Elsewhere (a path the reference gave in
    words, or none) a segment is known when most of its words occur in the reference or the question."""
    known = content_words(reference) | content_words(question)
    ref_paths = [[_segment_words(s) for s in path] for path in menu_paths(reference) + menu_paths(question)]
    cand_paths = [[_segment_words(s) for s in path] for path in menu_paths(candidate)]

    def shared(path: list[set[str]], ref: list[set[str]]) -> list[int]:
        """For each segment, the place in `ref` it best matches (-1: none)."""
        best = [max(range(len(ref)), key=lambda j: len(seg & ref[j])) if seg else 0 for seg in path]
        return [j if _same_place(seg, ref[j]) else -1 for seg, j in zip(path, best, strict=True)]

    any_shared = any(j >= 0 for path in cand_paths for ref in ref_paths for j in shared(path, ref))
    count = 0
    for path in cand_paths:
        ref = max(ref_paths, key=lambda r: sum(j >= 0 for j in shared(path, r)), default=None)
        places = shared(path, ref) if ref else [-1] * len(path)
        matched_at = [i for i, j in enumerate(places) if j >= 0]
        swapped = ref is not None and not any_shared
        for i, (segment, place) in enumerate(zip(path, places, strict=True)):
            inside = bool(matched_at) and matched_at[0] < i < matched_at[-1]
            # After a segment on the reference's path, the path goes on where the reference's does: "Wireless >
            # Guest Wi-Fi" for "Wireless > Security" is another menu, even if "Wi-Fi" occurs elsewhere.
            last = max((k for k in matched_at if k < i), default=None)
            expected = places[last] + i - last if last is not None else -1
            continues = ref is not None and 0 <= expected < len(ref) and expected not in places
            if place < 0 and (swapped or inside or continues or not _same_place(segment, known)):
                count += 1
        matched = [j for j in places if j >= 0]
        count += int(matched != sorted(matched))
    return count


def switch_word(word: str) -> bool:
    """A word that sets or states a switch position (enable, blocked, switched, on, ...)."""
    return word in _POLAR_VERBS or word in _SWITCH_VERBS or word in ("on", "off")


class Mention(NamedTuple):
    """A switch position the text states: +1 on or -1 off, the context words of its clause, and whether the
    clause tells the customer to set it (else it describes a state, a condition or a cause)."""

    sign: int
    context: set[str]
    instructs: bool


def _clauses(text: str) -> list[tuple[str, str]]:
    """(clause, the word or mark before it) for the clauses `_CLAUSE_BREAK` cuts the text into."""
    found, start, lead = [], 0, ""
    for match in _CLAUSE_BREAK.finditer(text):
        found.append((text[start : match.start()], lead))
        start, lead = match.end(), match.group(0).lower()
    return [*found, (text[start:], lead)]


# Words after which an instruction verb has a subject or is no imperative ("we'll set it up", "it will block").
_NOT_IMPERATIVE_AFTER = frozenset("you we they it he she i will would can could may might to is are was were be been "
                                  "has have had does did a an the this that which who".split())


def _instructs(clause: str, toks: list[str]) -> bool:
    """Whether the clause tells the customer to do something: an instruction verb with no subject before it,
    at its start or after a lead-in ("in the portal go to ... and set Port 25 to Unblocked"), or an
    instruction in words ("make sure", "should")."""
    if tf.instruction(clause) or _INSTRUCTING.search(clause):
        return True
    return any(t in tf.INSTRUCTION_VERBS and (i == 0 or toks[i - 1] not in _NOT_IMPERATIVE_AFTER
                                             and not toks[i - 1].endswith("'ll"))
               for i, t in enumerate(toks))  # fmt: skip


# Switch positions stated in other words, rewritten to plain ones before they are read: a tick cleared or put,
# a setting's value (Automatic or Manual, Always or Never ask) and a toggle's colour (green on, grey off).
_TICK_CLEARED = re.compile(r"\b(?:clear|remove|take off|untick)\s+(?:the\s+)?(?:tick|check ?mark|checkbox|check)"
                           r"(?:\s+(?:next to|beside|by|from|against|on|for))?", re.IGNORECASE)
_TICK_PUT = re.compile(r"\b(?:put|place|add)\s+a\s+(?:tick|check ?mark)(?:\s+(?:next to|beside|by|in|against|on))?",
                       re.IGNORECASE)
_SETTING_VALUE = re.compile(r"(?:\b(?P<lead>to|be|is|on|at|as|choose|select|pick)\s+|:\s+)"
                            r"(?P<value>automatic|manual|(?<=to )always|(?<=to )never)\b",
                            re.IGNORECASE)
_TOGGLE_COLOUR = re.compile(r"\b(?:switch|toggle|slider)\b[^.,;:]{0,30}?\b(?:is|turns?|shows?|goes|to|be)\s+"
                            r"(?P<value>green|grey|gray|white)\b", re.IGNORECASE)
_VALUE_SIGN = {"automatic": "On", "always": "On", "green": "On", "manual": "Off", "never": "Off", "grey": "Off",
               "gray": "Off", "white": "Off"}  # fmt: skip


def _plain_positions(text: str) -> str:
    """The text with switch positions given in other words rewritten as On and Off (see above), and the negation
    in a name ("Do Not Disturb is off") left out."""
    text = _TICK_PUT.sub("tick", _TICK_CLEARED.sub("untick", _names_unnegated(text)))

    def setting(match: re.Match) -> str:
        lead = match["lead"] if match["lead"] and match["lead"].lower() not in ("on", "at") else "set to"
        return f" {lead} {_VALUE_SIGN[match['value'].lower()]}"

    text = _SETTING_VALUE.sub(setting, text)
    return _TOGGLE_COLOUR.sub(lambda m: m.group(0)[: m.start("value") - m.start()]
                              + _VALUE_SIGN[m["value"].lower()], text)  # fmt: skip


def polar_mentions(text: str, window: int = 5, strict: bool = True) -> list[Mention]:
    """Every switch position the text states, but the switch words in a menu name ("Bars and blocks").
    `strict=False` also reads a bare "off" and a "turn on the ..." as switch positions: the reference's side of
    a comparison, so that a candidate's switch is checked against every position the reference might state.
    Figures count as context ("port 25")."""
    mentions = []
    menu_words = {t for path in menu_paths(text) for name in path for t in tokens(name)}
    text = _plain_positions(text)
    instructs, previous = False, set()
    for clause, lead in _clauses(text):
        cased = re.findall(_TOKEN.pattern, clause, re.IGNORECASE)
        toks = [t.lower() for t in cased]
        # "Restart the phone after switching roaming off": what is done first belongs to the same instruction.
        instructs = instructs if lead == "after" else lead not in _SUBORDINATE and _instructs(clause, toks)
        for i, tok in enumerate(toks):
            sign = _POLAR_VERBS.get(tok) if tok not in menu_words else None
            # A capitalised switch word inside a clause, before another capitalised word or after a switch word,
            # names a setting ("turn off Allow background data usage", "you'll see Allow Mobile Data Switching"),
            # it sets nothing ("choose Deny for ..." does).
            named = i + 1 < len(cased) and cased[i + 1][:1].isupper() or i > 0 and toks[i - 1] in _BEFORE_A_NAME
            if sign is not None and i > 0 and cased[i][:1].isupper() and named:
                sign = None
            if sign is None and tok in ("on", "off"):
                near = toks[max(0, i - 5) : i] + toks[i + 1 : i + 2]  # "set the guest network to On"
                following = toks[i + 1] if i + 1 < len(toks) else ""
                # "set Require authentication for purchases to Off": the verb may stand further back.
                verb_near = any(t in _SWITCH_VERBS for t in near) or toks[i - 1 : i] == ["to"] and "set" in toks[:i]
                after_position = i > 0 and toks[i - 1] in ("on", "off")  # "turn it off on the same screen"
                phrasal = i > 0 and toks[i - 1] in _PHRASAL and not after_position
                if (verb_near and (following not in _DETERMINERS or phrasal)) if strict else (
                    tok == "off" or (verb_near and (following not in _DETERMINERS or phrasal))
                ):
                    sign = 1 if tok == "on" else -1
            if sign is None:
                continue
            if any(t in _SWITCH_NEGATION or t.endswith("n't") for t in toks[max(0, i - 4) : i]):
                sign = -sign
            near = toks[max(0, i - window) : i + window + 1]
            context = _context_words(near)
            # A switch its own words do not name ("make sure the toggle is green") is the one its clause names,
            # and one named by a pronoun alone ("switch it off first") the one the clause before names.
            if not context - _NO_NAME:
                context |= _context_words(toks)
            if not context - _NO_NAME and any(t in _PRONOUN_OBJECT for t in near):
                context |= previous
            mentions.append(Mention(sign, context, instructs))
        previous = _context_words(toks) or previous
    return mentions


# Words that name no switch: a pronoun's switch is the clause before's when its own words are only these.
_NO_NAME = frozenset("first back again now later afterwards instead there here too straight away".split())
# Words that name no switch anywhere: "the old one is cut off" and "the new one is activated" share no switch.
_NO_SWITCH_NAME = frozenset("one ones thing things way".split())
# Words after which a capitalised switch word is a setting's name, not a choice ("choose Deny" chooses).
_BEFORE_A_NAME = frozenset("on off sure that toggle the untick tick enable disable activate deactivate called named "
                           "labelled labeled titled".split())


def _context_words(toks: list[str]) -> set[str]:
    return {t for t in toks if t not in STOPWORDS and t not in _NO_SWITCH_NAME and t not in _POLAR_VERBS
            and t not in _SWITCH_VERBS and t not in _NO_CONTEXT and (len(t) > 2 or t.isdigit())
            and not t.endswith("n't")}  # fmt: skip


def _shared(context: set[str], other: set[str]) -> int:
    """Context words two switch positions share; none when both name figures and no figure is shared ("port 587"
    is another port than "port 25")."""
    figures, other_figures = {t for t in context if t.isdigit()}, {t for t in other if t.isdigit()}
    return 0 if figures and other_figures and not figures & other_figures else len(context & other)


def flipped_switches(candidate: str, reference: str) -> int:
    """Candidate switch positions whose best-matching reference position (most shared context words) points the
    other way, and none of the equally good matches agrees. A position the candidate tells the customer to set
    is held only to the positions the reference tells them to set; one it describes (a state, a condition, a
    cause: "that means roaming is disabled") only to those the reference describes. Measured on freely worded
    paraphrases, a description matched against an instruction was the commonest false contradiction."""
    ref_mentions = polar_mentions(reference, strict=False)
    flips = 0
    for sign, context, instructs in polar_mentions(candidate):
        # Matches ranked by shared context words, then by how little else either context holds ("port 25" is
        # closer to "set port 25 to unblocked" than to "we block outbound port 25").
        overlaps = [((_shared(context, ref.context), _jaccard(context, ref.context)), ref.sign)
                    for ref in ref_mentions if ref.instructs == instructs]  # fmt: skip
        best = max((o for o, _ in overlaps), default=(0, 0.0))
        flips += best[0] >= 1 and all(s != sign for o, s in overlaps if o == best)
    return flips + _flipped_yes_no(candidate, reference)


# A leading answer to a yes/no question, maybe after a few words of its topic: "No, ...", "On Flex plans, no: ...".
_YES_NO = re.compile(r"^[^.?!:;]{0,40}?\b(yes|no)\b\s*[,:;.!-]", re.IGNORECASE)


def _flipped_yes_no(candidate: str, reference: str) -> int:
    answers = [_YES_NO.match(text.strip()) for text in (candidate, reference)]
    return int({m.group(1).lower() if m else "" for m in answers} == {"yes", "no"})


# Steps: a sentence or list item, split again where a clause starts with "then" or after a semicolon.
_STEP_SPLIT = re.compile(r";\s+|,?\s+(?=(?:and\s+)?then\b)|,\s+(?=and\s+\w+\s+(?:the|your|it|a)\b)", re.IGNORECASE)
_LIST_ITEM = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*\u2022])\s+")
# Words that say the steps of a sentence come in a set order.
_SEQUENCE = re.compile(r"(?:^|[,;]\s*)(?:and\s+)?(?:then|first(?:ly)?|next|after(?:wards| that| this)?|finally|"
                       r"last(?:ly)?|second(?:ly)?|third(?:ly)?|once|begin by|start by|to (?:start|begin|finish)|"
                       r"step \d+)\b", re.IGNORECASE)  # fmt: skip


def steps(text: str, short: bool = False) -> list[tuple[str, bool]]:
    """(instruction, in sequence) for every clause that tells the customer to do something; in sequence when
    its sentence says so ("first", "then", "next", "finally", ...) or it is an item of a list (support answers
    list steps in the order they are to be done). An instruction needs two content words, or with `short` one
    and a pronoun ("then delete it": enough to place it in order, too little to miss it by)."""
    found: list[tuple[str, bool]] = []
    for line in text.splitlines():
        item = bool(_LIST_ITEM.match(line))
        # A list run into one paragraph ("What to do: - Check ... - Restart ...") has its markers mid-line.
        for sentence in tf.sentences(_LIST_ITEM.sub("", line)):
            sequenced = bool(item or _LIST_ITEM.match(sentence) or _SEQUENCE.search(sentence))
            for clause in _STEP_SPLIT.split(_LIST_ITEM.sub("", sentence)):
                lead = tf.instruction(clause)
                pronoun = short and any(t in ("it", "them", "this", "that") for t in tokens(lead)[1:3])
                if lead and (len(content_words(lead)) >= 2 or pronoun and content_words(lead)):
                    found.append((lead, sequenced))
    return found


def word_share(step: str, text: str) -> float:
    """Share of a step's content words the text uses anywhere."""
    words = content_words(step)
    return len(words & content_words(text)) / len(words) if words else 1.0


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


# A candidate clause holds a reference step when it has more than half of the step's content words (half of
# "forget the network on the phone" is in "older phones can't join a network", another sentence).
SAME_STEP_WORDS = 0.6


def reversed_steps(candidate: str, reference: str) -> int:
    """Reference steps in sequence ("first", "then", a list) that come before the step they follow in
    the candidate. Both are found by their words; sentences the reference gives in no set order may move."""
    clauses = [content_words(c) for s in tf.sentences(candidate.replace("\n", " ")) for c in _STEP_SPLIT.split(s)]

    def place(step: str) -> int:
        """The one clause holding most of the step's words."""
        words = content_words(step)
        scores = [(len(words & c) / len(words) if words else 0.0, _jaccard(words, c)) for c in clauses]
        best = max(range(len(scores)), key=scores.__getitem__, default=-1)
        # A step whose words fill several clauses as well ("press call") has no one place.
        unique = sum(1 for score in scores if score[0] >= scores[best][0]) == 1 if best >= 0 else False
        return best if unique and scores[best][0] >= SAME_STEP_WORDS else -1

    ref = steps(reference, short=True)
    places = [place(step) for step, _ in ref]
    return sum(
        1 for i in range(1, len(ref))
        if ref[i][1] and ref[i - 1][1] and places[i] >= 0 and places[i - 1] >= 0 and places[i] < places[i - 1]
    )  # fmt: skip


# What `details_covered` gives a reference with no figure, code, name or menu: neither evidence of an answer nor
# against one.
NO_DETAILS = 0.5


def details_covered(candidate: str, reference: str) -> float:
    """Share of the reference's specifics (figures, codes, addresses, names like "4G", menu names) the candidate
    states too, in any wording ("ten" for 10, "open Settings, then Phone" for "Settings > Phone"): a right answer
    however freely worded restates them, a refusal or a generic answer does not."""
    values = numbers(candidate)
    whole = [(f(reference), f(candidate)) for f in (codes, addresses, names, ip_addresses)]
    said = content_words(candidate)
    items = [figure in values for figure in numbers(_without_layout(reference))]
    items += [item in theirs for ours, theirs in whole for item in ours]
    items += [_same_place(_segment_words(segment), said) for segment in menu_segments(reference)]
    return sum(items) / len(items) if items else NO_DETAILS


# "Do Not Disturb", "No Caller ID": a negation inside a capitalised name negates nothing.
_NAMED_NEGATION = re.compile(r"\b([A-Z][a-z]+) (?:Not|No|Never)\b(?= [A-Z])")


def _names_unnegated(text: str) -> str:
    return _NAMED_NEGATION.sub(r"\1 X", text)


def negations(sentence: str) -> int:
    return len(_NEGATION.findall(_names_unnegated(sentence)))


def refusal_phrases(text: str) -> int:
    return len(_REFUSAL.findall(text))


def boilerplate_phrases(text: str) -> int:
    return len(_BOILERPLATE.findall(text))


# A verb in -ing form at the start of a clause is its subject, a description: "deleting the eSIM would leave you
# without service" warns, "removing it needs the account holder" explains; neither recommends the action.
_DESCRIBED = re.compile(r"(?:^|[.;:,!?]\s*|\b(?:and|so|but|since|because)\s+)$", re.IGNORECASE)


# Who else an action may be done by: "we'll read the code to you", "so they can stop payments", "your bank's text
# codes" describe what the operator or a bank does, not advice to the customer.
_DONE_BY_ANOTHER = re.compile(r"(?:\b(?:we|they|he|she)(?:'ll|'ve|'d)?(?:\s+(?:can|could|will|would|may|might|"
                              r"then|also|usually|always))?|\b(?!(?:it|that|let|there|what|here)'s)\w+'s)\s+$",
                              re.IGNORECASE)  # fmt: skip


# What the customer may already have done is no advice to do it: "if you did open the link, call your bank".
_CONDITION = re.compile(r"\b(?:if|in case|where)\s+(?:you|they|someone)(?:'ve|'d)?\s+(?:\w+\s+){0,2}$", re.IGNORECASE)


def _done_by_another(before: str, operator_too: bool) -> bool:
    """Whether the words right before a risky verb give it a subject other than the customer (a pronoun, perhaps
    with a modal, or a possessive noun): not "to stop it, text ...", where "it" is the object before a comma.
    The operator (`we`) is another only where it gives the customer something (`operator_too`): "we'll read the
    code to you" discloses nothing, "we will stop the line" still stops it."""
    found = _DONE_BY_ANOTHER.search(before.replace("\u2019", "'"))
    return bool(found) and (operator_too or not found.group(0).lower().startswith("we"))


# Kinds whose every match puts the same thing at risk (the customer's money, the SIM): one finding per kind.
_ONE_OBJECT = frozenset(("scam", "guess", "falsify"))


def _risky_matches(text: str) -> list[tuple[str, str, bool]]:
    """(kind, object, advised against) for every risky action the text names as advice or as a warning."""
    found = []
    for kind, pattern in _RISKY.items():
        for match in pattern.finditer(text):
            word = (match.group(0).split() or [""])[0]
            first = word.lower()
            if first.endswith("ing") and _DESCRIBED.search(text[max(0, match.start() - 12) : match.start()]):
                continue
            before = text[max(0, match.start() - 60) : match.start()]
            # A disclosing verb after a determiner is a noun: "reset the passwords for your email" sends nothing.
            if kind == "disclose" and (tokens(before)[-1:] or [""])[0] in _DETERMINERS:
                continue
            if _done_by_another(before, kind == "disclose") or _CONDITION.search(before):
                continue
            if word.isupper() and len(word) > 2:
                continue  # a keyword the customer texts ("send STOP to the short number"), no verb
            against = bool(_ADVISED_AGAINST.search(before[-40:]) or _DENIED_IN_CLAUSE.search(before))
            objects = _OBJECT.findall(match.group(0).lower()) or match.group(0).lower().split()
            found.append((kind, kind if kind in _ONE_OBJECT else objects[-1], against))
    return found


def risky_actions(text: str) -> set[str]:
    """Risky actions the text recommends, as "kind object" ("disclose pin", "payment debit")."""
    return {f"{kind} {obj}" for kind, obj, against in _risky_matches(text) if not against}


def warned_against(text: str) -> set[str]:
    """Risky actions the text advises against ("please don't cancel your Direct Debit")."""
    return {f"{kind} {obj}" for kind, obj, against in _risky_matches(text) if against}


def new_risky_actions(candidate: str, reference: str, question: str = "") -> int:
    """Risky actions the candidate recommends that neither the reference nor the question mentions, plus the
    reference's instructions it waves away (`dismissed_instructions`). A customer who asks how to cancel a
    contract may be told how to, unless the reference warns against it; a protection the reference itself says
    is switched off ("only the account holder can switch Content Lock off") may be named as removable."""
    asked = risky_actions(question) - warned_against(reference)
    new = risky_actions(candidate) - risky_actions(reference) - asked
    switched_off = {word for text in (reference, question) for mention in polar_mentions(text, strict=False)
                    if mention.sign < 0 for word in mention.context}  # fmt: skip
    # What the reference itself stops in other words ("stop the line" for "suspend your line") is no new harm.
    stopped = {word for text in (reference, question) for match in _STOPPING.finditer(text)
               for word in tokens(match.group(1)) + tokens(text[: match.start()])[-3:]}  # fmt: skip
    unprotect = sum(1 for action in new if not (action.startswith("unprotect ") and action.split()[-1] in switched_off
                                                or action.startswith("payment ") and action.split()[-1] in stopped))
    return unprotect + dismissed_instructions(candidate, reference) + broken_warnings(candidate, reference)


# Verbs that stop a line, a payment or a service, and the few words after them that name what they stop.
_STOPPING = re.compile(r"\b(?:suspend|bar|block|freez|stop|cancel|disconnect|pause|end)\w*((?:\s+[^\s.,;:]+){1,4})",
                       re.IGNORECASE)  # fmt: skip
# A warning: "do not look into the end of the cable", "never share the code", "avoid resetting the hub".
_WARNING = re.compile(r"(?:\b(?:do not|never|avoid)\b|\bdon't\b)\s+([a-z]+)((?:\s+[\w'-]+){1,6})", re.IGNORECASE)
# Words after which an action is allowed only in some case ("only unplug it once the light is off").
_PERMISSION = re.compile(r"\b(?:only|once|after|until|unless|if)\b", re.IGNORECASE)


def broken_warnings(candidate: str, reference: str) -> int:
    """The reference's warnings the candidate turns into advice: the warned-against verb, in its plain form and
    with no negation before it, followed within eight words by at least half of the warning's object ("look
    into the end of it" against "do not look into the end of the fibre cable"). What the reference itself reads as
    such advice ("calls use your minutes and don't use your data allowance": "use ... data allowance") is no
    broken warning when the candidate repeats it."""
    return max(0, _warnings_turned(candidate, reference) - _warnings_turned(reference, reference))


def _warnings_turned(candidate: str, reference: str) -> int:
    count = 0
    for warning in _WARNING.finditer(reference):
        verb, objects = warning.group(1).lower(), _normal_words(warning.group(2))
        if verb in STOPWORDS or not objects or any(p.search(warning.group(0)) for p in _RISKY.values()):
            continue  # a risky action's own warning: `risky_actions` reads it
        for match in re.finditer(rf"\b{verb}\b", candidate, re.IGNORECASE):
            clause = re.split(r"[.;:!?\n]", candidate[: match.start()])[-1]
            following = _normal_words(" ".join(candidate[match.end() :].split()[:8]))
            if _ADVISED_AGAINST.search(clause) or _PERMISSION.search(clause):
                continue
            if len(following & objects) / len(objects) >= 0.5:
                count += 1
                break
    return count


# Phrases that wave an action away: "there's no need to tell us", "you can skip this", "don't bother with".
_DISMISSAL = re.compile(
    r"\b(?:no need to|you (?:don't|do not|won't|will not|wouldn't) (?:need|have) to|you needn't|(?:can|may) "
    r"(?:safely |just )?(?:skip|ignore|leave out)|skip (?:this|it|that|the)|don't bother(?: to| with)?|"
    r"(?:is|are)(?: not|n't) (?:necessary|needed|required)|"
    r"(?:is|are) optional|nothing (?:else )?(?:to|you need to) (?:do|set up|change|add))\b",
    re.IGNORECASE,
)
_PRONOUN_OBJECT = frozenset("this it that these them".split())
_NEGATED_VERB = re.compile(r"(?:\b(?:not|never|avoid)\b|n't)\s+(?:\w+\s+){0,1}?([a-z]+)", re.IGNORECASE)
# A dismissed action is the reference's when at least this share of its content words are there, and at least
# DISMISSED_SHARED of them: a verb alone is no action of the reference ("no need to call us" where the reference
# says "call voicemail").
DISMISSED_WORDS = 0.5
DISMISSED_SHARED = 2
# ... or one, naming a thing, of an action this short.
DISMISSED_SHORT = 3


def _normal_words(text: str) -> set[str]:
    return {w.removesuffix("'s") for w in content_words(text)}


def dismissed_instructions(candidate: str, reference: str) -> int:
    """Actions of the reference that the candidate says need not be done ("there's no need to tell your alarm
    provider" where the reference says to tell them). The action is the rest of the clause after the dismissal
    phrase, or the clause before it when that rest is a pronoun ("you'll be asked to add an address; you can
    skip this"). A dismissal the reference makes itself is no error."""
    ref_words = _normal_words(reference)
    ref_dismissed = {w for m in _DISMISSAL.finditer(reference) for w in _normal_words(_clause_after(reference, m))}
    # Actions the reference itself advises against ("don't cancel the old contract"): waving them away agrees.
    ref_advised_against = {m.group(1).lower() for m in _NEGATED_VERB.finditer(reference)}
    count = 0
    for match in _DISMISSAL.finditer(candidate):
        rest = _clause_after(candidate, match)
        if (tokens(rest)[:1] or [""])[0] in ref_advised_against:
            continue
        # "Skip it and data is charged at $3 per MB": the pronoun names the action, what follows is its cost.
        pronoun = (tokens(match.group(0))[-1:] or [""])[0] in _PRONOUN_OBJECT
        words = set() if pronoun else _normal_words(rest)
        if pronoun or not words or tokens(rest)[:1] and tokens(rest)[0] in _PRONOUN_OBJECT:
            sentence = re.split(r"[.!?\n]", candidate[: match.start()])[-1]
            before = [c for c in re.split(r"[,;:()]", sentence) if _normal_words(c)]
            words |= _normal_words(before[-1]) if before else set()
        shared = words & ref_words
        # One shared word is enough where it names a thing, not an action: "no need to touch the router" waves away
        # the reference's step on the router, "no need to call us" no step of a reference that says "call 150".
        things = {w for w in shared if w not in tf.INSTRUCTION_VERBS}
        many = len(shared) >= DISMISSED_SHARED or len(words) <= DISMISSED_SHORT and bool(things)
        enough = many and len(shared) / len(words) >= DISMISSED_WORDS if words else False
        if enough and not shared <= ref_dismissed:
            count += 1
    return count


def _clause_after(text: str, match: re.Match) -> str:
    rest = text[match.end() :]
    return re.split(r"[.;:!?\n]|,\s+(?:as|since|because|so|but)\b", rest, maxsplit=1)[0]


def truncated(text: str) -> bool:
    """Stops mid-sentence: no terminal punctuation (quotes and brackets after it allowed) at the end."""
    stripped = text.rstrip().rstrip("\"')]”’")
    return bool(stripped) and stripped[-1] not in ".!?"


def looping(text: str) -> bool:
    """Fewer than 60% distinct word trigrams; written answers measured here stay above 0.9."""
    return len(tf.words(text)) >= 6 and tf.non_repetition(text) < 0.6
