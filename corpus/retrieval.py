"""Retrieve the article chunks most relevant to a scenario: MiniLM embeddings, cosine similarity, top k.

A chunk is embedded with its article title and section heading, so a short section still says what it is
about; a scenario's query is its term with the glossary's definition, the cause and the context. The term
leads the query because it decides which article applies; the cause and context pick the section.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from corpus.embeddings import embed
from corpus.glossary import Glossary
from corpus.scenarios import Scenario


def passage(row: dict) -> str:
    heading = "" if row["heading"] == row["title"] else f" - {row['heading']}"
    return f"{row['title']}{heading}: {row['text']}"


def scenario_query(glossary: Glossary, scenario: Scenario) -> str:
    term = next(t for t in glossary.terms if t.term == scenario.term)
    cause = next(c for c in glossary.causes if c.cause == scenario.cause)
    context = next(x for x in glossary.contexts if x.context == scenario.context)
    return f"{term.term}. {term.definition} {cause.hint}; {cause.description}. {context.situation}."


def retrieve(glossary: Glossary, scenarios: list[Scenario], chunks: pd.DataFrame, k: int) -> dict[str, list[str]]:
    """Scenario id -> the ids of its `k` most similar chunks, best first."""
    if chunks.empty or not scenarios:
        return {s.scenario_id: [] for s in scenarios}
    vectors = embed([passage(row) for row in chunks.to_dict("records")])
    # Scenarios sharing a query (none today, but a glossary may repeat a description) are embedded once.
    queries = [scenario_query(glossary, s) for s in scenarios]
    unique = list(dict.fromkeys(queries))
    similarity = embed(unique) @ vectors.T  # (queries, chunks): unit vectors, so cosine
    k = min(k, len(chunks))
    top = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    ids = chunks["chunk_id"].to_numpy()
    by_query = {query: [str(ids[j]) for j in row] for query, row in zip(unique, top, strict=True)}
    return {s.scenario_id: by_query[q] for s, q in zip(scenarios, queries, strict=True)}
