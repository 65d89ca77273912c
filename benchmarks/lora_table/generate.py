"""Build the tabular benchmark: every epoch of 200+ LoRA configurations of the tiny model, trained with the
project's own recipe (no Ray Tune), so search strategies can be replayed without training.

The base model is the `tiny-qwen2` pre-trained for `--pretrain-steps` steps as a causal LM on the training texts
(`model.tiny.pretrain_steps`), so LoRA adapts a model that already knows the corpus's language, as with a real base
model; `--pretrain-steps 0` gives the random-weight base of earlier tables. It is built once, before the workers.

Configurations: the 16 `paper16` grid points plus `--configs` draws from the `local` preset's search space
(Optuna's RandomSampler, seeded). Per epoch a row holds the losses, the cumulative training energy, the offline
judge's score on a probe set of validation questions (what an early-stopping scheduler sees) and on the judge
set (what the search is scored on). Resumable: rows are appended, configurations already in the CSV are
skipped, and the CSV is rewritten atomically after every configuration; every row names its base model, and a
table trained on another base is refused rather than extended.

    .venv/bin/python -m benchmarks.lora_table.generate [--configs 200] [--workers 2] [--max-epochs 3]
        [--pretrain-steps N]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from importlib import metadata
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import optuna  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.lora_table.space import config_id, distributions  # noqa: E402
from common.atomic import write_json, write_text  # noqa: E402
from common.errors import InputError, exit_on_input_error  # noqa: E402
from corpus.pipeline import build_corpus  # noqa: E402
from experiment.config import ExperimentConfig, load_config  # noqa: E402
from search.space import seed_points  # noqa: E402

TABLE_DIR = Path(__file__).resolve().parent
TABLE_CSV = TABLE_DIR / "table.csv"
ENVIRONMENT_JSON = TABLE_DIR / "environment.json"
# Pre-training steps of the base model (batch 16 x 64 tokens, ~6 passes over the local corpus's training text): the
# LM loss on the validation split's text falls from 7.61 (random weights; ln 2048 = 7.62) to 1.31, in 36 s on one
# thread of this 2-core machine. Recorded per table in environment.json (`base_model`).
PRETRAIN_STEPS = 500
PACKAGES = ("torch", "transformers", "peft", "optuna", "ray", "litellm", "pandas", "numpy", "sentence-transformers")

# Set once per worker process by _init_worker: the loaded tokenizer, encoded data and judge panel.
_WORKER: dict[str, Any] = {}


def sample_configs(config: ExperimentConfig, n_random: int, seed: int) -> list[dict[str, Any]]:
    """The reference grid first (the replay's `grid16` needs it), then seeded random draws of the space."""
    dists = distributions(config.search.space)
    configs = [dict(p) for p in seed_points(config.search, config.training)]
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=seed))
    for _ in range(n_random):
        configs.append(study.ask(fixed_distributions=dists).params)
    return configs


def _build_base_model(config_json: str, corpus_path: str, threads: int) -> dict[str, Any]:
    """Build (or find cached) the base model, as a trial's thread count would; what the environment records."""
    import torch

    from corpus.pipeline import read_split
    from trainables.base_model import corpus_texts, resolve_base_model
    from trainables.tiny_qwen2 import model_dir

    torch.set_num_threads(threads)
    config = ExperimentConfig.model_validate_json(config_json)
    texts = corpus_texts(read_split(Path(corpus_path), "train").to_dict("records"))
    cache_dir = config.paths.cache_dir.resolve()
    cached = (model_dir(config.model.tiny, texts, cache_dir) / "config.json").is_file()
    started = time.perf_counter()
    path = resolve_base_model(config.model, texts, cache_dir)
    return {
        "name": config.model.base,
        "tiny": config.model.tiny.model_dump(),
        "path": path.name,
        # A cache hit times the lookup only; the build time of a cached model is in the environment that built it.
        "build_seconds": None if cached else round(time.perf_counter() - started, 1),
        "build_threads": threads,
    }


def _init_worker(config_json: str, corpus_path: str, threads: int) -> None:
    import torch

    from corpus.pipeline import read_split
    from judging.panel import Panel
    from trainables.base_model import corpus_texts, load_tokenizer, resolve_base_model
    from trainables.data import encode_rows
    from trainables.recipe import quiet_libraries

    quiet_libraries()
    torch.set_num_threads(threads)
    config = ExperimentConfig.model_validate_json(config_json)
    corpus = Path(corpus_path)
    splits = {s: read_split(corpus, s).to_dict("records") for s in ("train", "val", "judge")}
    base_path = resolve_base_model(config.model, corpus_texts(splits["train"]), config.paths.cache_dir.resolve())
    tokenizer = load_tokenizer(base_path)
    prompt = config.model.system_prompt
    max_len = config.training.max_seq_len
    _WORKER.update(
        config=config,
        base_path=base_path,
        tokenizer=tokenizer,
        train=encode_rows(tokenizer, prompt, splits["train"], max_len),
        val=encode_rows(tokenizer, prompt, splits["val"], max_len),
        splits=splits,
        # No judgement cache: the offline judge is deterministic and cheap, and a cache would grow per answer.
        panel=Panel.from_config(config.judging, cache_dir=None),
    )


def _judge(model, settings, rows) -> float:
    import torch

    from judging.panel import JudgeItem
    from trainables.generate import generate_answers

    answers = generate_answers(
        model,
        _WORKER["tokenizer"],
        _WORKER["config"].model.system_prompt,
        [r["question"] for r in rows],
        max_new_tokens=settings.max_new_tokens,
        batch_size=settings.eval_batch_size,
        device=torch.device("cpu"),
        max_prompt_len=settings.max_seq_len,
    )
    items = [
        JudgeItem(id=str(r["id"]), question=r["question"], reference=r["answer"], answer=a)
        for r, a in zip(rows, answers, strict=True)
    ]
    return _WORKER["panel"].score(items).judge_score


def train_config(params: dict[str, Any], probe_items: int, judge_every_epoch: bool = True) -> list[dict[str, Any]]:
    """One configuration, trained as a trial would be; one row per epoch.

    The table judges the judge set after every epoch (`judge_every_epoch`); a trial does so after its last
    epoch only, which is what benchmarks/bench_overhead.py runs.
    """
    import torch

    from trainables.base_model import load_base_model
    from trainables.contract import trial_settings
    from trainables.energy import EnergyMeter
    from trainables.lora import apply_lora
    from trainables.train import LoraTrainer, seed_everything

    config: ExperimentConfig = _WORKER["config"]
    settings = trial_settings(config.training, params)
    seed_everything(config.experiment.seed)
    cpu = torch.device("cpu")
    model = apply_lora(load_base_model(_WORKER["base_path"], settings.quantization, cpu), settings)
    trainer = LoraTrainer(
        model,
        settings,
        _WORKER["train"],
        _WORKER["val"],
        _WORKER["tokenizer"].pad_token_id,
        cpu,
        config.experiment.seed,
    )
    meter = EnergyMeter(config.energy, cpu_share=1.0 / (os.cpu_count() or 1))
    probe_rows = _WORKER["splits"]["val"][:probe_items]
    judge_rows = _WORKER["splits"]["judge"]
    rows = []
    energy_wh = energy_eval_wh = 0.0
    while trainer.progress.epoch < settings.epochs:
        with meter.window("train"):
            train_loss = trainer.train_epoch()
        with meter.window("eval"):
            val_loss = trainer.evaluate()
        with meter.window("probe"):
            probe_score = _judge(model, settings, probe_rows)
        final = trainer.progress.epoch == settings.epochs
        with meter.window("judge"):
            judge_score = _judge(model, settings, judge_rows) if final or judge_every_epoch else float("nan")
        energy_wh += meter.windows["train"].wh
        # As in the trainable: val loss and the probe are evaluation energy; the judge-set pass at a non-final
        # epoch is the table's own extra and is kept apart.
        energy_eval_wh += meter.windows["eval"].wh + meter.windows["probe"].wh
        rows.append(
            {
                "config_id": config_id(params),
                "base_model": _WORKER["base_path"].name,
                **params,
                "epoch": trainer.progress.epoch,
                "is_final": final,
                "train_loss": train_loss,
                "val_loss": val_loss,
                "probe_judge_score": probe_score,
                "judge_score": judge_score,
                "energy_wh": energy_wh,
                "energy_eval_wh": energy_eval_wh,
                "energy_probe_wh": meter.windows["probe"].wh,
                "energy_judge_wh": meter.windows["judge"].wh,
                "train_seconds": trainer.progress.train_seconds,
                "energy_source": meter.source,
            }
        )
    return rows


def _environment(
    config: ExperimentConfig, args: argparse.Namespace, corpus_hash: str, base_model: dict[str, Any]
) -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=TABLE_DIR, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "command": "python -m benchmarks.lora_table.generate "
        f"--configs {args.configs} --seed {args.seed} --max-epochs {args.max_epochs} "
        f"--probe-items {args.probe_items} --workers {args.workers} --pretrain-steps {args.pretrain_steps}",
        "preset": "tiny",
        "base_model": base_model,
        "corpus_hash": corpus_hash,
        "judge_panel": list(config.judging.panel),
        "git_commit": commit,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "threads_per_worker": args.threads,
        "packages": {name: _version(name) for name in PACKAGES},
        "energy": "estimate: process CPU time x energy.watts_per_core (no counter on this machine)",
    }


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _read_table(path: Path) -> pd.DataFrame:
    return pd.read_csv(path) if path.is_file() else pd.DataFrame()


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", type=int, default=200, help="random configurations besides the 16 grid points")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-epochs", type=int, default=3, help="upper bound on the space's `epochs` axis")
    parser.add_argument("--probe-items", type=int, default=8, help="validation questions in the probe set")
    parser.add_argument("--workers", type=int, default=2, help="training processes")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    parser.add_argument(
        "--pretrain-steps",
        type=int,
        default=PRETRAIN_STEPS,
        help="causal-LM pre-training steps of the tiny base model (model.tiny.pretrain_steps); 0: random weights",
    )
    parser.add_argument("--out", type=Path, default=TABLE_CSV)
    return parser.parse_args(argv)


@exit_on_input_error
def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    for name in ("configs", "max_epochs", "probe_items", "workers", "threads", "pretrain_steps"):
        if getattr(args, name) < (0 if name in ("configs", "pretrain_steps") else 1):
            raise InputError(f"--{name.replace('_', '-')}", None, f"must be positive, got {getattr(args, name)}")
    config = load_config(
        "tiny",
        overrides=[f"training.probe_items={args.probe_items}", f"model.tiny.pretrain_steps={args.pretrain_steps}"],
    )
    epochs_spec = config.search.space.get("epochs")
    if epochs_spec is not None and epochs_spec.choices and max(epochs_spec.choices) > args.max_epochs:
        raise InputError("--max-epochs", None, f"{args.max_epochs} is below the space's epochs {epochs_spec.choices}")
    configs = sample_configs(config, args.configs, args.seed)
    # Built once here: workers building it concurrently would each run the whole Ray Data pipeline.
    corpus = build_corpus(config.corpus, config.paths.data_dir.resolve())
    worker_args = (config.model_dump_json(), str(corpus.path), args.threads)
    # In a child process, so this one never runs torch before forking the workers; built once, not per worker.
    with ProcessPoolExecutor(max_workers=1) as builder:
        base_model = builder.submit(_build_base_model, *worker_args).result()
    print(f"base model {base_model['path']} (build seconds: {base_model['build_seconds']})", flush=True)
    table = _read_table(args.out)
    if not table.empty:
        bases = set(table["base_model"]) if "base_model" in table else {"an unrecorded base"}
        if bases != {base_model["path"]}:
            raise InputError(
                args.out,
                "base_model",
                f"rows were trained on {sorted(bases)}, not {base_model['path']}: give another --out or remove it",
            )
    done = set(table["config_id"]) if "config_id" in table else set()
    todo = [c for c in configs if config_id(c) not in done]
    print(f"{len(configs)} configurations, {len(done)} already in {args.out}, {len(todo)} to train", flush=True)
    frames = [table] if not table.empty else []
    with ProcessPoolExecutor(max_workers=args.workers, initializer=_init_worker, initargs=worker_args) as pool:
        futures = [pool.submit(train_config, params, args.probe_items) for params in todo]
        for finished, future in enumerate(as_completed(futures), start=1):
            frames.append(pd.DataFrame(future.result()))
            buffer = io.StringIO()
            pd.concat(frames, ignore_index=True).to_csv(buffer, index=False)
            write_text(args.out, buffer.getvalue())
            if finished % 10 == 0 or finished == len(todo):
                print(f"{finished}/{len(todo)} trained", flush=True)
    write_json(args.out.parent / ENVIRONMENT_JSON.name, _environment(config, args, corpus.corpus_hash, base_model))


if __name__ == "__main__":
    main()
