"""How degenerate a set of generated answers is, measured on the text alone (no judge, no model).

A judge's score can hide the two ways a small tuned model fails: it loops ("the most likely cause here is that the
most likely cause here is that ...", "the a a a a ...") or it runs out of `max_new_tokens` mid-sentence. Both
figures are shares in [0, 1], pooled over the answer set; NaN where the set gives nothing to measure (no answers,
or no answer long enough), never 0, so "not measured" cannot pass for "no degeneration".

- `repetition`: of all word 3-grams in the answers (a punctuation mark counts as a word), the share that repeat an
  earlier 3-gram of the same answer (a loop repeats itself; two answers sharing a phrase is not a loop).
- `truncated_share`: the share of answers whose last sentence has no closing punctuation; an empty answer counts
  as truncated (it never finishes a sentence).
- `distinct_2`: distinct word bigrams over all bigrams of the set (Li et al., 2016, "A Diversity-Promoting
  Objective Function for Neural Conversation Models"): low when every answer says the same thing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

# Words, and each punctuation mark as a token of its own: the random-weight tiny model loops on ",,,,,,," as well as on
# words, and a loop of commas is as degenerate as a loop of "the".
_WORD = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")
_SENTENCE_END = (".", "!", "?", "…")
# Closing quotes and brackets may follow the full stop: `He said "restart it."` ends a sentence.
_CLOSERS = "\"'”’»)]}*_"


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def repetition(answers: Sequence[str], n: int = 3) -> float:
    """Share of word n-grams that repeat an earlier n-gram of the same answer, pooled over the set."""
    total = repeated = 0
    for answer in answers:
        grams = _ngrams(words(answer), n)
        total += len(grams)
        repeated += len(grams) - len(set(grams))
    return repeated / total if total else math.nan


def stops_mid_sentence(answer: str) -> bool:
    end = answer.rstrip().rstrip(_CLOSERS).rstrip()
    return not end.endswith(_SENTENCE_END)


def truncated_share(answers: Sequence[str]) -> float:
    if not answers:
        return math.nan
    return sum(stops_mid_sentence(a) for a in answers) / len(answers)


def distinct_n(answers: Sequence[str], n: int = 2) -> float:
    grams = [g for answer in answers for g in _ngrams(words(answer), n)]
    return len(set(grams)) / len(grams) if grams else math.nan


@dataclass(frozen=True)
class Degeneration:
    repetition: float
    truncated_share: float
    distinct_2: float

    def metrics(self, prefix: str = "answer_") -> dict[str, float]:
        """Metric names as trials log them: answer_repetition, answer_truncated_share, answer_distinct_2."""
        return {f"{prefix}{name}": value for name, value in asdict(self).items()}


def compute_degeneration(answers: Sequence[str]) -> Degeneration:
    return Degeneration(repetition(answers), truncated_share(answers), distinct_n(answers, 2))
