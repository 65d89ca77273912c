"""The `transformers.Trainer` arguments every benchmark compares our loop against: one epoch at the trial's batch
size, learning rate and schedule, gradient clipping at 1.0 and the same CPU precision as ours (bf16 autocast where
`training.autocast` gives it: trainables/precision.py), nothing saved or logged unless asked."""

from __future__ import annotations

from typing import Any

import torch
from transformers import TrainingArguments

from trainables.precision import uses_bf16_autocast


def trainer_arguments(settings, out_dir: str, use_cpu: bool, **overrides: Any) -> TrainingArguments:
    options = {
        "output_dir": out_dir,
        "per_device_train_batch_size": settings.batch_size,
        "num_train_epochs": 1,
        "learning_rate": settings.learning_rate,
        "lr_scheduler_type": settings.scheduler,
        "max_grad_norm": 1.0,
        "logging_strategy": "no",
        "save_strategy": "no",
        "report_to": [],
        "use_cpu": use_cpu,
        "remove_unused_columns": False,
        "dataloader_num_workers": 0,
        "disable_tqdm": True,
        "seed": 0,
        # Trainer's bf16 on the CPU is the same torch.autocast our loop runs under.
        "bf16": use_cpu and uses_bf16_autocast(torch.device("cpu"), settings.autocast),
    }
    return TrainingArguments(**{**options, **overrides})
