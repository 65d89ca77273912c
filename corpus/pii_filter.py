"""Which parts of a text the PII token classifier has to read: a cheap pre-filter in front of the model.

The model (corpus/pii_model.py) finds names, street addresses, postcodes and dates of birth; it costs about 0.4 ms
per token on one core, the rules around it a twentieth of that. A sentence made only of ordinary words, with no
digit, holds none of these four kinds, so the model need not read it. A sentence needs the model when it has

- a digit (house numbers, postcodes, dates of birth all carry one);
- a word that is neither in `common_words()` (the project's template corpus, Faker's common English words,
  greetings and support words) nor an inflection of one ("mailed", "invoices", "stopping"): an unknown word may
  be a name of any origin, in any case;
- a common word that some Faker locale also lists as a name ("Grace", "Bill", "Young"), written capitalised and
  not first in its sentence, or anywhere in a text with no capital letter at all (there case says nothing).

What it cannot see: a name that is also a common English word, written in lower case inside a text that has
capitals elsewhere ("my son will called"), with nothing else unusual in its sentence. A short sentence that
needs the model is read with the sentence before it, so a name on its own line after "Kind regards," keeps the
greeting as context. Recall and the share of text the model reads, with and
without the filter, are measured by `python -m benchmarks.bench_pii` (holdout and a fresh Faker set).
"""

from __future__ import annotations

import re
from functools import cache

# Sentence ends and line breaks; never after a title ("Mr. Lopez", "St. Mary's Road").
_SEGMENT_END = re.compile(r"(?<=[.!?])(?<!\bM[rs]\.)(?<!\bMrs\.)(?<!\b[DS][rt]\.)\s+|\s*\n\s*")
# A sentence of fewer words is read with the one before it ("Kind regards,\nAmara").
_CONTEXT_WORDS = 5
_LETTERS = re.compile(r"[^\W\d_]+")
_DIGIT = re.compile(r"\d")
# Function words that Faker also lists as names (Vietnamese "An", Chinese romanised "He"): never a reason alone.
_FUNCTION_WORDS = frozenset(
    """a an the my me we us he she it his her him they them you your i am is are was be to of in on at by for
    and or but not no so too per each more else among than this that these those there here with from""".split()
)
# Greetings, sign-offs and support words that a ticket uses everywhere and no Faker locale needs as a name.
_SUPPORT_WORDS = frozenset(
    """hi hiya hey hello dear thanks thank cheers regards kind sincerely yours please sorry ok okay yes yeah
    morning afternoon evening tomorrow yesterday today week weekend month monday tuesday wednesday thursday friday
    saturday sunday january february march april june july august september october november december im ive
    id dont doesnt didnt cant wont isnt wasnt s t m ll ve re d e uk eu us usa email emails mail online app apps
    wifi router broadband laptop tablet whatsapp facebook google apple samsung engineer technician advisor
    photo photos video download upload password login refund invoice invoices contract upgrade""".split()
)
_SUFFIXES = ("ies", "ied", "ier", "ing", "ers", "es", "ed", "er", "ly", "s", "d")


@cache
def common_words() -> frozenset[str]:
    """Casefolded words that are no name by themselves: words of the template corpus, Faker's 971 common English
    words (its en_US lorem list) and greetings; those that a Faker locale also lists as a name are kept apart
    in `ambiguous_words()`."""
    from faker.providers.lorem.en_US import Provider as EnglishWords

    from corpus.pii_data import template_sentences

    words = {w.casefold() for text in template_sentences() for w in _LETTERS.findall(text)}
    return frozenset(words | {w.casefold() for w in EnglishWords.word_list} | _SUPPORT_WORDS | _FUNCTION_WORDS)


@cache
def ambiguous_words() -> frozenset[str]:
    """Safe words that are also a first or last name in some Faker locale ("bill", "grace", "young")."""
    from corpus.pii_data import name_words

    return frozenset((common_words() & name_words()) - _FUNCTION_WORDS - _SUPPORT_WORDS)


def is_common(folded: str) -> bool:
    """`folded` is a common word or a regular inflection of one: -s, -es, -ies, -ed, -ied, -ing, -er, -ers, -ly,
    with a doubled final consonant or a dropped final e."""
    common = common_words()
    if folded in common:
        return True
    for suffix in _SUFFIXES:
        if folded.endswith(suffix) and len(folded) > len(suffix) + 2:
            stem = folded[: -len(suffix)]
            if stem in common or stem + "e" in common or (stem[-1] == stem[-2] and stem[:-1] in common):
                return True
            if suffix in ("ies", "ied", "ier") and stem + "y" in common:
                return True
    return False


def segments(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence or line of `text`, covering it without gaps."""
    bounds, start = [], 0
    for match in _SEGMENT_END.finditer(text):
        if match.start() > start:
            bounds.append((start, match.start()))
        start = match.end()
    if start < len(text):
        bounds.append((start, len(text)))
    return bounds


def needs_model(sentence: str, caseless: bool) -> bool:
    """Whether `sentence` can hold a name, address, postcode or date of birth. `caseless`: the whole text has no
    capital letter, so case tells nothing about a word."""
    if _DIGIT.search(sentence):
        return True
    ambiguous = ambiguous_words()
    for position, match in enumerate(_LETTERS.finditer(sentence)):
        word = match.group()
        folded = word.casefold()
        if not is_common(folded):
            return True
        if folded in ambiguous and (caseless or (position > 0 and word[0].isupper())):
            return True
    return False


def model_chunks(text: str) -> list[tuple[int, int]]:
    """(start, end) of the pieces of `text` the model reads: runs of sentences that need it, a short one (under
    `_CONTEXT_WORDS` words) with the sentence before it as context. Empty when no sentence needs it."""
    parts = segments(text)
    caseless = not any(c.isupper() for c in text)
    chunks: list[list[int]] = []
    for i, (start, end) in enumerate(parts):
        sentence = text[start:end]
        if not needs_model(sentence, caseless):
            continue
        short = len(sentence.split()) < _CONTEXT_WORDS
        begin = parts[i - 1][0] if i and short else start
        if chunks and (begin <= chunks[-1][1] or not text[chunks[-1][1] : begin].strip()):
            chunks[-1][1] = end
        else:
            chunks.append([begin, end])
    return [(start, end) for start, end in chunks]
