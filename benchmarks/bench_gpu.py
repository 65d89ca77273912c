"""The trainable's loop on a GPU: tokens/s, model FLOPs utilisation and Wh per 1,000 tokens from NVML.

Runs `trainables.train.LoraTrainer` (the loop every trial runs) on a Qwen2.5-0.5B-sized model built from its
config with random weights (speed and energy do not depend on the weights), in bf16 and in 4-bit NF4 through
bitsandbytes, alternated with a plain transformers `Trainer` + peft loop on the same model, data and LoRA config,
in the same process. Energy comes from `trainables.energy.EnergyMeter` (Zeus over NVML); the peak that MFU is
taken against is a bf16 matrix product measured in the same call, with the datasheet figure beside it.

Needs no Ray, MLflow or corpus, so it runs on a bare GPU machine with torch, transformers, peft, bitsandbytes,
pydantic and zeus:

    python -m benchmarks.bench_gpu [--examples 1024] [--batch-sizes 16,32] [--repeats 3]
        [--out benchmarks/results/gpu.json]

`--device cpu --model tiny` runs the same code on the CPU in seconds (what the test suite checks).
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import itertools
import json
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM, Trainer, TrainingArguments

from common.atomic import write_json
from trainables.base_model import load_base_model
from trainables.data import IGNORE_INDEX, Example, collate
from trainables.energy import EnergyMeter
from trainables.lora import apply_lora, load_adapter, trainable_parameters
from trainables.settings import EnergyConfig, TrialSettings
from trainables.train import LoraTrainer

# Qwen2.5-0.5B's published config (vocabulary, widths, depth, grouped-query heads, tied embeddings).
MODELS = {
    "qwen2.5-0.5b": dict(
        vocab_size=151936,
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        max_position_embeddings=32768,
        rope_theta=1_000_000.0,
        tie_word_embeddings=True,
    ),
    "tiny": dict(
        vocab_size=2048,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
    ),
}
# Dense bf16 tensor-core peak from NVIDIA's datasheets, for a reader who compares with published MFU figures.
DATASHEET_BF16_TFLOPS = {"H100 80GB HBM3": 989.4, "H100": 989.4, "H200": 989.4, "A100": 312.0}


def build_model(name: str, directory: Path, seed: int) -> Qwen2Config:
    config = Qwen2Config(**MODELS[name], torch_dtype="bfloat16")
    torch.manual_seed(seed)
    Qwen2ForCausalLM(config).to(torch.bfloat16).save_pretrained(directory)
    return config


def synthetic_examples(n: int, vocab: int, min_len: int, max_len: int, prompt_share: float, seed: int):
    """Random token ids with support-pair lengths: the prompt is masked out of the loss, as in real trials."""
    rng = random.Random(seed)
    examples = []
    for _ in range(n):
        length = rng.randint(min_len, max_len)
        ids = [rng.randrange(3, vocab) for _ in range(length)]
        prompt = int(length * prompt_share)
        examples.append(Example(input_ids=ids, labels=[IGNORE_INDEX] * prompt + ids[prompt:]))
    return examples


def matmul_tflops(device: torch.device, size: int = 8192, repeats: int = 10) -> float:
    """Achieved bf16 matmul rate on random data, the practical ceiling MFU is read against."""
    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        a @ b
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return 2 * size**3 / statistics.median(times) / 1e12


def flops_per_token(config: Qwen2Config, lora_params: int, mean_len: float) -> float:
    """Model FLOPs one training token needs with a frozen base (PaLM appendix B counting, adapted to LoRA).

    Frozen weights need the forward (2N) and the backward to activations (2N) but no weight gradients; the LoRA
    weights need all three (6P); attention scores need 12 * layers * width * context, as in full training.
    N counts every matmul weight, the tied LM head included, and not the embedding lookup.
    """
    d, layers = config.hidden_size, config.num_hidden_layers
    head_dim = d // config.num_attention_heads
    kv = config.num_key_value_heads * head_dim
    per_layer = d * d * 2 + d * kv * 2 + 3 * d * config.intermediate_size  # q,o + k,v + gate,up,down
    n_matmul = layers * per_layer + config.vocab_size * d
    return 4 * n_matmul + 6 * lora_params + 12 * layers * d * mean_len


def run_ours(path, quant, settings, examples, warmup, device, energy) -> dict:
    model = apply_lora(load_base_model(path, quant, device), settings)
    LoraTrainer(model, settings, warmup, warmup[:4], 0, device, seed=1).train_epoch()
    trainer = LoraTrainer(model, settings, examples, examples[: settings.eval_batch_size], 0, device, seed=0)
    with energy.window(f"ours-{quant}"):
        loss = trainer.train_epoch()
    reading = energy.windows[f"ours-{quant}"]
    # Evaluation between epochs, then training again: the 4-bit repacking trap (NOTES.md) on this device.
    val_loss = trainer.evaluate()
    trainer.train_examples = warmup
    trainer.train_epoch()
    return {
        "loss": loss,
        "val_loss": val_loss,
        "seconds": reading.seconds,
        "wh": reading.wh,
        "energy_source": reading.source,
        "lora_params": trainable_parameters(model),
        "model": model,
    }


def run_trainer(path, settings, examples, warmup, device, energy, out_dir) -> dict:
    model = apply_lora(load_base_model(path, "bf16", device), settings)

    def fit(rows, name):
        args = TrainingArguments(
            output_dir=out_dir,
            per_device_train_batch_size=settings.batch_size,
            num_train_epochs=1,
            learning_rate=settings.learning_rate,
            lr_scheduler_type=settings.scheduler,
            max_grad_norm=1.0,
            logging_strategy="no",
            save_strategy="no",
            report_to=[],
            use_cpu=device.type == "cpu",
            remove_unused_columns=False,
            dataloader_num_workers=0,
            disable_tqdm=True,
            seed=0,
        )
        trainer = Trainer(model=model, args=args, train_dataset=rows, data_collator=lambda b: collate(b, 0))
        if name is None:
            trainer.train()
            return None
        with energy.window(name):
            trainer.train()
        return energy.windows[name]

    fit(warmup, None)
    reading = fit(examples, "trainer-bf16")
    return {"seconds": reading.seconds, "wh": reading.wh, "energy_source": reading.source}


def reload_difference(path, settings, model, batch, device, adapter_dir: Path) -> float:
    """Largest logit difference between the trained adapter and the same adapter saved and loaded again."""
    model.eval()
    model.save_pretrained(adapter_dir)
    with torch.no_grad():
        before = model(**batch).logits.float()
        again = load_adapter(load_base_model(path, settings.quantization, device), adapter_dir, settings)
        again.eval()
        after = again(**batch).logits.float()
    return float((before - after).abs().max())


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="qwen2.5-0.5b")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--examples", type=int, default=1024)
    parser.add_argument("--batch-sizes", default="16,32", help="comma list; each runs every variant")
    parser.add_argument("--min-len", type=int, default=96)
    parser.add_argument("--max-len", type=int, default=384)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variants", default="bf16,nf4,trainer", help="comma list of bf16, nf4, trainer")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/gpu.json"))
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is visible; use --device cpu --model tiny for a smoke run")
    variants = [v for v in args.variants.split(",") if v]
    work = Path(tempfile.mkdtemp(prefix="bench-gpu-"))
    config = build_model(args.model, work / "model", seed=0)
    batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b]
    examples = synthetic_examples(args.examples, config.vocab_size, args.min_len, args.max_len, 0.4, seed=0)
    tokens = sum(len(e.input_ids) for e in examples)
    mean_len = tokens / len(examples)
    gpu_indices = [device.index or 0] if device.type == "cuda" else []
    energy = EnergyMeter(EnergyConfig(), gpu_indices=gpu_indices)
    peak = matmul_tflops(device) if device.type == "cuda" else None
    runs: dict[str, list[dict]] = {f"{v}@{b}": [] for b in batch_sizes for v in variants}
    extra: dict[str, float] = {}
    for batch_size, _, variant in itertools.product(batch_sizes, range(args.repeats), variants):
        settings = TrialSettings(
            rank=16,
            target_modules="all-linear",
            batch_size=batch_size,
            max_seq_len=args.max_len,
            learning_rate=2e-4,
            epochs=1,
            eval_batch_size=batch_size,
        )
        warmup = examples[: 16 * batch_size]  # every sequence length bucket's kernels, allocator pools
        gc.collect()  # the previous variant's model and optimizer, before this one's peak is read
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        if variant == "trainer":
            result = run_trainer(work / "model", settings, examples, warmup, device, energy, str(work / "hf"))
        else:
            quant_settings = settings.model_copy(update={"quantization": variant})
            result = run_ours(work / "model", variant, quant_settings, examples, warmup, device, energy)
            model = result.pop("model")
            if f"reload_max_abs_logit_diff_{variant}" not in extra:
                batch = {k: v.to(device) for k, v in collate(examples[:4], 0).items()}
                extra[f"reload_max_abs_logit_diff_{variant}"] = reload_difference(
                    work / "model", quant_settings, model, batch, device, work / f"adapter-{variant}"
                )
            extra["lora_params"] = result["lora_params"]
            del model
        if device.type == "cuda":
            result["peak_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        result["tokens_per_second"] = tokens / result["seconds"]
        result["wh_per_1k_tokens"] = result["wh"] / tokens * 1000
        result["watts"] = result["wh"] * 3600 / result["seconds"]
        runs[f"{variant}@{batch_size}"].append(result)
        print(
            f"{variant}@{batch_size}: {result['tokens_per_second']:.0f} tok/s, {result['wh_per_1k_tokens']:.5f} Wh/1k "
            f"({result['energy_source']})",
            flush=True,
        )
    per_token = flops_per_token(config, int(extra.get("lora_params", 0)), mean_len)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    datasheet = next((v for k, v in DATASHEET_BF16_TFLOPS.items() if k in name), None)
    summary = {}
    for variant, results in runs.items():
        tps = statistics.median(r["tokens_per_second"] for r in results)
        achieved = tps * per_token / 1e12
        summary[variant] = {
            "tokens_per_second": tps,
            "wh_per_1k_tokens": statistics.median(r["wh_per_1k_tokens"] for r in results),
            "watts": statistics.median(r["watts"] for r in results),
            "model_tflops": achieved,
            "mfu_vs_measured_matmul": achieved / peak if peak else None,
            "mfu_vs_datasheet": achieved / datasheet if datasheet else None,
            "energy_source": results[0]["energy_source"],
        }
    for batch_size in batch_sizes:
        ours, theirs = summary.get(f"bf16@{batch_size}"), summary.get(f"trainer@{batch_size}")
        if ours and theirs:
            summary[f"ratio_ours_over_trainer_bf16@{batch_size}"] = (
                ours["tokens_per_second"] / theirs["tokens_per_second"]
            )
    report = {
        "what": "LoraTrainer tokens/s, MFU and energy per token on a GPU; transformers Trainer + peft alongside",
        "model": {"preset": args.model, "random_weights": True, **MODELS[args.model]},
        "lora": {"rank": settings.rank, "target_modules": settings.target_modules, "params": extra.get("lora_params")},
        "data": {
            "examples": len(examples),
            "tokens_per_epoch": tokens,
            "mean_len": mean_len,
            "batch_sizes": batch_sizes,
            "lengths": [args.min_len, args.max_len],
            "prompt_share_masked": 0.4,
            "tokens": "random ids",
        },
        "flops_per_token": per_token,
        "peak_tflops": {"measured_bf16_matmul_8192": peak, "datasheet_bf16_dense": datasheet},
        "summary": summary,
        "checks": extra,
        "runs": runs,
        "machine": {
            "device": name,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "cpus": os.cpu_count(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            **{pkg: _version(pkg) for pkg in ("transformers", "peft", "bitsandbytes", "zeus")},
        },
    }
    write_json(args.out, report)
    print(json.dumps(summary, indent=2))
    return report


if __name__ == "__main__":
    main()
