"""CLI: `python -m corpus.import --qa history.csv [--kb articles_dir/] --out DIR` (see corpus/history.py), or
`python -m corpus.import --articles help_dir/ --out DIR` (help articles to a chunk table, corpus/articles.py).

`--qa` takes a CSV (comma, semicolon or tab separated) or a JSONL file with question and answer columns. The
corpus gets personal data replaced by numbered placeholders; `DIR/pii_sample.csv` shows changed rows before
and after for a person to check (it holds the originals: delete it once checked).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common.errors import InputError, exit_on_input_error
from corpus.articles import import_articles
from corpus.history import import_history


@exit_on_input_error
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m corpus.import", description=__doc__)
    parser.add_argument("--qa", type=Path, help="CSV or JSONL with question and answer columns")
    parser.add_argument(
        "--articles", type=Path, help="instead of --qa: a folder of help articles (.md, .txt, .html) to clean, chunk "
        "and scrub into DIR/chunks.parquet (see corpus/articles.py)",
    )  # fmt: skip
    parser.add_argument("--kb", type=Path, help="folder of .md/.txt knowledge-base articles")
    parser.add_argument("--out", type=Path, required=True, help="directory to write the corpus to")
    parser.add_argument("--encoding", default="utf-8", help="text encoding of --qa (default utf-8)")
    args = parser.parse_args(argv)
    if args.articles is not None:
        if args.qa is not None:
            raise InputError("--articles", None, "is imported on its own; add articles to a --qa import with --kb")
        return _print_articles(import_articles(args.articles, args.out), args.out)
    if args.qa is None:
        raise InputError("--qa", None, "required (or --articles DIR to import help articles)")
    manifest = import_history(args.qa, args.out, args.kb, encoding=args.encoding)
    filters = manifest["filters"]
    print(f"manifest: {args.out / 'manifest.json'}")
    print(f"rows read: {filters['rows_read']}; kept: {manifest['rows']}")
    print(
        f"dropped: unanswered={filters['unanswered']} duplicate_question={filters['duplicate_question']} "
        f"empty_question={filters['empty_question']} empty={filters['empty']}"
    )
    print(f"placeholders: {filters['pii_placeholders']}")
    print(f"sample of changed rows to check: {args.out / manifest['pii_sample']['file']}")
    return 0


def _print_articles(manifest: dict, out: Path) -> int:
    print(f"manifest: {out / 'manifest.json'}")
    print(f"articles: {manifest['articles']}; chunks: {manifest['chunks']} ({manifest['chars']} characters)")
    print(f"placeholders: {manifest['pii_placeholders']}; files skipped: {len(manifest['skipped_files'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
