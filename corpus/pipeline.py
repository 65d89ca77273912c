"""Build a corpus with Ray Data: scenarios -> expansion -> PII scrub -> filters -> Parquet splits.

The output directory is named by a hash of every input (config, glossary content, generator and this
pipeline's version), so the same inputs reuse a finished corpus and any change builds a new one. The
directory is filled under a temporary name and renamed into place, so a half-built corpus never looks whole.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import ray

from common import atomic
from common.errors import InputError
from corpus.backends import Expansion, make_expander
from corpus.filters import drop_exact_duplicates, drop_near_duplicates, drop_out_of_bounds
from corpus.glossary import load_glossary
from corpus.pii import scrub
from corpus.scenarios import SPLITS, Scenario, build_scenarios
from corpus.settings import CorpusConfig

# Bump when this module changes what it writes: part of the corpus hash.
PIPELINE_VERSION = "corpus-pipeline-v1"
COLUMNS = ["id", "scenario_id", "term", "cause", "context", "question", "answer", "source", "generator", "split"]
MANIFEST = "manifest.json"
_ROWS_PER_SHARD = 5000
_SCENARIOS_PER_EXTRA_ACTOR = 500
_STAT_COLUMNS = ("_calls", "_cache_hits", "_prompt_tokens", "_completion_tokens", "_cost_usd")
# Settings that change how a corpus is produced but not what it holds, so they stay out of the hash.
_OPERATIONAL_LITELLM_FIELDS = {"max_concurrency", "max_retries", "timeout_seconds", "cache_dir", "setup_hooks"}


@dataclass(frozen=True)
class CorpusBuild:
    path: Path
    manifest: dict[str, Any]
    corpus_hash: str
    # True when an existing complete corpus was reused and nothing was generated.
    reused: bool = False


def corpus_inputs(cfg: CorpusConfig, generator: str) -> dict[str, Any]:
    """Everything that decides a corpus's content, as plain JSON (the glossary by content, not by path)."""
    glossary_bytes = Path(cfg.glossary).read_bytes()
    settings = cfg.model_dump(mode="json", exclude={"glossary", "litellm"})
    if cfg.backend == "litellm":
        settings["litellm"] = cfg.litellm.model_dump(mode="json", exclude=_OPERATIONAL_LITELLM_FIELDS)
    return {
        "pipeline": PIPELINE_VERSION,
        "generator": generator,
        "glossary_sha256": hashlib.sha256(glossary_bytes).hexdigest(),
        "settings": settings,
    }


def hash_inputs(inputs: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def is_complete(path: Path) -> bool:
    return (path / MANIFEST).is_file() and all((path / split).is_dir() for split in SPLITS)


def read_split(corpus_path: Path, split: str) -> pd.DataFrame:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    split_dir = Path(corpus_path) / split
    files = sorted(split_dir.glob("*.parquet"))
    if not files:
        return pd.DataFrame({column: pd.Series(dtype=str) for column in COLUMNS})
    try:
        frame = pd.read_parquet(split_dir)
    except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError, ArrowIOError an OSError
        bad = next((f for f in files if not _readable_parquet(f)), split_dir)
        raise InputError(
            bad, None, f"corrupt Parquet ({type(err).__name__}); delete {corpus_path} to rebuild the corpus"
        ) from None
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(split_dir, missing[0], f"column missing; delete {corpus_path} to rebuild the corpus")
    return frame[COLUMNS].sort_values("id", ignore_index=True)


def _readable_parquet(path: Path) -> bool:
    import pyarrow.parquet as pq

    try:
        pq.read_metadata(path)
    except (OSError, ValueError):
        return False
    return True


class _ExpandScenarios:
    """Ray Data actor: expands a batch of scenarios with the configured backend, a few at a time."""

    def __init__(self, cfg_json: str, cache_root: str):
        cfg = CorpusConfig.model_validate_json(cfg_json)
        self.pairs_per_scenario = cfg.pairs_per_scenario
        self.expander = make_expander(cfg, load_glossary(cfg.glossary), cache_root)
        self.threads = cfg.litellm.max_concurrency if cfg.backend == "litellm" else 1

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        scenarios = [
            Scenario(*fields)
            for fields in zip(
                batch["scenario_id"], batch["term"], batch["cause"], batch["context"], batch["split"], strict=True
            )
        ]
        with ThreadPoolExecutor(self.threads) as pool:
            expansions = list(pool.map(lambda s: self.expander.expand(s, self.pairs_per_scenario), scenarios))
        out: dict[str, list] = {c: [] for c in (*COLUMNS, *_STAT_COLUMNS, "_skipped")}
        for scenario, expansion in zip(scenarios, expansions, strict=True):
            # A scenario with no pairs still yields one marker row, so its cost and skip reason are counted.
            pairs = expansion.pairs or [("", "")]
            for index, (question, answer) in enumerate(pairs):
                row = scenario.as_row() | {
                    "id": f"{scenario.scenario_id}-{index:03d}",
                    "question": question,
                    "answer": answer,
                    "source": "synthetic",
                    "generator": self.expander.generator,
                }
                row |= _stats(expansion) if index == 0 else dict.fromkeys(_STAT_COLUMNS, 0)
                row["_skipped"] = (expansion.skipped or "") if not expansion.pairs else ""
                for column, value in row.items():
                    out[column].append(value)
        return out


def _stats(expansion: Expansion) -> dict[str, float]:
    return {
        "_calls": expansion.calls,
        "_cache_hits": expansion.cache_hits,
        "_prompt_tokens": expansion.prompt_tokens,
        "_completion_tokens": expansion.completion_tokens,
        "_cost_usd": expansion.cost_usd,
    }


def scrub_batch(batch: pd.DataFrame) -> pd.DataFrame:
    """Replace personal data in questions and answers; `_pii` records the placeholders used (JSON)."""
    counts = []
    for column in ("question", "answer"):
        results = [scrub(text) for text in batch[column]]
        batch[column] = [r.text for r in results]
        counts.append([r.counts for r in results])
    batch["_pii"] = [json.dumps(dict(q + a)) for q, a in zip(*counts, strict=True)]
    return batch


def _cap_judge(rows: pd.DataFrame, max_items: int) -> tuple[pd.DataFrame, int]:
    """At most `max_items` judge rows, taken round-robin over scenarios so the judge set stays varied."""
    judge = rows[rows["split"] == "judge"]
    if len(judge) <= max_items:
        return rows, 0
    order = judge.assign(_rank=judge.groupby("scenario_id").cumcount()).sort_values(["_rank", "scenario_id"])
    dropped = order.index[max_items:]
    return rows.drop(index=dropped), len(dropped)


def apply_filters(rows: pd.DataFrame, cfg: CorpusConfig) -> tuple[pd.DataFrame, dict[str, int]]:
    counts: dict[str, int] = {}
    rows, counts["length_bounds"] = drop_out_of_bounds(rows, cfg.filters)
    rows, counts["exact_duplicate"] = drop_exact_duplicates(rows, ("question", "answer"))
    rows, counts["near_duplicate"] = drop_near_duplicates(
        rows, ("question", "answer"), cfg.filters.near_duplicate_threshold
    )
    rows, counts["judge_cap"] = _cap_judge(rows, cfg.max_judge_items)
    return rows, counts


def _write_splits(rows: pd.DataFrame, target: Path) -> dict[str, list[str]]:
    """One Ray Data write for all splits: partitioned on a copy of `split` (so the column stays in the
    files), then each `_part=<split>` directory is renamed to `<split>`."""
    target.mkdir(parents=True)
    rows = rows[COLUMNS].assign(_part=rows["split"]).reset_index(drop=True)
    if len(rows):
        ray.data.from_pandas(rows).write_parquet(
            str(target), partition_cols=["_part"], max_rows_per_file=_ROWS_PER_SHARD
        )
    files = {}
    for split in SPLITS:
        written = target / f"_part={split}"
        if written.is_dir():
            written.rename(target / split)
        else:
            (target / split).mkdir()
        files[split] = sorted(p.name for p in (target / split).iterdir())
    return files


def _generation_summary(raw: pd.DataFrame) -> dict[str, Any]:
    skipped = raw.loc[raw["_skipped"] != "", "_skipped"].value_counts()
    return {
        "calls": int(raw["_calls"].sum()),
        "cache_hits": int(raw["_cache_hits"].sum()),
        "prompt_tokens": int(raw["_prompt_tokens"].sum()),
        "completion_tokens": int(raw["_completion_tokens"].sum()),
        "cost_usd": round(float(raw["_cost_usd"].sum()), 6),
        "skipped_scenarios": {str(k): int(v) for k, v in skipped.items()},
    }


def build_corpus(cfg: CorpusConfig, data_root: Path, *, show_progress: bool = False) -> CorpusBuild:
    """Build (or reuse) the corpus for `cfg` under `data_root/<corpus-hash>/`."""
    cfg = cfg.model_copy(update={"glossary": Path(cfg.glossary).resolve()})
    glossary = load_glossary(cfg.glossary)
    data_root = Path(data_root).resolve()
    cache_root = str(cfg.litellm.cache_dir or data_root / ".llm_cache")
    generator = make_expander(cfg, glossary, cache_root).generator
    inputs = corpus_inputs(cfg, generator)
    digest = hash_inputs(inputs)
    out = data_root / digest
    if is_complete(out):
        return CorpusBuild(out, json.loads((out / MANIFEST).read_text()), digest, reused=True)

    scenarios = build_scenarios(glossary, cfg.split, cfg.seed, cfg.max_scenarios)
    if cfg.max_scenarios is not None and len(scenarios) < cfg.max_scenarios:
        raise InputError(cfg.glossary, "corpus.max_scenarios", f"{cfg.max_scenarios} > {len(scenarios)} scenarios")
    started_ray = not ray.is_initialized()
    if started_ray:
        ray.init(include_dashboard=False, log_to_driver=False)
    data_context = ray.data.DataContext.get_current()
    caller_progress_bars = data_context.enable_progress_bars
    try:
        data_context.enable_progress_bars = show_progress
        raw = _run_dataflow(cfg, scenarios, cache_root)
        generated = raw[raw["_skipped"] == ""]
        kept, filter_counts = apply_filters(generated.drop(columns=["_pii"]), cfg)
        pii_counts = sum((Counter(json.loads(c)) for c in generated["_pii"]), Counter())
        manifest = {
            "corpus_hash": digest,
            "inputs": inputs | {"glossary": str(cfg.glossary), "backend": cfg.backend},
            "generator": generator,
            "scenarios": dict(Counter(s.split for s in scenarios)),
            "rows": {split: int((kept["split"] == split).sum()) for split in SPLITS},
            "rows_generated": len(generated),
            "filters": filter_counts | {"pii_placeholders": dict(sorted(pii_counts.items()))},
            "generation": _generation_summary(raw),
        }
        with atomic.staged_path(out) as staging:
            manifest["files"] = _write_splits(kept, staging)
            atomic.write_json(staging / MANIFEST, manifest)
    finally:
        data_context.enable_progress_bars = caller_progress_bars
        if started_ray:
            ray.shutdown()
    return CorpusBuild(out, manifest, digest)


def _run_dataflow(cfg: CorpusConfig, scenarios: list[Scenario], cache_root: str) -> pd.DataFrame:
    litellm = cfg.backend == "litellm"
    # LLM calls are I/O-bound and share one budget and cache, so one actor runs them on threads.
    # Template expansion is CPU-bound, so a large grid gets an actor per core (up to 4); a small one
    # finishes before a second actor would have started.
    cores = int(ray.available_resources().get("CPU", 1))
    expand_actors = 1 if litellm or len(scenarios) < _SCENARIOS_PER_EXTRA_ACTOR else max(1, min(4, cores))
    batch_size = max(8, math.ceil(len(scenarios) / (4 * expand_actors)))
    ds = ray.data.from_items([s.as_row() for s in scenarios]).map_batches(
        _ExpandScenarios,
        fn_constructor_kwargs={"cfg_json": cfg.model_dump_json(), "cache_root": cache_root},
        batch_size=batch_size,
        concurrency=expand_actors,
    )
    if cfg.filters.scrub_pii:
        ds = ds.map_batches(scrub_batch, batch_format="pandas")
    raw = ds.to_pandas()
    if not cfg.filters.scrub_pii:
        raw["_pii"] = "{}"
    # Ray Data does not preserve row order; the "first row wins" duplicate filters need a fixed one.
    return raw.sort_values("id", ignore_index=True)
