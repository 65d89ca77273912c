"""Build a corpus with Ray Data: scenarios -> generation (naive | grounded) -> PII scrub -> filters ->
conceptual/factual labels -> Parquet splits; then, for a data variant, the training rows it selects.

Every output directory is named by a hash of its inputs (config, glossary and articles content, generator,
labeller and this pipeline's version), so the same inputs reuse a finished corpus and any change builds a new
one. Three kinds of directory, each built once:

- the naive corpus: every split, generated from the glossary; its val and judge rows serve every variant;
- the grounded pool (only with `generation: grounded`): training scenarios only, generated from article chunks;
- a variant (only with `conceptual_share` or `train_size` set, or grounded generation): training rows
  selected from its pool (corpus/variants.py) beside the naive corpus's val and judge rows, copied.

A directory is filled under a temporary name and renamed into place, under a lock, and only the first rename
publishes (corpus/publish.py): a half-built corpus never looks whole, and two processes asking for the same
one build it once.
"""

from __future__ import annotations

import hashlib
import io
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
from corpus import articles, publish
from corpus.backends import Expansion
from corpus.expanders import make_expander
from corpus.filters import drop_exact_duplicates, drop_near_duplicates, drop_out_of_bounds
from corpus.glossary import Glossary, load_glossary
from corpus.grounded import EXTRACTIVE_VERSION, GROUNDED_PROMPT_VERSION, make_grounded_expander
from corpus.kind import kind_shares, offline_classifier, offline_identity
from corpus.pii import scrub
from corpus.scenarios import SPLITS, Scenario, build_scenarios
from corpus.settings import CorpusConfig
from corpus.variants import SELECTION_VERSION, select_training

# Bump when this module changes what it writes: part of the corpus hash.
PIPELINE_VERSION = "corpus-pipeline-v2"
COLUMNS = [
    "id", "scenario_id", "term", "cause", "context", "question", "answer", "source", "generator", "generation",
    "chunk_ids", "kind", "split",
]  # fmt: skip
# Settings that only select among generated rows, or only matter to grounded generation: each build below
# hashes the ones it uses.
_VARIANT_FIELDS = {"generation", "articles", "retrieval_top_k", "conceptual_share", "train_size", "kind_labeller"}
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


def corpus_inputs(cfg: CorpusConfig, generator: str, labeller: str | None = None) -> dict[str, Any]:
    """Everything that decides a generated corpus's content, as plain JSON (glossary and articles by content,
    not by path). Selection settings are left out: they decide variants, which are hashed on their own."""
    labeller = labeller or labeller_name(cfg)
    glossary_bytes = Path(cfg.glossary).read_bytes()
    settings = cfg.model_dump(mode="json", exclude={"glossary", "litellm", *_VARIANT_FIELDS})
    if cfg.backend == "litellm" or labeller.startswith("litellm:"):
        settings["litellm"] = cfg.litellm.model_dump(mode="json", exclude=_OPERATIONAL_LITELLM_FIELDS)
    inputs = {
        "pipeline": PIPELINE_VERSION,
        "generator": generator,
        "generation": cfg.generation,
        "labeller": labeller,
        "glossary_sha256": hashlib.sha256(glossary_bytes).hexdigest(),
        "settings": settings,
    }
    if cfg.generation == "grounded":
        inputs["articles_sha256"] = articles.folder_digest(articles.resolve_folder(cfg.articles), "corpus.articles")
        inputs["retrieval_top_k"] = cfg.retrieval_top_k
    return inputs


def labeller_name(cfg: CorpusConfig) -> str:
    """Who labels conceptual/factual, as recorded in the hash: the litellm labeller or the offline classifier."""
    if cfg.kind_labeller == "litellm":
        from corpus.llm_labeller import LABEL_PROMPT_VERSION

        return f"litellm:{cfg.litellm.model}:{LABEL_PROMPT_VERSION}"
    return offline_identity()


def generator_name(cfg: CorpusConfig, glossary: Glossary, cache_root: str) -> str:
    if cfg.generation == "grounded":
        return (
            f"litellm:{cfg.litellm.model}:{GROUNDED_PROMPT_VERSION}" if cfg.backend == "litellm" else EXTRACTIVE_VERSION
        )
    return make_expander(cfg, glossary, cache_root).generator


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
    return frame[COLUMNS].astype({"chunk_ids": str, "kind": str}).sort_values("id", ignore_index=True)


def _readable_parquet(path: Path) -> bool:
    import pyarrow.parquet as pq

    try:
        pq.read_metadata(path)
    except (OSError, ValueError):
        return False
    return True


class _ExpandScenarios:
    """Ray Data actor: expands a batch of scenarios with the configured backend, a few at a time."""

    def __init__(self, cfg_json: str, cache_root: str, grounding_json: str | None = None):
        cfg = CorpusConfig.model_validate_json(cfg_json)
        self.pairs_per_scenario = cfg.pairs_per_scenario
        glossary = load_glossary(cfg.glossary)
        self.generation = cfg.generation
        if grounding_json is None:
            self.expander = make_expander(cfg, glossary, cache_root)
        else:
            grounding = json.loads(grounding_json)
            self.expander = make_grounded_expander(
                cfg, glossary, cache_root, grounding["chunks"], grounding["retrieved"]
            )
        self.source = "article" if cfg.generation == "grounded" else "synthetic"
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
            chunk_ids = getattr(expansion, "pair_chunk_ids", None) or [""] * len(pairs)
            for index, ((question, answer), chunks) in enumerate(zip(pairs, chunk_ids, strict=True)):
                row = scenario.as_row() | {
                    "id": f"{scenario.scenario_id}-{index:03d}",
                    "question": question,
                    "answer": answer,
                    "source": self.source,
                    "generator": self.expander.generator,
                    "generation": self.generation,
                    "chunk_ids": chunks,
                    "kind": "",
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
    """Build (or reuse) the corpus `cfg` describes under `data_root/<corpus-hash>/`: the naive corpus itself
    when no variant setting is used, else the variant (module docstring)."""
    update: dict[str, Any] = {"glossary": Path(cfg.glossary).resolve()}
    if cfg.articles is not None:
        update["articles"] = Path(cfg.articles).resolve()
    cfg = cfg.model_copy(update=update)
    data_root = Path(data_root).resolve()
    naive = cfg.model_copy(update={"generation": "naive", "conceptual_share": None, "train_size": None})
    with _RaySession(show_progress) as ray_session:
        base = _build_generated(naive, data_root, ray_session)
        if cfg == naive:
            return base
        pool = base if cfg.generation == "naive" else _build_generated(cfg, data_root, ray_session, train_only=True)
        return _build_variant(cfg, base, pool, data_root)


class _RaySession:
    """Ray, started only if a build needs it and stopped again if this process started it; Ray Data's progress
    bars shown as asked and put back afterwards."""

    def __init__(self, show_progress: bool):
        self.show_progress = show_progress
        self.started = False
        self.caller_progress_bars: bool | None = None

    def ensure(self) -> None:
        if not ray.is_initialized():
            ray.init(include_dashboard=False, log_to_driver=False)
            self.started = True
        context = ray.data.DataContext.get_current()
        if self.caller_progress_bars is None:
            self.caller_progress_bars = context.enable_progress_bars
        context.enable_progress_bars = self.show_progress

    def __enter__(self) -> _RaySession:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.caller_progress_bars is not None and ray.is_initialized():
            ray.data.DataContext.get_current().enable_progress_bars = self.caller_progress_bars
        if self.started:
            ray.shutdown()


def _reuse(out: Path, digest: str) -> CorpusBuild | None:
    if is_complete(out):
        return CorpusBuild(out, json.loads((out / MANIFEST).read_text()), digest, reused=True)
    return None


def _built(out: Path, digest: str) -> CorpusBuild:
    """The corpus this process just built, read back as published."""
    return CorpusBuild(out, json.loads((out / MANIFEST).read_text()), digest)


def _build_generated(cfg: CorpusConfig, data_root: Path, ray_session: _RaySession, *, train_only: bool = False):
    """Generate, scrub, filter and label one corpus (all splits, or only training scenarios for a pool)."""
    glossary = load_glossary(cfg.glossary)
    cache_root = str(cfg.litellm.cache_dir or data_root / ".llm_cache")
    generator = generator_name(cfg, glossary, cache_root)
    inputs = corpus_inputs(cfg, generator, labeller_name(cfg))
    digest = hash_inputs(inputs)
    out = data_root / digest
    if (done := _reuse(out, digest)) is not None:
        return done
    scenarios = build_scenarios(glossary, cfg.split, cfg.seed, cfg.max_scenarios)
    if cfg.max_scenarios is not None and len(scenarios) < cfg.max_scenarios:
        raise InputError(cfg.glossary, "corpus.max_scenarios", f"{cfg.max_scenarios} > {len(scenarios)} scenarios")
    if train_only:
        scenarios = [s for s in scenarios if s.split == "train"]
    grounding, grounding_summary = _grounding(cfg, glossary, scenarios) if cfg.generation == "grounded" else (None, {})
    with publish.exclusive(out):
        if (done := _reuse(out, digest)) is not None:
            return done
        publish.discard_incomplete(out)
        ray_session.ensure()
        raw = _run_dataflow(cfg, scenarios, cache_root, grounding)
        generated = raw[raw["_skipped"] == ""]
        kept, filter_counts = apply_filters(generated.drop(columns=["_pii"]), cfg)
        kept, labelling = label_rows(kept, cfg, glossary, cache_root)
        pii_counts = sum((Counter(json.loads(c)) for c in generated["_pii"]), Counter())
        manifest = {
            "corpus_hash": digest,
            "inputs": inputs | {"glossary": str(cfg.glossary), "backend": cfg.backend},
            "generator": generator,
            "generation_method": cfg.generation,
            "scenarios": dict(Counter(s.split for s in scenarios)),
            "rows": {split: int((kept["split"] == split).sum()) for split in SPLITS},
            "rows_generated": len(generated),
            "filters": filter_counts | {"pii_placeholders": dict(sorted(pii_counts.items()))},
            "generation": _generation_summary(raw),
            "kinds": _kind_summary(kept),
            "labelling": labelling,
        }
        if grounding_summary:
            manifest["grounding"] = grounding_summary
        with publish.staged_once(out) as staging:
            manifest["files"] = _write_splits(kept, staging)
            atomic.write_json(staging / MANIFEST, manifest)
    return _built(out, digest)


def _grounding(cfg: CorpusConfig, glossary: Glossary, scenarios: list[Scenario]) -> tuple[str, dict[str, Any]]:
    """The article chunks and each scenario's retrieved chunk ids, as the JSON the generation actors take."""
    from corpus.retrieval import retrieve

    folder = articles.resolve_folder(cfg.articles)
    chunks, placeholders = articles.chunk_articles(
        articles.load_articles(folder, "corpus.articles"), scrub_pii=cfg.filters.scrub_pii
    )
    retrieved = retrieve(glossary, scenarios, chunks, cfg.retrieval_top_k)
    used = Counter(chunk_id for ids in retrieved.values() for chunk_id in ids)
    summary = {
        "articles": str(folder),
        "chunks": len(chunks),
        "chunks_retrieved": len(used),
        "retrieval_top_k": cfg.retrieval_top_k,
        "pii_placeholders_in_articles": dict(sorted(placeholders.items())),
    }
    by_id = {row["chunk_id"]: row for row in chunks.to_dict("records")}
    return json.dumps({"chunks": by_id, "retrieved": retrieved}, default=int), summary


def label_rows(rows: pd.DataFrame, cfg: CorpusConfig, glossary: Glossary, cache_root: str):
    """Fill `kind` on every row (conceptual|factual) with the configured labeller; return what it took."""
    questions, answers = rows["question"].tolist(), rows["answer"].tolist()
    name = labeller_name(cfg)
    if name.startswith("litellm:"):
        from corpus.llm_expander import LitellmExpander
        from corpus.llm_labeller import LitellmKindLabeller

        caller = LitellmExpander(glossary, cfg.litellm, seed=cfg.seed, cache_root=cache_root)
        kinds, summary = LitellmKindLabeller(caller).label(questions, answers)
    else:
        kinds, summary = offline_classifier().predict(questions, answers), {}
    return rows.assign(kind=kinds), {"labeller": name, **summary}


def _kind_summary(rows: pd.DataFrame) -> dict[str, Any]:
    """Share of each class, over all rows and per split."""
    summary: dict[str, Any] = {"all": kind_shares(rows["kind"].tolist())}
    for split in SPLITS:
        summary[split] = kind_shares(rows.loc[rows["split"] == split, "kind"].tolist())
    return summary


def variant_inputs(cfg: CorpusConfig, base: CorpusBuild, pool: CorpusBuild) -> dict[str, Any]:
    return {
        "selection": SELECTION_VERSION,
        "heldout_from": base.corpus_hash,
        "train_from": pool.corpus_hash,
        "generation": cfg.generation,
        "conceptual_share": cfg.conceptual_share,
        "train_size": cfg.train_size,
        "seed": cfg.seed,
    }


def _build_variant(cfg: CorpusConfig, base: CorpusBuild, pool: CorpusBuild, data_root: Path) -> CorpusBuild:
    """Training rows selected from the pool, val and judge rows copied from the naive corpus."""
    inputs = variant_inputs(cfg, base, pool)
    digest = hash_inputs(inputs)
    out = data_root / digest
    if (done := _reuse(out, digest)) is not None:
        return done
    train, selection = select_training(read_split(pool.path, "train"), cfg.conceptual_share, cfg.train_size, cfg.seed)
    if train.empty:
        field = "corpus.conceptual_share" if cfg.conceptual_share is not None else "corpus.train_size"
        raise InputError(field, None, f"selects no training rows from {selection['available']} (pool {pool.path})")
    heldout = [read_split(base.path, split) for split in ("val", "judge")]
    rows = pd.concat([train, *heldout], ignore_index=True)
    manifest = {
        "corpus_hash": digest,
        "inputs": inputs,
        "generator": pool.manifest["generator"],
        "generation_method": cfg.generation,
        "rows": {split: int((rows["split"] == split).sum()) for split in SPLITS},
        # How the training rows' pool was generated and filtered (the same keys as a generated corpus's).
        "rows_generated": pool.manifest["rows_generated"],
        "filters": pool.manifest["filters"],
        "generation": pool.manifest["generation"],
        "selection": selection,
        "kinds": _kind_summary(rows),
        "judge_set": _judge_digest(heldout[1]),
        "sources": {"train": pool.manifest, "val_judge": base.manifest},
    }
    with publish.exclusive(out):
        if (done := _reuse(out, digest)) is not None:
            return done
        publish.discard_incomplete(out)
        with publish.staged_once(out) as staging:
            manifest["files"] = _write_selected(rows, staging)
            atomic.write_json(staging / MANIFEST, manifest)
    return _built(out, digest)


def _write_selected(rows: pd.DataFrame, target: Path) -> dict[str, list[str]]:
    """A variant's splits, one Parquet file each, written from pandas: selecting rows needs no Ray."""
    files = {}
    for split in SPLITS:
        buffer = io.BytesIO()
        rows.loc[rows["split"] == split, COLUMNS].to_parquet(buffer, index=False)
        atomic.write_bytes(target / split / "part-0.parquet", buffer.getvalue())
        files[split] = ["part-0.parquet"]
    return files


def _judge_digest(judge: pd.DataFrame) -> str:
    """A hash of the judge items (ids, questions, reference answers): equal across variants by construction."""
    material = judge[["id", "question", "answer"]].sort_values("id").to_json(orient="values")
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def _run_dataflow(
    cfg: CorpusConfig, scenarios: list[Scenario], cache_root: str, grounding: str | None = None
) -> pd.DataFrame:
    litellm = cfg.backend == "litellm"
    # LLM calls are I/O-bound and share one budget and cache, so one actor runs them on threads.
    # Template expansion is CPU-bound, so a large grid gets an actor per core (up to 4); a small one
    # finishes before a second actor would have started.
    cores = int(ray.available_resources().get("CPU", 1))
    expand_actors = 1 if litellm or len(scenarios) < _SCENARIOS_PER_EXTRA_ACTOR else max(1, min(4, cores))
    batch_size = max(8, math.ceil(len(scenarios) / (4 * expand_actors)))
    ds = ray.data.from_items([s.as_row() for s in scenarios]).map_batches(
        _ExpandScenarios,
        fn_constructor_kwargs={
            "cfg_json": cfg.model_dump_json(),
            "cache_root": cache_root,
            "grounding_json": grounding,
        },
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
