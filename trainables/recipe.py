"""The trial's recipe: load the base model, apply LoRA, train epoch by epoch (each reported with a checkpoint),
then generate answers for the judge set and have the panel score them.

It knows neither Ray nor MLflow: the caller hands it a `report` callable (Tune, at the edge in
trainables/trainable.py) and a `log` (the trial's MLflow run), both typed in trainables/contract.py.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

from common.atomic import write_text
from common.mlflow_names import JUDGE_ANSWERS
from judging import pairwise
from judging.panel import JudgeItem, Panel, PanelResult
from trainables.base_model import corpus_texts, load_base_model, load_tokenizer, resolve_base_model
from trainables.contract import (
    ADAPTER_DIR,
    CHECKPOINT_DIR,
    Report,
    TrialContext,
    TrialLog,
    TrialMetrics,
    data_choices,
    trial_params,
    trial_settings,
    variant_key,
)
from trainables.data import Example, encode_rows
from trainables.energy import EnergyMeter
from trainables.generate import generate_answers
from trainables.judged_figures import SCENARIO_ID, judged_figures
from trainables.lora import apply_lora, load_adapter, trainable_parameters
from trainables.power_limit import TrialPowerLimit
from trainables.settings import TrialSettings
from trainables.train import LoraTrainer, peak_memory_mb, seed_everything


def local_base_model(context: TrialContext) -> Path:
    """The driver's base-model directory, or the same model resolved again where that path does not exist
    (another node): the tiny model is rebuilt deterministically from the same corpus text, a hub id is looked up
    in this node's cache."""
    path = Path(context.base_model_path)
    if (path / "config.json").is_file():
        return path
    return resolve_base_model(context.model, corpus_texts(context.splits["train"]), Path(context.cache_dir))


def _device(gpus: float) -> torch.device:
    return torch.device("cuda", 0) if gpus > 0 and torch.cuda.is_available() else torch.device("cpu")


_ENCODED: dict[tuple, list[Example]] = {}


def encoded(base_path: Path, tokenizer, system_prompt: str, rows: list[dict], max_seq_len: int) -> list[Example]:
    """The rows through the chat template, kept for the next trial of this process: Tune reuses trial actors, and
    encoding the paper preset's 30,000 pairs takes longer than a short trial's epoch."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(f"{row['question']}\0{row['answer']}\0".encode())
    key = (str(base_path), system_prompt, max_seq_len, digest.hexdigest())
    if key not in _ENCODED:
        if len(_ENCODED) >= 4:  # a process sees one corpus and a few max_seq_len values; bound it anyway
            _ENCODED.pop(next(iter(_ENCODED)))
        _ENCODED[key] = encode_rows(tokenizer, system_prompt, rows, max_seq_len)
    return _ENCODED[key]


def quiet_libraries() -> None:
    from transformers.utils import logging as hf_logging

    # Tune's line for every checkpoint, three per trial of three epochs, each relayed to the driver's console.
    logging.getLogger("ray.train._internal.storage").setLevel(logging.WARNING)

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    warnings.filterwarnings("ignore", message=".*MatMul8bitLt.*")
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")


def run_trial(
    config: dict[str, Any], context: TrialContext, report: Report, log: TrialLog, resume_from: Path | None = None
) -> None:
    """Train and judge one sampled configuration. `resume_from`: a restored checkpoint directory to continue from.

    After every epoch `report` receives the epoch's TrialMetrics and a directory holding the checkpoint (adapter,
    trainer state and, on the last epoch, the judged answers); `log` receives params, metrics and artifacts.
    """
    settings = trial_settings(context.defaults, config)
    # The micro-batch probe's cache and the power limits' markers live in the search's cache directory.
    os.environ["LORAPARETO_CACHE"] = context.cache_dir
    seed_everything(context.seed)
    torch.set_num_threads(max(1, int(context.cpus_per_trial)))
    device = _device(context.gpus_per_trial)
    origin = "paper16" if tuple(sorted(config.items())) in set(context.grid_points) else "sampler"
    train_rows, data_params = variant_rows(config, context)
    log.log_params({**trial_params(settings), **data_params}, tags={"origin": origin, "device": str(device)})

    base_path = local_base_model(context)
    tokenizer = load_tokenizer(base_path)
    system_prompt = context.model.system_prompt
    val_rows, judge_rows = context.splits["val"], context.splits["judge"]
    probe_rows = val_rows[: settings.probe_items]
    train_examples = encoded(base_path, tokenizer, system_prompt, train_rows, settings.max_seq_len)
    val_examples = encoded(base_path, tokenizer, system_prompt, val_rows, settings.max_seq_len)

    gpu_ids = list(range(torch.cuda.device_count())) if device.type == "cuda" else []
    meter = EnergyMeter(
        context.energy,
        gpu_indices=gpu_ids,
        gpu_share=min(1.0, context.gpus_per_trial) if gpu_ids else 1.0,
        cpu_share=min(1.0, context.cpus_per_trial / (os.cpu_count() or 1)),
    )

    base = load_base_model(base_path, settings.quantization, device)
    if resume_from is not None:
        model = load_adapter(base, resume_from / CHECKPOINT_DIR / ADAPTER_DIR, settings)
    else:
        model = apply_lora(base, settings)
    trainer = LoraTrainer(model, settings, train_examples, val_examples, tokenizer.pad_token_id, device, context.seed)
    if resume_from is not None:
        trainer.restore(resume_from / CHECKPOINT_DIR)
    progress = trainer.progress
    n_trainable = trainable_parameters(model)

    with TrialPowerLimit(settings.gpu_power_limit_w, gpu_ids):
        while progress.epoch < settings.epochs:
            with meter.window("train"):
                train_loss = trainer.train_epoch()
            with meter.window("eval"):
                val_loss = trainer.evaluate()
            check_finite_losses(progress.epoch, train_loss=train_loss, val_loss=val_loss)
            progress.energy_train_wh += meter.windows["train"].wh
            progress.energy_eval_wh += meter.windows["eval"].wh
            final = progress.epoch == settings.epochs
            probe_score = None
            if probe_rows:
                with meter.window("probe"):
                    probe_score = _probe_score(model, tokenizer, settings, context, probe_rows, device, final)
                progress.energy_eval_wh += meter.windows["probe"].wh
            judged, judge = None, {}
            if final:
                with meter.window("judge"):
                    judged, judge = judge_final(model, tokenizer, settings, context, judge_rows, device)
                    log.log_table(judged.items, JUDGE_ANSWERS)
                progress.energy_eval_wh += meter.windows["judge"].wh
            metrics = TrialMetrics(
                epoch=progress.epoch,
                train_loss=train_loss,
                val_loss=val_loss,
                perplexity=math.exp(min(val_loss, 50.0)),
                energy_wh=progress.energy_train_wh,
                energy_eval_wh=progress.energy_eval_wh,
                train_seconds=progress.train_seconds,
                train_tokens=progress.train_tokens,
                tokens_per_second=trainer.tokens_per_second,
                trainable_params=n_trainable,
                peak_memory_mb=peak_memory_mb(device),
                is_final=final,
                judge_score=judge.pop("judge_score", math.nan),
                judge_score_ci_low=judge.pop("judge_score_ci_low", math.nan),
                judge_score_ci_high=judge.pop("judge_score_ci_high", math.nan),
                answer_repetition=judge.pop("answer_repetition", math.nan),
                answer_truncated_share=judge.pop("answer_truncated_share", math.nan),
                answer_distinct_2=judge.pop("answer_distinct_2", math.nan),
                probe_judge_score=probe_score,
                judge=judge,
                energy_source=meter.source,
                origin=origin,
            )
            log.log_metrics(metrics.as_report(), step=progress.epoch, tags={"energy_source": meter.source})
            with tempfile.TemporaryDirectory() as ckpt_dir:
                trainer.save(Path(ckpt_dir) / CHECKPOINT_DIR)
                if judged is not None:
                    # Kept in the checkpoint too, so --resync can log them if MLflow is unreachable now.
                    write_text(Path(ckpt_dir) / CHECKPOINT_DIR / JUDGE_ANSWERS, judged.items.to_json(orient="records"))
                    log.log_artifacts(Path(ckpt_dir) / CHECKPOINT_DIR / ADAPTER_DIR, ADAPTER_DIR)
                report(metrics, Path(ckpt_dir))


def variant_rows(config: dict[str, Any], context: TrialContext) -> tuple[list[dict], dict[str, Any]]:
    """The training rows of the trial's data variant and the params naming it (`corpus.*`, `data_variant`); the
    search's own corpus and no params without data axes. Val and judge rows are the same for every variant."""
    choices = data_choices(config)
    if not choices:
        return context.splits["train"], {}
    key = variant_key(choices)
    return context.variant_train[key], {**choices, "data_variant": key}


def _probe_score(model, tokenizer, settings: TrialSettings, context: TrialContext, rows, device, final: bool) -> float:
    if settings.quantization == "nf4" and device.type == "cpu" and not final:
        # generate() runs under no_grad, which repacks 4-bit weights on the CPU and breaks the next training
        # step (RuntimeError: a view of a leaf Variable that requires grad is used in an in-place
        # operation; Qwen2's q/k/v biases trigger it, 8-bit is unaffected); the probe waits for the last epoch there.
        return float("nan")
    return judge_model(model, tokenizer, settings, context, rows, device).judge_score


def judge_model(model, tokenizer, settings: TrialSettings, context: TrialContext, rows, device):
    """Greedy answers to `rows`, scored by the panel; returns the PanelResult (its items carry their scenario)."""
    return with_scenarios(_panel(context).score(answer_items(model, tokenizer, settings, context, rows, device)), rows)


def judge_final(model, tokenizer, settings: TrialSettings, context: TrialContext, rows, device):
    """The trial's result on the judge set: the panel's PanelResult and its metrics (the score's interval and the
    answers' degeneration included), with the pairwise comparison against the untuned model's answers where
    `judging.pairwise` asks for it."""
    items = answer_items(model, tokenizer, settings, context, rows, device)
    panel = _panel(context)
    judged = with_scenarios(panel.score(items), rows)
    metrics = {**judged.metrics(), **judged_figures(judged.items, context.seed)}
    if context.judging.pairwise:
        versus = context.baseline_answers
        metrics.update(pairwise.compare(panel, items, versus).metrics() if versus else pairwise.unavailable())
    return judged, metrics


def answer_items(model, tokenizer, settings: TrialSettings, context: TrialContext, rows, device) -> list[JudgeItem]:
    answers = generate_answers(
        model,
        tokenizer,
        context.model.system_prompt,
        [r["question"] for r in rows],
        max_new_tokens=settings.max_new_tokens,
        batch_size=settings.eval_batch_size,
        device=device,
        max_prompt_len=settings.max_seq_len,
        precision=settings.autocast,
    )
    return [
        JudgeItem(id=str(r["id"]), question=r["question"], reference=r["answer"], answer=a)
        for r, a in zip(rows, answers, strict=True)
    ]


def with_scenarios(judged: PanelResult, rows: list[dict]) -> PanelResult:
    """The per-item table with each item's `scenario_id`: the search's bootstrap resamples items by scenario (items
    of one scenario are not independent). A row without one is its own scenario."""
    judged.items[SCENARIO_ID] = [str(r.get(SCENARIO_ID) or f"item:{r['id']}") for r in rows]
    return judged


def _panel(context: TrialContext) -> Panel:
    return Panel.from_config(context.judging, cache_dir=Path(context.cache_dir) / "judge")


def score_base_model(context: TrialContext) -> dict[str, Any]:
    """The untuned base model on the same judge set and panel: the baseline every trial should beat."""
    quiet_libraries()
    seed_everything(context.seed)
    device = _device(context.gpus_per_trial)
    base_path = local_base_model(context)
    tokenizer = load_tokenizer(base_path)
    model = load_base_model(base_path, context.defaults.quantization, device)
    rows = context.splits["judge"]
    result = judge_model(model, tokenizer, context.defaults, context, rows, device)
    return {"metrics": {**result.metrics(), **judged_figures(result.items, context.seed)}, "items": result.items}


def check_finite_losses(epoch: int, **losses: float) -> None:
    """A diverged trial (NaN or infinite loss) fails with the reason, instead of being judged and put on the front:
    Tune records it as errored and the search goes on with the other trials."""
    bad = {name: value for name, value in losses.items() if not math.isfinite(value)}
    if bad:
        raise FloatingPointError(
            f"epoch {epoch}: {', '.join(f'{k}={v}' for k, v in bad.items())} is not finite (the training diverged; "
            "a lower learning_rate, alpha_multiple or weight_decay usually avoids it)"
        )
