"""PII scrubbing: quality on the planted holdout and a fresh Faker set, and throughput on Ray Data; writes
benchmarks/results/pii.json.

Quality: the 80 hand-written tickets of tests/fixtures/corpus/pii_holdout.jsonl go through the real import
(`corpus.history.import_history`, a CSV written from the holdout), which must keep every row; recall and
precision come from corpus/pii_eval.py on the spans the scrubber replaces. A fresh synthetic set
(corpus/pii_data.py's "fresh" split: name and address locales that training never saw, another seed) gives recall
per model kind on more addresses than the holdout holds. Both are measured with the sentence pre-filter
(corpus/pii_filter.py) and without it, with the share of characters the model reads.

Throughput: synthetic tickets (question and answer; the dev split, which the model never trained on). The speed-up
of the pre-filter is a paired ratio: `--paired-tickets` of them scrubbed batch by batch in this process with the
pre-filter and without it (the previous pipeline), the order alternating, so load drifting on a shared machine hits
both alike (two Ray runs one after the other read 0.63 at load 32 falling to 14, which says nothing about the
code). The absolute figure: `--tickets` through `corpus.pii_ray.scrub_frame` on a Ray Data actor pool, timed from
the call to the last row back, Ray's start included, with the load average before and after.

    python -m benchmarks.bench_pii [--tickets 10000] [--workers 2] [--fresh-tickets 1000] [--paired-tickets 2048]
        [--skip-throughput]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pandas as pd

from common import atomic
from corpus.history import import_history
from corpus.pii import MODEL_KINDS, find_pii_batch
from corpus.pii_data import synthetic_tickets
from corpus.pii_eval import FIELDS, compute_holdout_scores, load_holdout
from corpus.pii_filter import model_chunks
from corpus.pii_ray import BATCH_TICKETS, scrub_frame

ROOT = Path(__file__).resolve().parent.parent
HOLDOUT = ROOT / "tests" / "fixtures" / "corpus" / "pii_holdout.jsonl"
RESULTS = ROOT / "benchmarks" / "results" / "pii.json"
TARGETS = {"recall": 0.95, "precision": 0.95, "seconds_per_10k_tickets": 60.0}


def model_share(texts: list[str]) -> float:
    """Share of the characters of `texts` that the pre-filter hands to the model."""
    read = sum(end - start for text in texts for start, end in model_chunks(text))
    return round(read / max(1, sum(len(text) for text in texts)), 3)


def holdout_quality(prefilter: bool, path: Path = HOLDOUT) -> dict:
    rows = load_holdout(path)
    texts = [row[field] for row in rows for field in FIELDS]
    spans = find_pii_batch(texts, prefilter)
    per_row = [dict(zip(FIELDS, spans[2 * i : 2 * i + 2], strict=True)) for i in range(len(rows))]
    scores = compute_holdout_scores(rows, per_row)
    scores["model_reads_share_of_characters"] = model_share(texts) if prefilter else 1.0
    return scores


def rows_kept_by_import(path: Path = HOLDOUT) -> int:
    rows = load_holdout(path)
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "holdout.csv"
        pd.DataFrame([{f: row[f] for f in FIELDS} for row in rows]).to_csv(csv, index=False)
        manifest = import_history(csv, Path(tmp) / "corpus", use_ray=False)
    return sum(manifest["rows"].values())


def fresh_quality(tickets: int, prefilter: bool, seed: int = 2027) -> dict:
    """Recall per model kind on the fresh split: a labelled value is found when every non-space character of it is
    replaced (by any kind); precision counts model-kind spans that touch no labelled value."""
    examples = list(synthetic_tickets(2 * tickets, seed=seed, split="fresh"))
    texts = [text for text, _ in examples]
    found = find_pii_batch(texts, prefilter)
    planted, hits = Counter(), Counter()
    model_spans = false_spans = 0
    for (text, labels), spans in zip(examples, found, strict=True):
        for start, end, kind in labels:
            planted[kind] += 1
            covered = all(text[i].isspace() or any(s.start <= i < s.end for s in spans) for i in range(start, end))
            hits[kind] += covered
        for span in spans:
            if span.kind in MODEL_KINDS:
                model_spans += 1
                false_spans += not any(span.start < end and span.end > start for start, end, _ in labels)
    return {
        "texts": len(texts),
        "planted_by_kind": dict(sorted(planted.items())),
        "recall": round(sum(hits.values()) / max(1, sum(planted.values())), 3),
        "recall_by_kind": {kind: round(hits[kind] / planted[kind], 3) for kind in sorted(planted)},
        "model_kind_precision": round(1 - false_spans / max(1, model_spans), 3),
        "model_reads_share_of_characters": model_share(texts) if prefilter else 1.0,
    }


def synthetic_frame(tickets: int, seed: int = 7) -> pd.DataFrame:
    texts = [text for text, _ in synthetic_tickets(2 * tickets, seed=seed, split="dev")]
    return pd.DataFrame({"question": texts[0::2], "answer": texts[1::2]})


def paired_speedup(frame: pd.DataFrame, batch_tickets: int = BATCH_TICKETS) -> dict:
    """The pipeline (pre-filter on) against the previous pipeline (off) on the same batches in this process, one
    thread, the order alternating batch by batch, so load that drifts on the shared machine hits both alike."""
    from corpus.pii_ray import scrub_batch

    seconds = {True: 0.0, False: 0.0}
    scrub_batch(frame.iloc[:16])  # load the model and word lists outside the timing
    for n, start in enumerate(range(0, len(frame), batch_tickets)):
        batch = frame.iloc[start : start + batch_tickets]
        for prefilter in (True, False) if n % 2 == 0 else (False, True):
            started = time.perf_counter()
            scrub_batch(batch, prefilter)
            seconds[prefilter] += time.perf_counter() - started
    return {
        "tickets": len(frame),
        "pipeline_seconds": round(seconds[True], 1),
        "previous_pipeline_seconds": round(seconds[False], 1),
        "speedup_over_previous_pipeline": round(seconds[False] / seconds[True], 2),
    }


def throughput(tickets: int, workers: int, paired_tickets: int) -> dict:
    """The paired ratio, then the pipeline's absolute time on a Ray Data actor pool, Ray's start included."""
    frame = synthetic_frame(tickets)
    load_at_start = os.getloadavg()
    paired = paired_speedup(frame.iloc[:paired_tickets])
    started = time.perf_counter()
    out, counts = scrub_frame(frame, workers=workers, use_ray=True)
    seconds = time.perf_counter() - started
    assert len(out) == len(frame)
    return {
        "paired_in_one_process": paired,
        "speedup_over_previous_pipeline": paired["speedup_over_previous_pipeline"],
        "tickets": tickets,
        "workers": workers,
        "seconds_with_ray_start": round(seconds, 1),
        "seconds_per_10k_tickets": round(seconds * 10_000 / tickets, 1),
        "tickets_per_second": round(tickets / seconds, 1),
        "load_average_at_start": load_at_start,
        "load_average_at_end": os.getloadavg(),
        "placeholders": dict(sorted(counts.items())),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_pii", description=__doc__)
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--fresh-tickets", type=int, default=1000)
    parser.add_argument("--paired-tickets", type=int, default=2048)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    import torch

    # The quality half runs in this process: with two threads OpenMP spin-waits on the shared 2-core machine (a head
    # training step took 15.6 s against 1.0 s with one at load 12-17), as the actors' one thread avoids.
    torch.set_num_threads(1)
    result = {
        "command": "python -m benchmarks.bench_pii " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average_at_start": os.getloadavg()},  # fmt: skip
        "targets": TARGETS,
        "holdout": holdout_quality(prefilter=True),
        "holdout_without_prefilter": holdout_quality(prefilter=False),
        "fresh": fresh_quality(args.fresh_tickets, prefilter=True),
        "fresh_without_prefilter": fresh_quality(args.fresh_tickets, prefilter=False),
    }
    result["holdout"]["rows_kept_by_import"] = rows_kept_by_import()
    if not args.skip_throughput:
        result["throughput"] = throughput(args.tickets, args.workers, args.paired_tickets)
    result["machine"]["load_average_at_end"] = os.getloadavg()
    atomic.write_json(args.out, result)
    quality = result["holdout"]
    summary = {k: quality[k] for k in ("recall", "precision", "recall_typed", "decoys_kept", "rows_kept_by_import")}
    print(summary, result["fresh"]["recall_by_kind"], result.get("throughput", {}).get("seconds_per_10k_tickets"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
