"""Training throughput of the trainable (peft LoRA + `LoraTrainer`) against stock `transformers.Trainer` + peft.

Same tiny model, examples, LoRA config, batch size and optimizer, in the same process. Runs alternate in ABBA
order (ours, Trainer, Trainer, ours, ...) so a drift in machine load hits both sides alike; the figure is the
ratio of median tokens/s, with the ratio of each adjacent pair as its spread (goal: >= 1.8). Untimed runs first
record both loss curves (per optimizer step) and a second seed of ours, whose difference is the noise the
curves are compared against. Optional variants: gradient checkpointing (tokens/s and the CPU-time energy
estimate beside the plain loop) and `torch.compile` (compile time included, then a second epoch).

    .venv/bin/python -m benchmarks.bench_trainable [--pairs 4] [--examples 160] [--max-seq-len 128]
        [--variants checkpointing,compile] [--out benchmarks/results/trainable.json] [--corpus DIR]
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
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import torch  # noqa: E402
from peft import get_peft_model  # noqa: E402
from transformers import Trainer  # noqa: E402

from benchmarks.trainer_baseline import trainer_arguments  # noqa: E402
from common.atomic import write_json  # noqa: E402
from corpus.pipeline import build_corpus, read_split  # noqa: E402
from experiment.config import load_config  # noqa: E402
from trainables.base_model import load_base_model, load_tokenizer, resolve_base_model  # noqa: E402
from trainables.data import collate, encode_rows  # noqa: E402
from trainables.energy import EnergyMeter  # noqa: E402
from trainables.lora import apply_lora, lora_config  # noqa: E402
from trainables.settings import EnergyConfig, TrialSettings  # noqa: E402
from trainables.train import LoraTrainer  # noqa: E402

CPU = torch.device("cpu")


def ours(path, tokenizer, examples, settings, seed: int = 0, epochs: int = 1) -> dict:
    model = apply_lora(load_base_model(path, "bf16", CPU), settings)
    trainer = LoraTrainer(model, settings, examples, examples[:8], tokenizer.pad_token_id, CPU, seed=seed)
    meter = EnergyMeter(EnergyConfig())
    per_epoch = []
    for epoch in range(epochs):
        before = trainer.progress.train_tokens
        with meter.window(f"epoch{epoch}"):
            trainer.train_epoch()
        window = meter.windows[f"epoch{epoch}"]
        tokens = trainer.progress.train_tokens - before
        per_epoch.append(
            {
                "tokens_per_second": tokens / window.seconds,
                "seconds": window.seconds,
                "wh_per_1k_tokens": window.wh / tokens * 1000,
                "energy_source": window.source,
            }
        )
    return {**per_epoch[0], "epochs": per_epoch, "step_losses": trainer.step_losses}


def hf_trainer(path, tokenizer, examples, settings, out_dir: str, log_steps: bool = False) -> dict:
    """Stock peft (get_peft_model) and Trainer with a padded collator: what a user would write first."""
    model = get_peft_model(load_base_model(path, "bf16", CPU), lora_config(settings))
    logging = {"logging_strategy": "steps" if log_steps else "no", "logging_steps": 1}
    args = trainer_arguments(settings, out_dir, use_cpu=True, warmup_steps=0, **logging)
    trainer = Trainer(
        model=model, args=args, train_dataset=examples, data_collator=lambda b: collate(b, tokenizer.pad_token_id)
    )
    tokens = sum(len(e.input_ids) for e in examples)
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {"tokens_per_second": tokens / seconds, "seconds": seconds, "step_losses": losses}


def quarter_means(losses: list[float]) -> list[float]:
    n = len(losses)
    bounds = [round(i * n / 4) for i in range(5)]
    return [statistics.fmean(losses[a:b]) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


def compare_curves(ours_curve: list[float], other_seed: list[float], theirs: list[float]) -> dict:
    """Per-quarter mean losses; the curves agree when ours and Trainer differ by no more than two seeds of ours."""
    mine, again, base = quarter_means(ours_curve), quarter_means(other_seed), quarter_means(theirs)
    noise = max(abs(a - b) for a, b in zip(mine, again, strict=True))
    gap = max(abs(a - b) for a, b in zip(mine, base, strict=True))
    return {
        "quarter_means": {"ours_seed0": mine, "ours_seed1": again, "trainer": base},
        "max_gap_ours_vs_trainer": gap,
        "max_gap_between_two_seeds_of_ours": noise,
        "equal_within_noise": gap <= 2 * noise,
        "criterion": "max per-quarter gap ours-vs-Trainer <= 2 x the gap between two shuffles of ours",
        "steps": {"ours": len(ours_curve), "trainer": len(theirs)},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=4, help="ABBA pairs of timed runs")
    parser.add_argument("--examples", type=int, default=160, help="training examples per run")
    parser.add_argument("--max-seq-len", type=int, default=None, help="default: the tiny preset's")
    parser.add_argument("--variants", default="", help="comma list of: checkpointing, compile")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/trainable.json"))
    parser.add_argument("--corpus", type=Path, default=None, help="an already built corpus directory (skips the build)")
    args = parser.parse_args()
    # One thread: what each trial runs with (cpus_per_trial=1), and immune to OpenMP spin-waits on a busy box.
    torch.set_num_threads(1)
    config = load_config("tiny")
    work = Path(tempfile.mkdtemp(prefix="bench-trainable-"))
    corpus_path = args.corpus or build_corpus(config.corpus, work / "data").path
    train = read_split(corpus_path, "train")
    path = resolve_base_model(config.model, (train["question"] + "\n" + train["answer"]).tolist(), work / "cache")
    tokenizer = load_tokenizer(path)
    settings = TrialSettings(
        rank=16,
        target_modules="all-linear",
        batch_size=config.training.batch_size,
        max_seq_len=args.max_seq_len or config.training.max_seq_len,
        learning_rate=config.training.learning_rate,
    )
    rows = train.to_dict("records")[: args.examples]
    examples = encode_rows(tokenizer, config.model.system_prompt, rows, settings.max_seq_len)
    lengths = [len(e.input_ids) for e in examples]

    # Untimed: loss curves (and every code path's first-call costs) before the timed runs.
    curves = compare_curves(
        ours(path, tokenizer, examples, settings, seed=0)["step_losses"],
        ours(path, tokenizer, examples, settings, seed=1)["step_losses"],
        hf_trainer(path, tokenizer, examples, settings, str(work / "hf"), log_steps=True)["step_losses"],
    )
    runs: dict[str, list[float]] = {"ours": [], "hf_trainer": []}
    order: list[str] = []
    for pair in range(args.pairs):
        for side in ("ours", "hf_trainer") if pair % 2 == 0 else ("hf_trainer", "ours"):
            if side == "ours":
                run = ours(path, tokenizer, examples, settings)
            else:
                run = hf_trainer(path, tokenizer, examples, settings, str(work / "hf"))
            runs[side].append(run["tokens_per_second"])
            order.append(side)
    pair_ratios = [a / b for a, b in zip(runs["ours"], runs["hf_trainer"], strict=True)]
    ratio = statistics.median(runs["ours"]) / statistics.median(runs["hf_trainer"])

    variants: dict[str, dict] = {}
    for variant in [v for v in args.variants.split(",") if v]:
        plain = ours(path, tokenizer, examples, settings)
        if variant == "checkpointing":
            other = ours(path, tokenizer, examples, settings.model_copy(update={"gradient_checkpointing": True}))
            variants[variant] = {
                "plain": plain,
                "checkpointing": other,
                "tokens_per_second_ratio": other["tokens_per_second"] / plain["tokens_per_second"],
                "energy_per_token_ratio": other["wh_per_1k_tokens"] / plain["wh_per_1k_tokens"],
            }
        elif variant == "compile":
            other = ours(path, tokenizer, examples, settings.model_copy(update={"compile": True}), epochs=2)
            variants[variant] = {
                "plain": plain,
                "compiled": other,
                "first_epoch_ratio": other["epochs"][0]["tokens_per_second"] / plain["tokens_per_second"],
                "second_epoch_ratio": other["epochs"][1]["tokens_per_second"] / plain["tokens_per_second"],
            }
        else:
            parser.error(f"--variants: unknown variant {variant!r}; choose from checkpointing, compile")
        for side in variants[variant].values():
            if isinstance(side, dict):
                side.pop("step_losses", None)

    result = {
        "what": "training tokens/s of peft LoRA + trainables.train.LoraTrainer vs stock transformers.Trainer + peft",
        "command": " ".join(["python -m benchmarks.bench_trainable", *sys.argv[1:]]),
        "model": f"{config.model.base} (tiny preset)",
        "lora": {"rank": settings.rank, "target_modules": settings.target_modules, "batch_size": settings.batch_size},
        "examples": len(examples),
        "max_seq_len": settings.max_seq_len,
        "example_tokens": {"mean": statistics.fmean(lengths), "min": min(lengths), "max": max(lengths)},
        "order": order,
        "tokens_per_second": runs,
        "ratio_ours_over_trainer": ratio,
        "pair_ratios": pair_ratios,
        "pair_ratio_spread": [min(pair_ratios), max(pair_ratios)],
        "goal": ">= 1.8",
        "loss_curves": curves,
        "variants": variants,
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "load_average_at_end": os.getloadavg(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "device": "cpu",
            "shared": "a development machine other jobs may share: the load average says how busy it was",
        },
    }
    write_json(args.out, result)
    print(
        f"ours/Trainer tokens-per-second ratio: {ratio:.3f} (pairs {min(pair_ratios):.3f}-{max(pair_ratios):.3f}; "
        f"goal >= 1.8); loss curves equal within noise: {curves['equal_within_noise']}; written to {args.out}"
    )


if __name__ == "__main__":
    main()
