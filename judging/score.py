"""CLI: judge a table of answers. `python -m judging.score --input FILE --output FILE [--panel MODEL ...]`.

Input columns: question, reference, answer (optional id). Output: the same rows plus judge_score,
judge_<criterion>, judge_score__<model>, rationale and error; a summary line goes to stdout.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from common.atomic import ensure_writable_dir
from common.errors import InputError, exit_on_input_error
from judging.panel import JudgeItem, Panel
from judging.rubric import Rubric
from judging.settings import JudgingConfig
from judging.table_io import read_table, write_table

DEFAULT_CACHE = Path(".cache/judging")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m judging.score", description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, required=True, help="Parquet, CSV or JSONL")
    parser.add_argument("--output", type=Path, required=True, help="Parquet, CSV or JSONL")
    parser.add_argument("--panel", nargs="+", default=list(JudgingConfig().panel), metavar="MODEL")
    parser.add_argument("--rubric", type=Path, help="YAML/JSON with version and weights")
    parser.add_argument("--api-base", help="OpenAI-compatible server for openai/<name> judges")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--max-concurrency", type=int, default=JudgingConfig().max_concurrency)
    parser.add_argument("--skip-preflight", action="store_true", help="do not probe the judges first")
    return parser.parse_args(argv)


@exit_on_input_error
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rubric = Rubric.from_file(args.rubric) if args.rubric else Rubric()
    ensure_writable_dir(args.output.parent, "--output")
    table = read_table(args.input, ("question", "reference", "answer"))
    if table.empty:
        raise InputError(args.input, None, "the judge set is empty: a header but no rows to judge")
    ids = table["id"].astype(str) if "id" in table.columns else [str(i) for i in range(len(table))]
    items = [
        JudgeItem(id=i, question=str(q), reference=str(r), answer=str(a))
        for i, q, r, a in zip(ids, table["question"], table["reference"], table["answer"], strict=True)
    ]
    panel = Panel(
        args.panel,
        rubric,
        cache_dir=args.cache_dir,
        api_base=args.api_base,
        max_concurrency=args.max_concurrency,
    )
    if not args.skip_preflight:
        panel.preflight()
    result = panel.score(items)
    judged = result.items.drop(columns=["id", "question", "reference", "answer"])
    output = table.reset_index(drop=True).join(judged.set_axis(range(len(table))))
    write_table(args.output, output)
    usage = result.usage
    score = "nan" if math.isnan(result.judge_score) else f"{result.judge_score:.3f}"
    print(
        f"judged {len(items)} items with {len(panel.models)} judge(s): judge_score {score}, "
        f"calls {usage['calls']}, cache hits {usage['cache_hits']}, failures {usage['failures']}, "
        f"cost ${usage['cost_usd']:.4f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
