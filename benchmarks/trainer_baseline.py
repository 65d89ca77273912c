"""The `transformers.Trainer` arguments every benchmark compares our loop against: one epoch at the trial's batch
size, learning rate and schedule, gradient clipping at 1.0 as ours, nothing saved or logged unless asked."""

from __future__ import annotations

from typing import Any

from transformers import TrainingArguments


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
    }
    return TrainingArguments(**{**options, **overrides})
