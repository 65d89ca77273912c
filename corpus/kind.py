"""Conceptual or factual: the label every corpus pair carries, as in "Beyond QA pairs" (Llama-2 7B, LoRA).

That study split its QA pairs with a BERT classifier and found that adapters tuned on conceptual pairs did
better, and that PEFT learns an instruction style more readily than it embeds facts. The definitions it used,
and the ones every labeller here follows:

- **conceptual**: the pair explains why or how something works, or what something is: a mechanism, a reason,
  a purpose, a difference between two things.
- **factual**: the pair states specific facts: numbers, prices, limits, durations, codes, settings and their
  values, menu paths, or the exact steps and values to enter.

Two labellers. Offline (the default): logistic regression on MiniLM embeddings of the question and of the
answer (concatenated, 768 values), trained at first use on `corpus/data/kind_seed.jsonl` (281 pairs written for
this project, 135 conceptual, 146 factual). Its accuracy on `corpus/data/kind_heldout.jsonl` (pairs written
apart from the seed set) is measured by `python -m benchmarks.bench_kind`. With an LLM configured: a litellm
labeller (corpus/llm_labeller.py) that asks for the same two labels, cached per pair.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.errors import InputError
from common.jsonl import json_objects
from corpus.embeddings import embed

KINDS = ("conceptual", "factual")
DATA_DIR = Path(__file__).resolve().parent / "data"
SEED_FILE = DATA_DIR / "kind_seed.jsonl"
HELDOUT_FILE = DATA_DIR / "kind_heldout.jsonl"
# Bump when the features or the model change: with the seed set's content, part of the corpus hash.
CLASSIFIER_VERSION = "kind-logreg-minilm-qa-v1"
# Inverse regularisation strength. On the held-out set C from 0.3 to 10 scored within one pair of each other;
# 1.0 is scikit-learn's default.
_C = 1.0


@dataclass(frozen=True)
class LabelledPair:
    question: str
    answer: str
    kind: str


def read_pairs(path: Path) -> list[LabelledPair]:
    """A JSONL file of {"question", "answer", "kind"} objects; a bad line is an InputError naming it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(path, None, f"cannot read labelled pairs: {err}") from None
    pairs = []
    for number, item in json_objects(path, text):
        for field in ("question", "answer"):
            if not isinstance(item.get(field), str) or not item[field].strip():
                raise InputError(path, f"line {number}: {field}", f"must be non-empty text, got {item.get(field)!r}")
        if item.get("kind") not in KINDS:
            raise InputError(path, f"line {number}: kind", f"must be one of {list(KINDS)}, got {item.get('kind')!r}")
        pairs.append(LabelledPair(item["question"], item["answer"], item["kind"]))
    if not pairs:
        raise InputError(path, None, "no labelled pairs")
    return pairs


def features(questions: list[str], answers: list[str]) -> np.ndarray:
    """(n, 768): the question's MiniLM embedding beside the answer's."""
    return np.hstack([embed(list(questions)), embed(list(answers))])


class KindClassifier:
    """Logistic regression over `features`."""

    def __init__(self, pairs: list[LabelledPair]):
        from sklearn.linear_model import LogisticRegression

        x = features([p.question for p in pairs], [p.answer for p in pairs])
        y = [p.kind for p in pairs]
        self.model = LogisticRegression(C=_C, max_iter=2000, class_weight="balanced").fit(x, y)

    def predict(self, questions: list[str], answers: list[str]) -> list[str]:
        if not len(questions):
            return []
        return [str(label) for label in self.model.predict(features(questions, answers))]

    def accuracy(self, pairs: list[LabelledPair]) -> float:
        predicted = self.predict([p.question for p in pairs], [p.answer for p in pairs])
        return float(np.mean([p.kind == label for p, label in zip(pairs, predicted, strict=True)]))


def offline_identity(seed_file: Path = SEED_FILE) -> str:
    """The offline labeller's name in the corpus hash: the classifier's version and the seed set's content."""
    try:
        return f"{CLASSIFIER_VERSION}:{hashlib.sha256(Path(seed_file).read_bytes()).hexdigest()[:12]}"
    except OSError as err:
        raise InputError(seed_file, None, f"cannot read labelled pairs: {err.strerror or err}") from None


@functools.cache
def offline_classifier(seed_file: Path = SEED_FILE) -> KindClassifier:
    """Trained once per process on the shipped seed set (281 pairs: a few seconds of embedding on 2 cores)."""
    return KindClassifier(read_pairs(seed_file))


def kind_shares(kinds: list[str]) -> dict[str, float]:
    """Share of each class (0 for an absent one), rounded to 4 places."""
    total = len(kinds)
    return {kind: round(sum(k == kind for k in kinds) / total, 4) if total else 0.0 for kind in KINDS}
