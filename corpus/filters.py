"""Quality filters on question/answer rows: length bounds, exact duplicates and near-duplicates.

Each filter returns the rows it keeps and how many it dropped, so the manifest can count every drop.
"""

from __future__ import annotations

import re

import pandas as pd
from datasketch import MinHash, MinHashLSH

from corpus.settings import FilterSettings

_WORD = re.compile(r"\w+")
# 64 permutations keep the Jaccard estimate within about +-0.06 at a fraction of the cost of 128.
_NUM_PERM = 64


def _normalised(text: str) -> str:
    return " ".join(text.casefold().split())


def drop_out_of_bounds(rows: pd.DataFrame, settings: FilterSettings) -> tuple[pd.DataFrame, int]:
    q_len = rows["question"].str.len()
    a_len = rows["answer"].str.len()
    keep = q_len.between(settings.min_question_chars, settings.max_question_chars) & a_len.between(
        settings.min_answer_chars, settings.max_answer_chars
    )
    return rows[keep], int((~keep).sum())


def drop_exact_duplicates(rows: pd.DataFrame, columns: tuple[str, ...]) -> tuple[pd.DataFrame, int]:
    """Rows equal to an earlier row on `columns` after case-folding and whitespace collapse."""
    key = rows[list(columns)].agg("\x1f".join, axis=1).map(_normalised)
    keep = ~key.duplicated()
    return rows[keep], int((~keep).sum())


def _shingles(text: str) -> list[bytes]:
    words = _WORD.findall(text.casefold())
    if len(words) < 3:
        return [" ".join(words).encode()]
    return [" ".join(words[i : i + 3]).encode() for i in range(len(words) - 2)]


def drop_near_duplicates(
    rows: pd.DataFrame, columns: tuple[str, ...], threshold: float, seed: int = 1
) -> tuple[pd.DataFrame, int]:
    """Rows whose word-3-gram MinHash is within `threshold` Jaccard of an earlier kept row (first one wins)."""
    if rows.empty:
        return rows, 0
    texts = rows[list(columns)].agg("\n".join, axis=1)
    signatures = MinHash.bulk((_shingles(t) for t in texts), num_perm=_NUM_PERM, seed=seed)
    index = MinHashLSH(threshold=threshold, num_perm=_NUM_PERM)
    kept_signatures: dict[int, MinHash] = {}
    keep = []
    for position, signature in enumerate(signatures):
        # LSH candidates are approximate; confirming with the signatures' own estimate removes banding noise.
        is_duplicate = any(signature.jaccard(kept_signatures[other]) >= threshold for other in index.query(signature))
        keep.append(not is_duplicate)
        if not is_duplicate:
            index.insert(position, signature)
            kept_signatures[position] = signature
    mask = pd.Series(keep, index=rows.index)
    return rows[mask], int((~mask).sum())
