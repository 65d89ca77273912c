"""Recall and precision of the scrubber on a planted holdout (tests/fixtures/corpus/pii_holdout.jsonl).

A planted value is a hit when every character of it (spaces aside) lies inside a replaced span: a surname
left behind or half a card number is a miss. It is typed right when the span covering it has the planted
kind. Precision is the share of replaced spans that overlap a planted value. A decoy (town, handset, plan,
menu path, telecom term, a date that is no birth date) survives when no replaced span touches it.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from corpus.pii_span import Span

FIELDS = ("question", "answer")


def load_holdout(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def _ranges(text: str, value: str) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(re.escape(value), text)]


def _covering(spans: list[Span], start: int, end: int, text: str) -> list[Span] | None:
    """The spans covering every non-space character of text[start:end], or None if one is left out."""
    covering = [s for s in spans if s.start < end and s.end > start]
    for i in range(start, end):
        if not text[i].isspace() and not any(s.start <= i < s.end for s in covering):
            return None
    return covering


def compute_holdout_scores(rows: list[dict[str, Any]], spans: list[dict[str, list[Span]]]) -> dict[str, Any]:
    """`spans[i][field]`: the replaced spans of row i's field, in its original text."""
    planted, hits, typed = Counter(), Counter(), Counter()
    misses, wrong_kind, false_spans, broken_decoys = [], [], [], []
    personal_spans = total_spans = 0
    decoys = decoys_kept = 0
    for row, found in zip(rows, spans, strict=True):
        planted_ranges: dict[str, list[tuple[int, int]]] = {f: [] for f in FIELDS}
        for field, kind, value in row["planted"]:
            planted[kind] += 1
            ranges = _ranges(row[field], value)
            planted_ranges[field] += ranges
            covers = [_covering(found[field], s, e, row[field]) for s, e in ranges]
            if ranges and all(c is not None for c in covers):
                hits[kind] += 1
                if all(any(s.kind == kind for s in c) for c in covers):
                    typed[kind] += 1
                else:
                    wrong_kind.append((row["id"], kind, sorted({s.kind for c in covers for s in c})))
            else:
                misses.append((row["id"], kind))
        for field in FIELDS:
            for span in found[field]:
                total_spans += 1
                if any(span.start < e and span.end > s for s, e in planted_ranges[field]):
                    personal_spans += 1
                else:
                    false_spans.append((row["id"], span.kind))
        for field, value in row["decoys"]:
            decoys += 1
            ranges = _ranges(row[field], value)
            if not any(s.start < e and s.end > b for b, e in ranges for s in found[field]):
                decoys_kept += 1
            else:
                broken_decoys.append((row["id"], value))
    total = sum(planted.values())
    return {
        "rows": len(rows),
        "planted": total,
        "recall": sum(hits.values()) / total,
        "recall_typed": sum(typed.values()) / total,
        "precision": personal_spans / max(1, total_spans),
        "replaced_spans": total_spans,
        "decoys": decoys,
        "decoys_kept": decoys_kept / max(1, decoys),
        "recall_by_kind": {k: round(hits[k] / planted[k], 3) for k in sorted(planted)},
        "planted_by_kind": dict(sorted(planted.items())),
        "misses": misses,
        "wrong_kind": wrong_kind,
        "false_spans": false_spans,
        "broken_decoys": broken_decoys,
    }
