"""Data variants (issue 20): training rows selected by generation, conceptual share and size; every variant
has the very same val and judge rows; each is built once, reused by hash, and safe when two processes ask
for it at once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import ray

from corpus import publish
from corpus.pipeline import COLUMNS, build_corpus, corpus_inputs, hash_inputs, read_split
from corpus.settings import CorpusConfig
from corpus.variants import select_training
from tests.helpers import ROOT, subprocess_env

SMALL = {"max_scenarios": 30, "pairs_per_scenario": 4, "max_judge_items": 8}


def _pool(n_scenarios: int = 10, per: int = 6) -> pd.DataFrame:
    rows = [
        {"id": f"sc-{s:02d}-{i:03d}", "scenario_id": f"sc-{s:02d}", "kind": "conceptual" if i % 3 == 0 else "factual"}
        for s in range(n_scenarios)
        for i in range(per)
    ]
    return pd.DataFrame(rows)


def test_share_and_size_are_met_and_smaller_sizes_are_subsets() -> None:
    pool = _pool()  # 20 conceptual, 40 factual
    chosen, info = select_training(pool, 0.5, 20, seed=0)
    assert len(chosen) == 20 and (chosen["kind"] == "conceptual").sum() == 10
    assert info["achieved_conceptual_share"] == 0.5 and not info["capped"]
    smaller, _ = select_training(pool, 0.5, 10, seed=0)
    assert set(smaller["id"]) < set(chosen["id"])
    # Round-robin over scenarios: 10 rows come from 10 different scenarios.
    first, _ = select_training(pool, None, 10, seed=0)
    assert first["scenario_id"].nunique() == 10


def test_without_a_size_every_share_gets_the_same_size() -> None:
    pool = _pool()
    sizes = {share: len(select_training(pool, share, None, seed=0)[0]) for share in (0.0, 0.5, 1.0)}
    assert sizes == {0.0: 20, 0.5: 20, 1.0: 20}
    only, info = select_training(pool, 1.0, None, seed=0)
    assert set(only["kind"]) == {"conceptual"} and info["available"] == {"conceptual": 20, "factual": 40}


def test_an_unreachable_request_is_capped_and_says_so() -> None:
    chosen, info = select_training(_pool(), 1.0, 30, seed=0)
    assert len(chosen) == 20 and info["capped"] and info["achieved_conceptual_share"] == 1.0
    everything, info = select_training(_pool(), None, None, seed=0)
    assert len(everything) == 60 and not info["capped"]


def test_selection_settings_leave_the_generated_corpus_hash_alone(tmp_path: Path) -> None:
    base = CorpusConfig(**SMALL)
    digest = hash_inputs(corpus_inputs(base, "template-v1"))
    for update in ({"conceptual_share": 0.5}, {"train_size": 10}):
        assert hash_inputs(corpus_inputs(base.model_copy(update=update), "template-v1")) == digest
    grounded = base.model_copy(update={"generation": "grounded"})
    grounded_digest = hash_inputs(corpus_inputs(grounded, "extractive-v1"))
    assert grounded_digest != digest
    assert hash_inputs(corpus_inputs(grounded.model_copy(update={"retrieval_top_k": 3}), "extractive-v1")) != (
        grounded_digest
    )
    articles = tmp_path / "help"
    articles.mkdir()
    (articles / "apn.md").write_text("# APN\n\nThe APN names the gateway.\n")
    own = grounded.model_copy(update={"articles": articles})
    assert hash_inputs(corpus_inputs(own, "extractive-v1")) != grounded_digest
    assert hash_inputs(corpus_inputs(base.model_copy(update={"kind_labeller": "litellm"}), "template-v1")) != digest


def test_first_rename_wins(tmp_path: Path) -> None:
    target = tmp_path / "corpus"
    with publish.staged_once(target) as staging:
        staging.mkdir()
        (staging / "who").write_text("first")
    with publish.staged_once(target) as staging:
        staging.mkdir()
        (staging / "who").write_text("second")
    assert (target / "who").read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["corpus"]


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("variants")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        builds = {
            "naive": build_corpus(CorpusConfig(**SMALL), root),
            "grounded": build_corpus(CorpusConfig(generation="grounded", **SMALL), root),
            "conceptual": build_corpus(CorpusConfig(conceptual_share=1.0, **SMALL), root),
            "mixed": build_corpus(
                CorpusConfig(generation="grounded", conceptual_share=0.5, train_size=20, **SMALL), root
            ),
        }
    finally:
        ray.shutdown()
    return root, builds


def test_every_variant_has_the_same_val_and_judge_rows(variants) -> None:
    _, builds = variants
    naive = builds["naive"]
    for name, build in builds.items():
        for split in ("val", "judge"):
            pd.testing.assert_frame_equal(read_split(build.path, split), read_split(naive.path, split), obj=name)
        assert list(read_split(build.path, "train").columns) == COLUMNS
    judge = read_split(naive.path, "judge")
    assert len(judge) == 8 and set(judge["generation"]) == {"naive"}
    judge_scenarios = set(judge["scenario_id"])
    for build in builds.values():
        assert not judge_scenarios & set(read_split(build.path, "train")["scenario_id"])
    assert len({b.corpus_hash for b in builds.values()}) == 4
    assert len({b.manifest.get("judge_set") for b in builds.values() if "judge_set" in b.manifest}) == 1


def test_grounded_training_rows_come_from_article_chunks(variants) -> None:
    _, builds = variants
    train = read_split(builds["grounded"].path, "train")
    assert len(train) > 0 and set(train["generation"]) == {"grounded"} and set(train["source"]) == {"article"}
    assert set(train["generator"]) == {"extractive-v1"} and (train["chunk_ids"] != "").all()
    manifest = builds["grounded"].manifest
    grounding = manifest["sources"]["train"]["grounding"]
    assert grounding["chunks"] > 36 and grounding["chunks_retrieved"] > 0
    naive_train = read_split(builds["naive"].path, "train")
    assert set(naive_train["generation"]) == {"naive"} and (naive_train["chunk_ids"] == "").all()


def test_selection_and_class_shares_are_in_the_manifest(variants) -> None:
    _, builds = variants
    for build in builds.values():
        rows = pd.concat([read_split(build.path, s) for s in ("train", "val", "judge")])
        assert set(rows["kind"]) <= {"conceptual", "factual"} and (rows["kind"] != "").all()
        kinds = build.manifest["kinds"]
        assert kinds["train"]["conceptual"] + kinds["train"]["factual"] == pytest.approx(1.0)
        train = read_split(build.path, "train")
        assert kinds["train"]["conceptual"] == round((train["kind"] == "conceptual").mean(), 4)
    conceptual = read_split(builds["conceptual"].path, "train")
    assert set(conceptual["kind"]) == {"conceptual"}
    selection = builds["conceptual"].manifest["selection"]
    assert selection["train_rows"] == len(conceptual) == min(selection["available"].values())
    mixed = builds["mixed"].manifest["selection"]
    assert mixed["train_rows"] == 20 and mixed["achieved_conceptual_share"] == 0.5


def test_a_variant_is_reused_by_hash(variants) -> None:
    root, builds = variants
    again = build_corpus(CorpusConfig(conceptual_share=1.0, **SMALL), root)
    assert again.reused and again.path == builds["conceptual"].path


_BUILD = """
import json, sys
from corpus.pipeline import build_corpus
from corpus.settings import CorpusConfig
build = build_corpus(CorpusConfig(conceptual_share=0.0, train_size=12, **json.loads(sys.argv[2])), sys.argv[1])
print(json.dumps({"path": str(build.path), "reused": build.reused, "hash": build.corpus_hash}))
"""


def test_two_processes_asking_for_one_variant_build_it_once(variants) -> None:
    root, _ = variants
    command = [sys.executable, "-c", _BUILD, str(root), json.dumps(SMALL)]
    processes = [
        subprocess.Popen(
            command, cwd=ROOT, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert results[0]["path"] == results[1]["path"] and results[0]["hash"] == results[1]["hash"]
    assert sorted(r["reused"] for r in results) == [False, True]
    train = read_split(Path(results[0]["path"]), "train")
    assert len(train) == 12 and set(train["kind"]) == {"factual"}
    assert not [p for p in root.iterdir() if p.name.endswith(".tmp")]
