"""Scrub a table of tickets on Ray Data: an actor pool, so only its few actors import torch and load the model.

Each actor loads the tagger once (about 3 s of torch import and model load on this machine) and scrubs
batches of tickets with one model call per batch; one thread per actor, since two OpenMP threads per process
spin-wait on a shared 2-core machine. Small tables are scrubbed in this process instead, as starting Ray costs
more than it saves below a few thousand tickets.
"""

from __future__ import annotations

import json
from collections import Counter

import pandas as pd

from corpus.pii import scrub_tickets

RAY_MIN_TICKETS = 3000
BATCH_TICKETS = 256


def scrub_batch(batch: pd.DataFrame, prefilter: bool = True) -> pd.DataFrame:
    """Question and answer of each row scrubbed as one ticket; `_pii` holds its placeholder counts (JSON).
    `prefilter=False` has the model read every sentence (corpus/pii_filter.py; the benchmark's baseline)."""
    results = scrub_tickets(list(zip(batch["question"], batch["answer"], strict=True)), prefilter)
    batch = batch.copy()
    batch["question"] = [r.texts[0] for r in results]
    batch["answer"] = [r.texts[1] for r in results]
    batch["_pii"] = [json.dumps(dict(r.counts)) for r in results]
    return batch


class _ScrubActor:
    def __init__(self, prefilter: bool = True) -> None:
        import torch

        from corpus.pii_filter import common_words
        from corpus.pii_model import tagger

        torch.set_num_threads(1)
        tagger()
        common_words()
        self.prefilter = prefilter

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        return scrub_batch(batch, self.prefilter)


def scrub_frame(
    frame: pd.DataFrame, workers: int = 2, use_ray: bool | None = None, prefilter: bool = True
) -> tuple[pd.DataFrame, Counter]:
    """`frame` with question and answer scrubbed, in the same order, and the placeholder counts of all rows."""
    if use_ray is None:
        use_ray = len(frame) >= RAY_MIN_TICKETS
    if not use_ray:
        out = scrub_batch(frame, prefilter)
    else:
        import ray

        if not ray.is_initialized():
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        # One block per batch: from a single block the pool would hand all the work to one actor.
        ordered = frame.assign(_order=range(len(frame)))
        size = min(BATCH_TICKETS, -(-len(frame) // workers))
        ds = ray.data.from_pandas([ordered.iloc[i : i + size] for i in range(0, len(frame), size)])
        ds = ds.map_batches(
            _ScrubActor, batch_format="pandas", batch_size=BATCH_TICKETS, concurrency=workers, num_cpus=1,
            fn_constructor_kwargs={"prefilter": prefilter},
        )  # fmt: skip
        out = ds.to_pandas().sort_values("_order").drop(columns="_order").set_axis(frame.index)
        out = out.astype({column: frame[column].dtype for column in frame.columns})  # arrow strings back
    counts = sum((Counter(json.loads(c)) for c in out["_pii"]), Counter())
    return out.drop(columns="_pii"), counts
