"""CLI: `python -m corpus.import --qa history.csv [--kb articles_dir/] --out DIR` (see corpus/history.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common.errors import exit_on_input_error
from corpus.history import import_history


@exit_on_input_error
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m corpus.import", description=__doc__)
    parser.add_argument("--qa", type=Path, required=True, help="CSV with question and answer columns")
    parser.add_argument("--kb", type=Path, help="folder of .md/.txt knowledge-base articles")
    parser.add_argument("--out", type=Path, required=True, help="directory to write the corpus to")
    args = parser.parse_args(argv)
    manifest = import_history(args.qa, args.out, args.kb)
    filters = manifest["filters"]
    print(f"manifest: {args.out / 'manifest.json'}")
    print(f"rows: {manifest['rows']}")
    print(
        f"dropped: unanswered={filters['unanswered']} duplicate_question={filters['duplicate_question']} "
        f"empty_question={filters['empty_question']}; placeholders: {filters['pii_placeholders']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
