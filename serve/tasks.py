"""`python -m serve.tasks --search NAME`: put questions and two or three models' answers in the ratings database.

From the judge set (default): the answers each model gave during the search, the very texts the judges scored,
so human ratings and judge scores meet on the same answers. From a CSV (`--questions FILE`, a `question`
column): new customer questions, answered now by the served models (greedy, `--max-new-tokens`).
"""

from __future__ import annotations

import argparse
import os

from common.errors import InputError, exit_on_input_error
from serve.catalog import BASE, KNEE, SearchCatalog, ServedModel

MAX_MODELS = 3
MAX_QUESTION_CHARS = 4_000


def default_models(catalog: SearchCatalog) -> dict[str, ServedModel]:
    """Base, knee and one more front member (or trial) with a run of its own: the study's untuned-vs-tuned
    comparison plus a second tuned configuration."""
    chosen = {n: catalog.models[n] for n in (BASE, KNEE) if n in catalog.models}
    runs = {m.run_id for m in chosen.values()}
    others = sorted(
        (m for m in catalog.models.values() if m.run_id not in runs and not m.is_base),
        key=lambda m: (m.pareto_rank is None, m.pareto_rank or 0),
    )
    for model in others[: MAX_MODELS - len(chosen)]:
        chosen[model.name] = model
    return chosen


def check_models(models: dict[str, ServedModel]) -> None:
    if not 2 <= len(models) <= MAX_MODELS:
        raise InputError("--models", None, f"rate 2-{MAX_MODELS} models per question, got {list(models)}")
    if len({m.run_id for m in models.values()}) < len(models):
        raise InputError("--models", None, f"two of {list(models)} are the same trial (the knee is one of the trials)")


def add_judge_set(catalog: SearchCatalog, models: dict[str, ServedModel], store, limit: int | None) -> int:
    tables = {name: catalog.judged_answers(m).set_index("id") for name, m in models.items()}
    ids = [i for i in next(iter(tables.values())).index if all(i in t.index for t in tables.values())]
    added = 0
    for item_id in ids[:limit]:
        first = next(iter(tables.values())).loc[item_id]
        answers = {name: (models[name].run_id, str(t.loc[item_id, "answer"])) for name, t in tables.items()}
        added += store.add_question(catalog.name, "judge-set", str(item_id), str(first["question"]), answers)
    return added


def add_csv_questions(
    catalog: SearchCatalog, models: dict[str, ServedModel], store, path, limit: int | None, max_new_tokens: int
) -> int:
    from judging.table_io import read_table
    from serve.models import load_engine

    questions = [str(q).strip() for q in read_table(path, ("question",))["question"]][:limit]
    for row, text in enumerate(questions, start=1):
        if len(text) > MAX_QUESTION_CHARS:
            raise InputError(path, "question", f"row {row}: {len(text)} characters; at most {MAX_QUESTION_CHARS}")
    engine = load_engine(catalog, models)
    try:
        broken = [n for n in models if n in engine.unavailable]
        if broken:
            raise InputError("--models", None, f"{broken[0]} is unavailable: {engine.unavailable[broken[0]]}")
        messages = [[{"role": "user", "content": q}] for q in questions]
        futures = {n: [engine.submit(n, m, max_new_tokens) for m in messages] for n in models}
        added = 0
        for i, text in enumerate(questions):
            answers = {n: (models[n].run_id, futures[n][i].result().text) for n in models}
            added += store.add_question(catalog.name, "csv", f"{path.name}:{i + 1}", text, answers)
        return added
    finally:
        engine.close()


@exit_on_input_error
def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar per fetched file otherwise
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m serve.tasks", description=__doc__)
    parser.add_argument("--search", required=True)
    parser.add_argument("--tracking-uri")
    parser.add_argument("--models", help=f"2-{MAX_MODELS} comma-separated names (default: base, knee, one more)")
    parser.add_argument("--questions", type=Path, help="CSV/JSONL/Parquet with a `question` column")
    parser.add_argument("--limit", type=int, help="at most this many questions")
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--ratings-db", help="SQLAlchemy URL of the ratings database (default: ./ratings.db)")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        raise InputError("--limit", None, f"{args.limit} is not a positive count")
    if not 1 <= args.max_new_tokens <= 1024:
        raise InputError("--max-new-tokens", None, f"{args.max_new_tokens} is not in 1-1024")

    from judging.human.store import RatingStore
    from search.tracking import resolve_tracking_uri
    from serve.catalog import load_catalog

    store = RatingStore(args.ratings_db)
    catalog = load_catalog(args.search, resolve_tracking_uri(args.tracking_uri))
    models = catalog.select(args.models.split(",")) if args.models else default_models(catalog)
    check_models(models)
    if args.questions is not None:
        added = add_csv_questions(catalog, models, store, args.questions, args.limit, args.max_new_tokens)
    else:
        added = add_judge_set(catalog, models, store, args.limit)
    print(f"{added} questions added for rating, each with answers from {len(models)} models (hidden from raters)")


if __name__ == "__main__":
    main()
