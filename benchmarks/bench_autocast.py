"""CPU mixed precision (trainables/precision.py): our training loop on smollm2-135m in fp32 and under bf16 autocast,
same examples, LoRA config and seed, in one process, alternated in ABBA order so a drift in machine load hits both.
The figures are the ratio of median CPU seconds per epoch (fp32 / bf16; the estimated energy on a machine without
counters is CPU time x watts per core, so the same ratio) and the epoch and validation losses of both, whose
difference is the precision's cost.

    .venv/bin/python -m benchmarks.bench_autocast [--pairs 2] [--examples 16] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from common.atomic import write_json  # noqa: E402
from corpus.pipeline import build_corpus, read_split  # noqa: E402
from experiment.config import load_config  # noqa: E402
from trainables.base_model import load_base_model, load_tokenizer  # noqa: E402
from trainables.data import encode_rows  # noqa: E402
from trainables.lora import apply_lora  # noqa: E402
from trainables.precision import cpu_has_native_bf16  # noqa: E402
from trainables.smollm2 import build_smollm2  # noqa: E402
from trainables.train import LoraTrainer  # noqa: E402

CPU = torch.device("cpu")


def one_epoch(path, tokenizer, examples, settings) -> dict:
    torch.manual_seed(0)
    model = apply_lora(load_base_model(path, "bf16", CPU), settings)
    trainer = LoraTrainer(model, settings, examples, examples[:4], tokenizer.pad_token_id, CPU, seed=0)
    started = time.process_time()
    loss = trainer.train_epoch()
    cpu_seconds = time.process_time() - started
    return {"cpu_seconds": cpu_seconds, "epoch_loss": loss, "val_loss": trainer.evaluate()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=2, help="fp32/bf16 pairs, ABBA order")
    parser.add_argument("--examples", type=int, default=16)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/cpu_autocast.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)  # what each trial of the local preset runs with
    config = load_config("local")
    work = Path(tempfile.mkdtemp(prefix="bench-autocast-"))
    path = build_smollm2(work / "cache")
    rows = read_split(build_corpus(config.corpus, work / "data").path, "train").to_dict("records")[: args.examples]
    tokenizer = load_tokenizer(path)
    base = config.training.model_copy(update={"rank": 32, "target_modules": "all-linear", "alpha_multiple": 2.0})
    examples = encode_rows(tokenizer, config.model.system_prompt, rows, base.max_seq_len)
    runs: dict[str, list[dict]] = {"off": [], "bf16": []}
    for i in range(args.pairs):
        for mode in ("off", "bf16") if i % 2 == 0 else ("bf16", "off"):
            runs[mode].append(one_epoch(path, tokenizer, examples, base.model_copy(update={"autocast": mode})))
    fp32, bf16 = (statistics.median(r["cpu_seconds"] for r in runs[m]) for m in ("off", "bf16"))
    write_json(args.out, {
        "what": "our LoRA training loop, one epoch, fp32 vs bf16 autocast on the CPU (trainables/precision.py)",
        "command": "python -m benchmarks.bench_autocast " + " ".join(sys.argv[1:]),
        "model": "smollm2-135m, LoRA r32 alpha 64 on all linear layers, local preset's max_seq_len and batch size",
        "examples": len(examples),
        "tokens": sum(len(e.input_ids) for e in examples),
        "runs": runs,
        "ratio_fp32_over_bf16_cpu_seconds": fp32 / bf16,
        "loss_difference": {
            "epoch": statistics.fmean(r["epoch_loss"] for r in runs["bf16"]) - runs["off"][0]["epoch_loss"],
            "val": statistics.fmean(r["val_loss"] for r in runs["bf16"]) - runs["off"][0]["val_loss"],
        },
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "native_bf16": cpu_has_native_bf16(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "load_average_at_end": os.getloadavg(),
            "note": "CPU seconds of this process: on a shared machine they stay near what an idle core would take",
        },
    })  # fmt: skip
    print(f"fp32/bf16 CPU seconds per epoch: {fp32 / bf16:.2f} ({fp32:.1f} / {bf16:.1f}); written to {args.out}")


if __name__ == "__main__":
    main()
