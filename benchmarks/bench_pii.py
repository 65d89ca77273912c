"""PII scrubbing: quality on the planted holdout and throughput on Ray Data; writes benchmarks/results/pii.json.

Quality: the 80 hand-written tickets of tests/fixtures/corpus/pii_holdout.jsonl go through the real import
(`corpus.history.import_history`, a CSV written from the holdout), which must keep every row; recall and
precision come from corpus/pii_eval.py on the spans the scrubber replaces. Throughput: `--tickets` synthetic
tickets (question and answer; corpus/pii_data.py's dev split, which the model never trained on) through
`corpus.pii_ray.scrub_frame` on a Ray Data actor pool, timed from the call to the last row back, Ray's start
included; a single-process run of the same function on a slice gives the baseline rate in the same call.

    python -m benchmarks.bench_pii [--tickets 10000] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from common import atomic
from corpus.history import import_history
from corpus.pii import find_pii_batch
from corpus.pii_data import synthetic_tickets
from corpus.pii_eval import FIELDS, compute_holdout_scores, load_holdout
from corpus.pii_ray import scrub_frame

ROOT = Path(__file__).resolve().parent.parent
HOLDOUT = ROOT / "tests" / "fixtures" / "corpus" / "pii_holdout.jsonl"
RESULTS = ROOT / "benchmarks" / "results" / "pii.json"
TARGETS = {"recall": 0.95, "precision": 0.95, "seconds_per_10k_tickets": 60.0}


def holdout_quality(path: Path = HOLDOUT) -> dict:
    rows = load_holdout(path)
    texts = [row[field] for row in rows for field in FIELDS]
    spans = find_pii_batch(texts)
    per_row = [dict(zip(FIELDS, spans[2 * i : 2 * i + 2], strict=True)) for i in range(len(rows))]
    scores = compute_holdout_scores(rows, per_row)
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "holdout.csv"
        pd.DataFrame([{f: row[f] for f in FIELDS} for row in rows]).to_csv(csv, index=False)
        manifest = import_history(csv, Path(tmp) / "corpus", use_ray=False)
    scores["rows_kept_by_import"] = sum(manifest["rows"].values())
    return scores


def synthetic_frame(tickets: int, seed: int = 7) -> pd.DataFrame:
    texts = [text for text, _ in synthetic_tickets(2 * tickets, seed=seed, split="dev")]
    return pd.DataFrame({"question": texts[0::2], "answer": texts[1::2]})


def throughput(tickets: int, workers: int) -> dict:
    frame = synthetic_frame(tickets)
    baseline_slice = frame.iloc[: max(200, tickets // 20)]
    started = time.perf_counter()
    scrub_frame(baseline_slice, use_ray=False)
    single_rate = len(baseline_slice) / (time.perf_counter() - started)
    started = time.perf_counter()
    out, counts = scrub_frame(frame, workers=workers, use_ray=True)
    seconds = time.perf_counter() - started
    assert len(out) == len(frame)
    return {
        "tickets": tickets,
        "workers": workers,
        "seconds": round(seconds, 1),
        "seconds_per_10k_tickets": round(seconds * 10_000 / tickets, 1),
        "tickets_per_second": round(tickets / seconds, 1),
        "single_process_tickets_per_second": round(single_rate, 1),
        "ratio_to_single_process": round(tickets / seconds / single_rate, 2),
        "placeholders": dict(sorted(counts.items())),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_pii", description=__doc__)
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    quality = holdout_quality()
    result = {
        "command": "python -m benchmarks.bench_pii " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average_at_start": os.getloadavg()},  # fmt: skip
        "targets": TARGETS,
        "holdout": quality,
    }
    if not args.skip_throughput:
        result["throughput"] = throughput(args.tickets, args.workers)
        result["machine"]["load_average_at_end"] = os.getloadavg()
    atomic.write_json(args.out, result)
    summary = {k: quality[k] for k in ("recall", "precision", "recall_typed", "decoys_kept", "rows_kept_by_import")}
    print(summary, result.get("throughput", {}).get("seconds_per_10k_tickets"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
