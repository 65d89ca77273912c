"""The Ray Data corpus pipeline end to end on a local Ray: splits, filters, manifest, reuse, atomicity,
the litellm backend through Ray workers, and the build CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import ray

from corpus import pipeline
from corpus.pipeline import COLUMNS, build_corpus, read_split
from corpus.settings import CorpusConfig, LitellmSettings
from tests.helpers import FIXTURES, ROOT

FIXTURES = FIXTURES / "corpus"


@pytest.fixture(scope="module")
def call_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Set before ray.init so the workers, which run the stand-in provider, inherit it.
    path = tmp_path_factory.mktemp("llm") / "calls.log"
    path.touch()
    os.environ["FAKE_LLM_CALL_LOG"] = str(path)
    return path


@pytest.fixture(scope="module")
def local_ray(call_log: Path):
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
    os.environ.pop("FAKE_LLM_CALL_LOG", None)


def _all_rows(path: Path):
    import pandas as pd

    return pd.concat([read_split(path, split) for split in ("train", "val", "judge")], ignore_index=True)


def test_template_corpus_has_clean_splits_counts_and_is_reused(local_ray, tmp_path: Path) -> None:
    cfg = CorpusConfig(max_scenarios=60, pairs_per_scenario=3, max_judge_items=6)
    build = build_corpus(cfg, tmp_path)
    assert build.path == tmp_path / build.corpus_hash and not build.reused
    rows = _all_rows(build.path)
    assert list(rows.columns) == COLUMNS
    assert set(rows["source"]) == {"synthetic"} and set(rows["generator"]) == {"template-v1"}
    # No scenario in two splits, and the judge set is capped.
    assert rows.groupby("scenario_id")["split"].nunique().max() == 1
    assert 0 < (rows["split"] == "judge").sum() <= 6
    manifest = json.loads((build.path / "manifest.json").read_text())
    assert manifest == build.manifest and manifest["corpus_hash"] == build.corpus_hash
    assert manifest["rows"] == rows["split"].value_counts().to_dict()
    assert manifest["rows_generated"] == 180
    dropped = sum(v for k, v in manifest["filters"].items() if k != "pii_placeholders")
    assert sum(manifest["rows"].values()) + dropped == 180
    assert manifest["filters"]["judge_cap"] == 3 * 3 - 6  # 3 judge scenarios x 3 pairs, capped at 6
    assert manifest["inputs"]["glossary_sha256"] and manifest["generator"] == "template-v1"
    # Same inputs: reused without building; another seed: another directory.
    again = build_corpus(cfg, tmp_path)
    assert again.reused and again.path == build.path
    other = build_corpus(cfg.model_copy(update={"seed": 1}), tmp_path)
    assert other.corpus_hash != build.corpus_hash and other.path.is_dir()


def test_custom_glossary_is_scrubbed_and_counted(local_ray, tmp_path: Path) -> None:
    cfg = CorpusConfig(glossary=FIXTURES / "mini_glossary.yaml", pairs_per_scenario=4, max_judge_items=50)
    build = build_corpus(cfg, tmp_path)
    rows = _all_rows(build.path)
    assert len(rows) == 2 * 2 * 2 * 4 - sum(v for k, v in build.manifest["filters"].items() if k != "pii_placeholders")
    text = " ".join(rows["question"]) + " ".join(rows["answer"])
    assert "Sarah" not in text and "7911" not in text
    placeholders = build.manifest["filters"]["pii_placeholders"]
    assert placeholders["<NAME>"] > 0 and placeholders["<PHONE>"] > 0
    assert "<NAME>" in text and "<PHONE>" in text


def test_interrupted_build_leaves_no_corpus(local_ray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = pipeline._write_splits

    def write_then_die(rows, target):
        real_write(rows, target)
        raise KeyboardInterrupt("killed after the parquet files, before the manifest")

    monkeypatch.setattr(pipeline, "_write_splits", write_then_die)
    cfg = CorpusConfig(max_scenarios=12, pairs_per_scenario=2)
    with pytest.raises(KeyboardInterrupt):
        build_corpus(cfg, tmp_path)
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == []
    monkeypatch.setattr(pipeline, "_write_splits", real_write)
    build = build_corpus(cfg, tmp_path)
    assert not build.reused and (build.path / "manifest.json").is_file()


def _llm_config(tmp_path: Path, **litellm) -> CorpusConfig:
    settings = LitellmSettings(
        model="fake/good",
        setup_hooks=(f"{FIXTURES / 'fake_llm.py'}:register",),
        cache_dir=tmp_path / "cache",
        **litellm,
    )
    return CorpusConfig(backend="litellm", max_scenarios=20, pairs_per_scenario=5, litellm=settings)


def test_litellm_corpus_counts_calls_then_rebuilds_from_cache(local_ray, tmp_path: Path, call_log: Path) -> None:
    before = len(call_log.read_text().splitlines())
    build = build_corpus(_llm_config(tmp_path), tmp_path / "data")
    calls = len(call_log.read_text().splitlines()) - before
    generation = build.manifest["generation"]
    assert calls == generation["calls"] == 20, "one call per scenario"
    assert generation["prompt_tokens"] > 0 and generation["cost_usd"] > 0
    rows = _all_rows(build.path)
    assert set(rows["generator"]) == {build.manifest["generator"]} and build.manifest["generator"].startswith(
        "litellm:fake/good"
    )
    # Throw the corpus away: the rebuild is served from the reply cache, zero calls.
    import shutil

    shutil.rmtree(build.path)
    rebuilt = build_corpus(_llm_config(tmp_path), tmp_path / "data")
    assert len(call_log.read_text().splitlines()) - before == 20
    assert rebuilt.manifest["generation"]["calls"] == 0
    assert rebuilt.manifest["generation"]["cache_hits"] == 20
    assert rebuilt.manifest["rows"] == build.manifest["rows"]


def test_litellm_budget_stop_keeps_generated_rows(local_ray, tmp_path: Path) -> None:
    build = build_corpus(_llm_config(tmp_path, max_cost_usd=0.1), tmp_path / "data")
    generation = build.manifest["generation"]
    assert generation["skipped_scenarios"]["budget"] > 0
    assert 0 < generation["calls"] < 20 and generation["cost_usd"] >= 0.1
    assert sum(build.manifest["rows"].values()) > 0
    assert build.manifest["scenarios"] == {"train": 17, "val": 2, "judge": 1}


def test_build_cli_rejects_an_unknown_backend_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "corpus.build", "--preset", "tiny", "--set", "corpus.backend=gpt",
         "--set", f"paths.data_dir={tmp_path}"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "corpus.backend" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_build_cli_rejects_a_malformed_glossary_with_one_line(tmp_path: Path) -> None:
    glossary = tmp_path / "glossary.yaml"
    glossary.write_text("terms: [\n")
    data = tmp_path / "data"
    result = subprocess.run(
        [sys.executable, "-m", "corpus.build", "--preset", "tiny", "--set", f"corpus.glossary={glossary}",
         "--set", f"paths.data_dir={data}"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {glossary}: line 2: malformed YAML: ")
    assert not data.exists() or list(data.iterdir()) == []


@pytest.mark.e2e
def test_build_cli_builds_the_local_preset(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "corpus.build", "--preset", "tiny", "--set", "corpus.max_scenarios=24",
         "--set", f"paths.data_dir={tmp_path}"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    manifest_line = next(line for line in result.stdout.splitlines() if line.startswith("corpus "))
    manifest_path = Path(manifest_line.rsplit(": ", 1)[1])
    assert manifest_path.is_file() and json.loads(manifest_path.read_text())["rows"]["train"] > 0
