"""Benchmark the corpus pipeline on this machine; writes benchmarks/results/corpus.json.

1. The template backend on the full 1,560-scenario grid (19 pairs each): examples per second and the
   peak resident memory of the driver plus Ray's workers.
2. The litellm backend against a local counting provider (a litellm CustomLLM registered here, in every
   Ray worker, through `corpus.litellm.setup_hooks`): calls per example (goal <= 0.1), then calls when
   the corpus is rebuilt from scratch with the reply cache in place (goal 0).

Run: `.venv/bin/python benchmarks/bench_corpus.py [--scenarios N]` from the repository root.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import litellm
import psutil
import ray
from litellm import CustomLLM, ModelResponse

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from common import atomic  # noqa: E402
from corpus.pipeline import build_corpus  # noqa: E402
from corpus.settings import CorpusConfig, LitellmSettings  # noqa: E402

CALL_LOG_ENV = "BENCH_CORPUS_CALL_LOG"
RESULTS = REPO / "benchmarks" / "results" / "corpus.json"


class CountingProvider(CustomLLM):
    """Answers the corpus prompt with K varied JSON pairs and appends one line per call to a log file,
    so calls made in any Ray worker are counted."""

    def completion(self, model: str, messages: list, *args, **kwargs) -> ModelResponse:
        with open(os.environ[CALL_LOG_ENV], "a") as log:
            log.write("call\n")
        prompt = messages[-1]["content"]
        k = int(prompt.rsplit("Write ", 1)[1].split()[0])
        term = prompt.split("Term: ", 1)[1].split(":", 1)[0]
        pairs = [
            {
                "question": f"Customer {i}: my {term} fails when I do task number {i * 7919 % 1000} at step {i}.",
                "answer": f"For {term}, case {i}: restart, check setting {i * 31 % 97}, call back in {i} hours.",
            }
            for i in range(k)
        ]
        content = json.dumps({"pairs": pairs})
        return ModelResponse(
            model=model,
            choices=[{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            usage={"prompt_tokens": len(prompt.split()), "completion_tokens": len(content.split()), "total_tokens": 0},
        )


def register_counting_provider() -> None:
    litellm.custom_provider_map = [{"provider": "counting", "custom_handler": CountingProvider()}]


class PeakMemory:
    """Samples the resident memory of this process and all its descendants (Ray's raylet and workers)."""

    def __init__(self, interval_s: float = 0.2):
        self.interval_s = interval_s
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    continue
            self.peak_bytes = max(self.peak_bytes, total)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def bench_template(data_root: Path) -> dict:
    cfg = CorpusConfig(pairs_per_scenario=19)
    with PeakMemory() as memory:
        started = time.perf_counter()
        build = build_corpus(cfg, data_root)
        seconds = time.perf_counter() - started
    started = time.perf_counter()
    reused = build_corpus(cfg, data_root)
    reuse_seconds = time.perf_counter() - started
    manifest = build.manifest
    return {
        "scenarios": sum(manifest["scenarios"].values()),
        "rows_generated": manifest["rows_generated"],
        "rows_kept": manifest["rows"],
        "filters": manifest["filters"],
        "build_seconds": round(seconds, 2),
        "examples_per_second": round(manifest["rows_generated"] / seconds, 1),
        "peak_rss_mib_driver_and_workers": round(memory.peak_bytes / 2**20, 1),
        "reuse_seconds": round(reuse_seconds, 3),
        "reused": reused.reused,
    }


def bench_litellm(data_root: Path, scenarios: int) -> dict:
    log = Path(os.environ[CALL_LOG_ENV])

    def calls() -> int:
        return len(log.read_text().splitlines()) if log.exists() else 0

    settings = LitellmSettings(
        model="counting/support-model",
        setup_hooks=(f"{Path(__file__).resolve()}:register_counting_provider",),
        cache_dir=data_root / "llm_cache",
        max_concurrency=8,
    )
    cfg = CorpusConfig(backend="litellm", max_scenarios=scenarios, pairs_per_scenario=19, litellm=settings)
    started = time.perf_counter()
    build = build_corpus(cfg, data_root)
    seconds = time.perf_counter() - started
    first_calls = calls()
    shutil.rmtree(build.path)  # the corpus is gone, the reply cache is not
    rebuilt = build_corpus(cfg, data_root)
    rerun_calls = calls() - first_calls
    examples = build.manifest["rows_generated"]
    return {
        "scenarios": scenarios,
        "pairs_per_scenario": 19,
        "rows_generated": examples,
        "calls_counted_by_provider": first_calls,
        "calls_in_manifest": build.manifest["generation"]["calls"],
        "calls_per_example": round(first_calls / examples, 4),
        "calls_per_example_goal": 0.1,
        "build_seconds": round(seconds, 2),
        "calls_on_rebuild_from_cache": rerun_calls,
        "cache_hits_on_rebuild": rebuilt.manifest["generation"]["cache_hits"],
        "calls_on_rerun_goal": 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenarios", type=int, default=200, help="scenarios for the litellm part")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_corpus_") as tmp:
        os.environ[CALL_LOG_ENV] = str(Path(tmp) / "calls.log")
        # Started here, after the env var, so every worker inherits the call log's path.
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
        try:
            template = bench_template(Path(tmp) / "template")
            llm = bench_litellm(Path(tmp) / "litellm", args.scenarios)
        finally:
            ray.shutdown()
    results = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "ray": ray.__version__},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "template_full_grid": template,
        "litellm_counting_provider": llm,
    }
    atomic.write_json(RESULTS, results)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
