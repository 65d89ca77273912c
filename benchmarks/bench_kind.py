"""Accuracy of the offline conceptual/factual classifier on the held-out labelled pairs; writes
benchmarks/results/kind.json.

The classifier (corpus/kind.py: logistic regression on MiniLM embeddings) is trained on the shipped seed set
and scored on `corpus/data/kind_heldout.jsonl`, pairs written apart from the seed set; the goal is accuracy
>= 0.85 on at least 100 pairs. The accuracy carries a 95% Wilson score interval, per-class precision and
recall and the confusion matrix come with it, and the labelling rate (pairs/s, embedding included) is timed
on the held-out pairs in the same call.

Run: `.venv/bin/python -m benchmarks.bench_kind` from the repository root.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from pathlib import Path

from common import atomic
from common.errors import exit_on_input_error
from corpus.kind import HELDOUT_FILE, KINDS, SEED_FILE, KindClassifier, read_pairs

RESULTS = Path(__file__).resolve().parent / "results" / "kind.json"
GOAL_ACCURACY = 0.85
MIN_HELDOUT = 100


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (better than the normal approximation near 1)."""
    if n == 0:
        return math.nan, math.nan
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def evaluate(seed_file: Path, heldout_file: Path) -> dict:
    seed, heldout = read_pairs(seed_file), read_pairs(heldout_file)
    started = time.perf_counter()
    classifier = KindClassifier(seed)
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    predicted = classifier.predict([p.question for p in heldout], [p.answer for p in heldout])
    predict_seconds = time.perf_counter() - started
    truth = [p.kind for p in heldout]
    correct = sum(t == p for t, p in zip(truth, predicted, strict=True))
    low, high = wilson_interval(correct, len(truth))
    pairs = list(zip(truth, predicted, strict=True))
    confusion = {t: {p: sum(a == t and b == p for a, b in pairs) for p in KINDS} for t in KINDS}
    per_class = {}
    for kind in KINDS:
        tp = confusion[kind][kind]
        labelled = sum(confusion[t][kind] for t in KINDS)
        per_class[kind] = {
            "precision": round(tp / labelled, 4) if labelled else None,
            "recall": round(tp / sum(confusion[kind].values()), 4),
            "support": sum(confusion[kind].values()),
        }
    return {
        "seed_pairs": len(seed),
        "heldout_pairs": len(heldout),
        "accuracy": round(correct / len(truth), 4),
        "accuracy_ci95": [round(low, 4), round(high, 4)],
        "goal": {"accuracy": GOAL_ACCURACY, "min_heldout_pairs": MIN_HELDOUT},
        "meets_goal": correct / len(truth) >= GOAL_ACCURACY and len(truth) >= MIN_HELDOUT,
        "per_class": per_class,
        "confusion": {"rows_true_columns_predicted": confusion},
        "errors": [
            {"question": p.question, "true": p.kind, "predicted": label}
            for p, label in zip(heldout, predicted, strict=True)
            if p.kind != label
        ],
        "train_seconds": round(train_seconds, 2),
        "labelled_pairs_per_second": round(len(heldout) / predict_seconds, 1),
    }


@exit_on_input_error
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_kind", description=__doc__)
    parser.add_argument("--seed-file", type=Path, default=SEED_FILE)
    parser.add_argument("--heldout-file", type=Path, default=HELDOUT_FILE)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    result = evaluate(args.seed_file, args.heldout_file)
    result |= {
        "command": "python -m benchmarks.bench_kind " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_1min": os.getloadavg()[0]},
    }
    atomic.write_json(args.out, result)
    low, high = result["accuracy_ci95"]
    n = result["heldout_pairs"]
    print(f"held-out accuracy {result['accuracy']:.3f} (95% CI {low:.3f}-{high:.3f}) on {n} pairs")
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
