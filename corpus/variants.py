"""Data variants: which training rows a trial tunes on, chosen by config after every pair is labelled.

A variant is (generation, conceptual_share, train_size). Its training rows come from the generated pool of
its method (naive or grounded); its val and judge rows always come from the naive corpus of the same
glossary, seed and split fractions, so every variant is judged on the very same items, drawn from scenarios
no variant trains on. Selection is a pure function of the pool and the three settings; writing it is
corpus/pipeline.py's job.

Rows are taken in a fixed, seeded order that walks round-robin over scenarios (every scenario's first pair,
then every scenario's second, ...), so a small variant still covers many scenarios, and a smaller
`train_size` is a subset of a larger one. Without `train_size`, a `conceptual_share` keeps the largest
training set that every share can reach, min(conceptual rows, factual rows), so variants that differ only in
their share have the same size and a comparison between them is not one of sizes.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pandas as pd

from corpus.kind import KINDS

# Bump when the selection rule changes: part of a variant's hash.
SELECTION_VERSION = "selection-v1"


def selection_order(train: pd.DataFrame, seed: int) -> pd.DataFrame:
    """`train` in the order rows are taken: round-robin over scenarios, each scenario's pairs in a seeded order."""
    key = train["id"].map(lambda row_id: hashlib.sha256(f"{seed}:{row_id}".encode()).hexdigest())
    ordered = train.assign(_key=key).sort_values("_key")
    ordered["_round"] = ordered.groupby("scenario_id").cumcount()
    scenario_key = ordered["scenario_id"].map(lambda s: hashlib.sha256(f"{seed}:{s}".encode()).hexdigest())
    ordered = ordered.assign(_scenario=scenario_key).sort_values(["_round", "_scenario"], kind="stable")
    return ordered.drop(columns=["_key", "_round", "_scenario"])


def select_training(
    train: pd.DataFrame, conceptual_share: float | None, train_size: int | None, seed: int
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The training rows of a variant, and what was asked and what was achieved (for its manifest)."""
    ordered = selection_order(train, seed)
    available = {kind: int((train["kind"] == kind).sum()) for kind in KINDS}
    info: dict[str, Any] = {
        "conceptual_share": conceptual_share,
        "train_size": train_size,
        "available": available,
        "capped": False,
    }
    if conceptual_share is None:
        size = len(ordered) if train_size is None else min(train_size, len(ordered))
        info["capped"] = train_size is not None and train_size > len(ordered)
        chosen = ordered.head(size)
    else:
        size = train_size if train_size is not None else _common_size(available, conceptual_share)
        want_conceptual = round(conceptual_share * size)
        want = {"conceptual": want_conceptual, "factual": size - want_conceptual}
        take = {kind: min(want[kind], available[kind]) for kind in KINDS}
        info["capped"] = take != want
        chosen = pd.concat([ordered[ordered["kind"] == kind].head(take[kind]) for kind in KINDS])
    chosen = chosen.sort_values("id", ignore_index=True)
    info["train_rows"] = len(chosen)
    info["achieved_conceptual_share"] = (
        round(float((chosen["kind"] == "conceptual").mean()), 4) if len(chosen) else None
    )
    return chosen, info


def _common_size(available: dict[str, int], share: float) -> int:
    """min(conceptual, factual): a size every share reaches. With one class absent only the extreme shares
    have rows, so the size is then the most this share can reach."""
    if min(available.values()) > 0:
        return min(available.values())
    reach = [available["conceptual"] / share if share else float("inf")]
    reach.append(available["factual"] / (1 - share) if share < 1 else float("inf"))
    return int(min(reach)) if min(reach) != float("inf") else 0
