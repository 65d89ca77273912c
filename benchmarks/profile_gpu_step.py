"""Where a LoRA step's time goes on a GPU: torch.profiler over a few optimizer steps of `LoraTrainer`.

bench_gpu found the loop's time per step nearly independent of the model's size at batch 16 (0.5B: 7.6 s, 3B:
9.5 s per 384-example epoch on an H200), the sign of a step bound by the host (Python and kernel launches) rather
than by the GPU. This prints the GPU's busy share of the profiled wall time and the ops that take the host's
time, so the next change aims at the right place. Needs a CUDA device:

    python -m benchmarks.profile_gpu_step --model qwen2.5-0.5b --batch-size 16 --steps 6
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from benchmarks.bench_gpu import MODELS, bench_settings, build_model, synthetic_examples
from trainables.base_model import load_base_model
from trainables.lora import apply_lora
from trainables.train import LoraTrainer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="qwen2.5-0.5b", choices=sorted(MODELS))
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--max-len", type=int, default=384)
    parser.add_argument("--rows", type=int, default=25, help="ops listed per table")
    parser.add_argument("--device", default="cuda", help="cpu runs the same code (a smoke run, tiny model)")
    parser.add_argument("--attention", default="auto", choices=["auto", "varlen"], help="training.attention")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    work = Path(tempfile.mkdtemp(prefix="profile-gpu-"))
    config = build_model(args.model, work / args.model, seed=0, device=device)
    examples = synthetic_examples(args.batch_size * (args.steps + 4), config.vocab_size, 96, args.max_len, 0.4, 0)
    settings = bench_settings(args.batch_size, args.max_len, attention=args.attention)
    model = apply_lora(load_base_model(work / args.model, "bf16", device), settings)
    warm = examples[: 4 * args.batch_size]
    LoraTrainer(model, settings, warm, warm[:4], 0, device, seed=1).train_epoch()
    measured = examples[4 * args.batch_size :]
    trainer = LoraTrainer(model, settings, measured, measured[:4], 0, device, seed=0)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    sync()
    with profile(activities=activities) as prof:
        started = time.perf_counter()
        trainer.train_epoch()
        sync()
        wall = time.perf_counter() - started
    events = prof.key_averages()
    # Kernels only: an aten op's row repeats the device time of the kernels it launched.
    kernel_rows = [e for e in events if e.device_type == torch.autograd.DeviceType.CUDA]
    gpu_us = sum(e.self_device_time_total for e in kernel_rows)
    tokens = sum(len(e.input_ids) for e in measured)
    kernels = sum(e.count for e in kernel_rows)
    print(
        f"{args.model} batch {args.batch_size}: {args.steps} steps, {tokens} tokens, wall {wall:.3f} s, "
        f"GPU busy {gpu_us / 1e6:.3f} s ({gpu_us / 1e6 / wall:.0%}), ~{kernels} kernel launches"
    )
    print(events.table(sort_by="self_cpu_time_total", row_limit=args.rows, max_name_column_width=60))
    print(events.table(sort_by="self_device_time_total", row_limit=args.rows, max_name_column_width=60))


if __name__ == "__main__":
    main()
