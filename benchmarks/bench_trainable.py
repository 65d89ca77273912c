"""Training throughput of the trainable's loop against a plain transformers Trainer + peft loop.

Same tiny model, data, LoRA config, batch size and optimizer, in the same process, alternated (ours, Trainer,
ours, Trainer, ...) so machine noise hits both; the figure is the ratio of median tokens/s (goal: >= 0.95).

    .venv/bin/python benchmarks/bench_trainable.py [--repeats 3] [--examples 160]
        [--out benchmarks/results/trainable.json]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import torch  # noqa: E402
from transformers import Trainer, TrainingArguments  # noqa: E402

from common.atomic import write_json  # noqa: E402
from corpus.pipeline import build_corpus, read_split  # noqa: E402
from search.config import load_config  # noqa: E402
from trainables.base_model import load_base_model, load_tokenizer, resolve_base_model  # noqa: E402
from trainables.data import collate, encode_rows  # noqa: E402
from trainables.lora import apply_lora  # noqa: E402
from trainables.settings import TrialSettings  # noqa: E402
from trainables.train import LoraTrainer  # noqa: E402

CPU = torch.device("cpu")


def ours(path, tokenizer, examples, settings) -> float:
    model = apply_lora(load_base_model(path, "bf16", CPU), settings)
    trainer = LoraTrainer(model, settings, examples, examples[:8], tokenizer.pad_token_id, CPU, seed=0)
    trainer.train_epoch()
    return trainer.tokens_per_second


def hf_trainer(path, tokenizer, examples, settings, out_dir: str) -> float:
    model = apply_lora(load_base_model(path, "bf16", CPU), settings)
    args = TrainingArguments(
        output_dir=out_dir,
        per_device_train_batch_size=settings.batch_size,
        num_train_epochs=1,
        learning_rate=settings.learning_rate,
        lr_scheduler_type=settings.scheduler,
        warmup_steps=0,
        max_grad_norm=1.0,
        logging_strategy="no",
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        disable_tqdm=True,
        seed=0,
    )
    trainer = Trainer(
        model=model, args=args, train_dataset=examples, data_collator=lambda b: collate(b, tokenizer.pad_token_id)
    )
    tokens = sum(len(e.input_ids) for e in examples)
    started = time.perf_counter()
    trainer.train()
    return tokens / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--examples", type=int, default=160, help="training examples per run")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/trainable.json"))
    args = parser.parse_args()
    # One thread: what each trial runs with (cpus_per_trial=1), and immune to OpenMP spin-waits on a busy box.
    torch.set_num_threads(1)
    config = load_config("local")
    work = Path(tempfile.mkdtemp(prefix="bench-trainable-"))
    corpus = build_corpus(config.corpus, work / "data")
    train = read_split(corpus.path, "train")
    path = resolve_base_model(config.model, (train["question"] + "\n" + train["answer"]).tolist(), work / "cache")
    tokenizer = load_tokenizer(path)
    settings = TrialSettings(rank=16, target_modules="all-linear", batch_size=8, max_seq_len=128, learning_rate=5e-3)
    rows = train.to_dict("records")[: args.examples]
    examples = encode_rows(tokenizer, config.model.system_prompt, rows, settings.max_seq_len)
    runs: dict[str, list[float]] = {"ours": [], "hf_trainer": []}
    for _ in range(args.repeats):
        runs["ours"].append(ours(path, tokenizer, examples, settings))
        runs["hf_trainer"].append(hf_trainer(path, tokenizer, examples, settings, str(work / "hf")))
    ratio = statistics.median(runs["ours"]) / statistics.median(runs["hf_trainer"])
    result = {
        "what": "training tokens/s of trainables.train.LoraTrainer vs transformers.Trainer + peft, same process",
        "model": "tiny-qwen2 (local preset)",
        "lora": {"rank": settings.rank, "target_modules": settings.target_modules, "batch_size": settings.batch_size},
        "examples": len(examples),
        "tokens_per_second": runs,
        "ratio_ours_over_trainer": ratio,
        "goal": ">= 0.95",
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "device": "cpu",
        },
    }
    write_json(args.out, result)
    print(f"ours/Trainer tokens-per-second ratio: {ratio:.3f} (goal >= 0.95); written to {args.out}")


if __name__ == "__main__":
    main()
