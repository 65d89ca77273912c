"""The trainable's loop on a GPU: tokens/s, model FLOPs utilisation, Wh per 1,000 tokens from NVML and its ratio
to the 4-FLOPs-per-weight floor, peak memory; stock `Trainer` + peft and Unsloth (where it installs) alongside.

Runs `trainables.train.LoraTrainer` (the loop every trial runs: packed rows, loss on target positions only,
FlashAttention varlen and Liger's fused linear cross-entropy where installed) on Qwen2.5-0.5B-, 1.5B- and
3B-shaped models built from their published configs with random weights (speed and energy do not depend on the
weights), in bf16, in 4-bit NF4 through bitsandbytes and in bf16 with gradient checkpointing, alternated with a
plain transformers `Trainer` + peft loop on the same model, data and LoRA config, in the same process. Energy
comes from `trainables.energy.EnergyMeter` (Zeus over NVML); MFU is read against a bf16 matrix product measured in
the same call, with the datasheet figure beside it. `--power-limits` trains the bf16 loop again under each GPU
power limit (set and restored through `trainables.power_limit`) and reports energy per token against the default.

Needs no Ray, MLflow or corpus, so it runs on a bare GPU machine with torch, transformers, peft, bitsandbytes,
pydantic and zeus. The command behind `benchmarks/results/gpu.json` (one H200, about 5 minutes; docs/gpu.md lists
the others, and `--power-limits default,500,350` where the card's owner allows its power limit to be changed):

    python -m benchmarks.bench_gpu --models qwen2.5-0.5b,qwen2.5-3b,qwen2.5-1.5b --examples 384 --repeats 1 \
        --batch-sizes 16 --warmup-steps 8 --out benchmarks/results/gpu.json

`--device cpu --models tiny` runs the same code on the CPU in seconds (what the test suite checks).
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import importlib.util
import itertools
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch
from peft import get_peft_model
from transformers import Qwen2Config, Qwen2ForCausalLM, Trainer

from benchmarks.trainer_baseline import trainer_arguments
from common.atomic import write_json
from trainables.base_model import load_base_model
from trainables.chunked_loss import causal_lm_of, loss_path
from trainables.data import IGNORE_INDEX, Example, collate
from trainables.energy import EnergyMeter
from trainables.lora import apply_lora, load_adapter, lora_config, trainable_parameters
from trainables.power_limit import TrialPowerLimit, check_power_limits
from trainables.settings import EnergyConfig, TrialSettings
from trainables.train import LoraTrainer

# Qwen2.5-0.5B/1.5B/3B's published configs (vocabulary, widths, depth, grouped-query heads, tied embeddings).
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
    "qwen2.5-1.5b": dict(
        vocab_size=151936,
        hidden_size=1536,
        intermediate_size=8960,
        num_hidden_layers=28,
        num_attention_heads=12,
        num_key_value_heads=2,
        max_position_embeddings=32768,
        rope_theta=1_000_000.0,
        tie_word_embeddings=True,
    ),
    "qwen2.5-3b": dict(
        vocab_size=151936,
        hidden_size=2048,
        intermediate_size=11008,
        num_hidden_layers=36,
        num_attention_heads=16,
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
# Dense bf16 tensor-core peak and board power from NVIDIA's datasheets: the peak for a reader who compares with
# published MFU figures, their quotient (TFLOP per joule) for the energy floor. SXM parts.
DATASHEET_BF16 = {"H100": (989.4, 700.0), "H200": (989.4, 700.0), "A100": (312.0, 400.0)}
JOULES_PER_WH = 3600.0


def build_model(name: str, directory: Path, seed: int, device: torch.device) -> Qwen2Config:
    """Random bf16 weights, initialised on `device` (a 3B model's fp32 init on the CPU takes most of a minute)."""
    config = Qwen2Config(**MODELS[name], torch_dtype="bfloat16")
    torch.manual_seed(seed)
    with torch.device(device):
        model = Qwen2ForCausalLM._from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(directory)
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()
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
    return 4 * matmul_weights(config) + 6 * lora_params + 12 * layers * d * mean_len


def matmul_weights(config: Qwen2Config) -> int:
    d, layers = config.hidden_size, config.num_hidden_layers
    head_dim = d // config.num_attention_heads
    kv = config.num_key_value_heads * head_dim
    per_layer = d * d * 2 + d * kv * 2 + 3 * d * config.intermediate_size  # q,o + k,v + gate,up,down
    return layers * per_layer + config.vocab_size * d


def floor_wh_per_1k_tokens(config: Qwen2Config, tflops_per_joule: float) -> float:
    """The issue's floor: 4 FLOPs per frozen matmul weight and token at the datasheet's FLOPs per joule."""
    return 4 * matmul_weights(config) * 1000 / (tflops_per_joule * 1e12) / JOULES_PER_WH


def bench_settings(batch_size: int, max_len: int, **overrides) -> TrialSettings:
    """The trial every GPU figure is taken on: rank 16 on all linear layers, one epoch at the given batch."""
    return TrialSettings(
        rank=16,
        target_modules="all-linear",
        batch_size=batch_size,
        max_seq_len=max_len,
        learning_rate=2e-4,
        epochs=1,
        eval_batch_size=batch_size,
        **overrides,
    )


def run_ours(path, quant, settings, examples, warmup, device, energy, name: str) -> dict:
    model = apply_lora(load_base_model(path, quant, device), settings)
    warm = LoraTrainer(model, settings, warmup, warmup[:4], 0, device, seed=1)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)  # the micro-batch probe ran to out-of-memory on purpose
    warm.train_epoch()
    trainer = LoraTrainer(model, settings, examples, examples[: settings.eval_batch_size], 0, device, seed=0)
    with energy.window(name):
        loss = trainer.train_epoch()
    reading = energy.windows[name]
    # Evaluation between epochs, then training again: bitsandbytes repacks 4-bit weights under no_grad on the CPU.
    val_loss = trainer.evaluate()
    trainer.train_examples = warmup[: 2 * settings.batch_size]
    trainer.train_epoch()
    causal_lm = causal_lm_of(model)
    return {
        "loss": loss,
        "val_loss": val_loss,
        "seconds": reading.seconds,
        "wh": reading.wh,
        "energy_source": reading.source,
        "micro_batch_tokens": trainer.micro_tokens,
        # The trainer switches to varlen for its own forwards only, so the model's config says the other one.
        "attention_implementation": (
            "varlen (torch.nn.attention.varlen)"
            if settings.attention == "varlen"
            else causal_lm.config._attn_implementation
        ),
        "loss_path": loss_path(causal_lm.get_output_embeddings(), device),
        "lora_params": trainable_parameters(model),
        "model": model,
    }


def fit_with_trainer(model, settings, examples, warmup, device, energy, out_dir, name: str) -> dict:
    """transformers.Trainer on `model` (stock peft, or Unsloth's): a warm-up epoch, then the measured one."""

    def fit(rows, window):
        args = trainer_arguments(settings, out_dir, use_cpu=device.type == "cpu")
        trainer = Trainer(model=model, args=args, train_dataset=rows, data_collator=lambda b: collate(b, 0))
        if window is None:
            trainer.train()
            return None
        with energy.window(window):
            trainer.train()
        return energy.windows[window]

    fit(warmup, None)
    reading = fit(examples, name)
    return {"seconds": reading.seconds, "wh": reading.wh, "energy_source": reading.source}


def run_trainer(path, settings, examples, warmup, device, energy, out_dir, name: str) -> dict:
    model = get_peft_model(load_base_model(path, "bf16", device), lora_config(settings))
    return fit_with_trainer(model, settings, examples, warmup, device, energy, out_dir, name)


def run_unsloth(path, settings, examples, warmup, device, energy, out_dir, name: str) -> dict:
    """Unsloth's patched model and LoRA under the same Trainer; only where `unsloth` is installed (CUDA)."""
    from unsloth import FastLanguageModel

    model, _ = FastLanguageModel.from_pretrained(
        model_name=str(path), max_seq_length=settings.max_seq_len, dtype=torch.bfloat16, load_in_4bit=False
    )
    model = FastLanguageModel.get_peft_model(
        model,
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.module_names),
        use_gradient_checkpointing=False,
        random_state=0,
    )
    return fit_with_trainer(model, settings, examples, warmup, device, energy, out_dir, name)


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


VARIANTS = ("bf16", "nf4", "bf16-gc", "bf16-compile", "bf16-varlen", "trainer", "unsloth")
# Run only when named: compile did not pay on an H200, varlen attention is still to be measured.
OPT_IN_VARIANTS = ("bf16-compile", "bf16-varlen")
DEFAULT_VARIANTS = tuple(v for v in VARIANTS if v not in OPT_IN_VARIANTS)


def run_variant(variant, path, settings, examples, warmup, device, energy, work: Path, name: str) -> dict:
    if variant == "trainer":
        return run_trainer(path, settings, examples, warmup, device, energy, str(work / "hf"), name)
    if variant == "unsloth":
        return run_unsloth(path, settings, examples, warmup, device, energy, str(work / "hf"), name)
    quant = "nf4" if variant == "nf4" else "bf16"
    update = {
        "quantization": quant,
        "gradient_checkpointing": variant == "bf16-gc",
        "compile": variant == "bf16-compile",
        "attention": "varlen" if variant == "bf16-varlen" else "auto",
    }
    return run_ours(path, quant, settings.model_copy(update=update), examples, warmup, device, energy, name)


def power_limit_sweep(path, settings, examples, warmup, device, energy, limits: list[str]) -> dict:
    """The bf16 loop under each GPU power limit; energy per token and speed against the default limit."""
    watts = [int(w) for w in limits if w != "default"]
    try:
        check_power_limits(watts, source="--power-limits")
    except Exception as err:  # no GPU, no permission: recorded, the other figures still count
        return {"refused": str(err)}
    out: dict[str, dict] = {}
    for limit in limits:
        value = None if limit == "default" else int(limit)
        with TrialPowerLimit(value, [device.index or 0]) as applied:
            result = run_ours(path, "bf16", settings, examples, warmup, device, energy, f"power-{limit}")
        result.pop("model")
        tokens = sum(len(e.input_ids) for e in examples)
        out[limit] = {
            "tokens_per_second": tokens / result["seconds"],
            "wh_per_1k_tokens": result["wh"] / tokens * 1000,
            "default_limit_w": applied.default_w.get(device.index or 0),
            "energy_source": result["energy_source"],
        }
        gc.collect()
        torch.cuda.empty_cache()
    if "default" in out:
        base = out["default"]
        for row in out.values():
            row["energy_ratio_to_default"] = row["wh_per_1k_tokens"] / base["wh_per_1k_tokens"]
            row["speed_ratio_to_default"] = row["tokens_per_second"] / base["tokens_per_second"]
    return out


def bench_model(args, model_name: str, device: torch.device, energy, peak, datasheet, work: Path) -> dict:
    config = build_model(model_name, work / model_name, seed=0, device=device)
    path = work / model_name
    batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b]
    variants = [v for v in args.variants.split(",") if v]
    examples = synthetic_examples(args.examples, config.vocab_size, args.min_len, args.max_len, 0.4, seed=0)
    tokens = sum(len(e.input_ids) for e in examples)
    mean_len = tokens / len(examples)
    runs: dict[str, list[dict]] = {f"{v}@{b}": [] for b in batch_sizes for v in variants}
    skipped: dict[str, str] = {}
    extra: dict[str, float] = {}
    settings = None
    for batch_size, _, variant in itertools.product(batch_sizes, range(args.repeats), variants):
        settings = bench_settings(batch_size, args.max_len)
        if variant in skipped:
            continue
        if variant == "unsloth" and (device.type != "cuda" or importlib.util.find_spec("unsloth") is None):
            skipped[variant] = "not installed (CUDA only)" if device.type == "cuda" else "CUDA only"
            continue
        warmup = examples[: args.warmup_steps * batch_size]  # each length bucket's kernels, allocator pools
        gc.collect()  # the previous variant's model and optimizer, before this one's peak is read
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        name = f"{model_name}:{variant}@{batch_size}:{len(runs[f'{variant}@{batch_size}'])}"
        try:
            result = run_variant(variant, path, settings, examples, warmup, device, energy, work, name)
        except Exception as err:  # one variant that fails (Unsloth, an out-of-memory) must not lose the others
            traceback.print_exc()
            skipped[variant] = f"failed: {type(err).__name__}: {err}"[:500]
            continue
        model = result.pop("model", None)
        if model is not None:
            quant = "nf4" if variant == "nf4" else "bf16"
            if variant in ("bf16", "nf4") and f"reload_max_abs_logit_diff_{variant}" not in extra:
                batch = {k: v.to(device) for k, v in collate(examples[:4], 0).items()}
                quant_settings = settings.model_copy(update={"quantization": quant})
                extra[f"reload_max_abs_logit_diff_{variant}"] = reload_difference(
                    path, quant_settings, model, batch, device, work / f"adapter-{model_name}-{variant}"
                )
            extra["lora_params"] = result.pop("lora_params")
            del model
        if device.type == "cuda":
            result["peak_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        result["tokens_per_second"] = tokens / result["seconds"]
        result["wh_per_1k_tokens"] = result["wh"] / tokens * 1000
        result["watts"] = result["wh"] * 3600 / result["seconds"]
        runs[f"{variant}@{batch_size}"].append(result)
        print(
            f"{model_name} {variant}@{batch_size}: {result['tokens_per_second']:.0f} tok/s, "
            f"{result['wh_per_1k_tokens']:.5f} Wh/1k ({result['energy_source']})",
            flush=True,
        )
    per_token = flops_per_token(config, int(extra.get("lora_params", 0)), mean_len)
    floor = floor_wh_per_1k_tokens(config, datasheet[0] / datasheet[1]) if datasheet else None
    summary: dict[str, object] = {}
    for variant, results in runs.items():
        if not results:
            continue
        tps = statistics.median(r["tokens_per_second"] for r in results)
        achieved = tps * per_token / 1e12
        wh = statistics.median(r["wh_per_1k_tokens"] for r in results)
        measured = results[0]["energy_source"].startswith("measured")
        summary[variant] = {
            "tokens_per_second": tps,
            "wh_per_1k_tokens": wh,
            "ratio_to_energy_floor": wh / floor if floor and measured else None,
            "watts": statistics.median(r["watts"] for r in results),
            "model_tflops": achieved,
            "mfu_vs_measured_matmul": achieved / peak if peak else None,
            "mfu_vs_datasheet": achieved / datasheet[0] if datasheet else None,
            "peak_memory_mb": max((r.get("peak_memory_mb") or 0) for r in results) or None,
            "energy_source": results[0]["energy_source"],
        }
    for batch_size in batch_sizes:
        ours, theirs = summary.get(f"bf16@{batch_size}"), summary.get(f"trainer@{batch_size}")
        if ours and theirs:
            summary[f"ratio_ours_over_trainer_bf16@{batch_size}"] = (
                ours["tokens_per_second"] / theirs["tokens_per_second"]
            )
    report = {
        "model": {"preset": model_name, "random_weights": True, **MODELS[model_name]},
        "lora": {"rank": 16, "target_modules": "all-linear", "params": extra.get("lora_params")},
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
        "energy_floor_wh_per_1k_tokens": floor,
        "summary": summary,
        "skipped": skipped,
        "checks": extra,
        "runs": runs,
    }
    if args.power_limits and settings is not None:
        limits = [w.strip() for w in args.power_limits.split(",") if w.strip()]
        if device.type != "cuda":
            report["power_limits"] = {"refused": "no CUDA device: a GPU power limit cannot be set"}
        else:
            report["power_limits"] = power_limit_sweep(
                path,
                settings.model_copy(update={"batch_size": batch_sizes[0]}),
                examples,
                examples[: args.warmup_steps * batch_sizes[0]],
                device,
                energy,
                limits,
            )
    return report


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models", default="qwen2.5-0.5b,qwen2.5-1.5b,qwen2.5-3b", help=f"comma list of {sorted(MODELS)}"
    )
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--examples", type=int, default=384)
    parser.add_argument("--batch-sizes", default="16", help="comma list; each runs every variant")
    parser.add_argument("--min-len", type=int, default=96)
    parser.add_argument("--max-len", type=int, default=384)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--warmup-steps", type=int, default=16, help="optimizer steps trained before each measure")
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS), help=f"comma list of {', '.join(VARIANTS)}")
    parser.add_argument(
        "--power-limits", default="", help="comma list of watts and `default`, trained under each (bf16, first model)"
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/gpu.json"))
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is visible; use --device cpu --models tiny for a smoke run")
    models = [m for m in args.models.split(",") if m]
    unknown = [m for m in models if m not in MODELS] + [v for v in args.variants.split(",") if v and v not in VARIANTS]
    if unknown:
        parser.error(f"unknown model or variant {unknown}; models: {sorted(MODELS)}, variants: {list(VARIANTS)}")
    work = Path(tempfile.mkdtemp(prefix="bench-gpu-"))
    gpu_indices = [device.index or 0] if device.type == "cuda" else []
    energy = EnergyMeter(EnergyConfig(), gpu_indices=gpu_indices)
    peak = matmul_tflops(device) if device.type == "cuda" else None
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    datasheet = next((v for k, v in DATASHEET_BF16.items() if k in name), None)
    results: dict[str, dict] = {}
    report = {
        "what": "LoraTrainer tokens/s, MFU, energy per token and its ratio to the 4-FLOPs-per-weight floor on a "
        "GPU; transformers Trainer + peft and Unsloth alongside",
        "command": " ".join(["python -m benchmarks.bench_gpu", *(argv if argv is not None else sys.argv[1:])]),
        "peak_tflops": {
            "measured_bf16_matmul_8192": peak,
            "datasheet_bf16_dense": datasheet[0] if datasheet else None,
            "datasheet_board_watts": datasheet[1] if datasheet else None,
        },
        "models": results,
        "machine": {
            "device": name,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "cpus": os.cpu_count(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            **{
                pkg: _version(pkg)
                for pkg in ("transformers", "peft", "bitsandbytes", "zeus", "flash-attn", "liger-kernel", "unsloth")
            },
        },
    }
    for i, model_name in enumerate(models):
        one = argparse.Namespace(**{**vars(args), "power_limits": args.power_limits if i == 0 else ""})
        results[model_name] = bench_model(one, model_name, device, energy, peak, datasheet, work)
        write_json(args.out, report)  # after each model: a run stopped by a time limit keeps what it measured
    print(json.dumps({m: r["summary"] for m, r in results.items()}, indent=2))
    return report


if __name__ == "__main__":
    main()
