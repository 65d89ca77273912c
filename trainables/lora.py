"""Turn one trial's hyperparameters into a peft LoRA (or DoRA, rsLoRA, QLoRA) model."""

from __future__ import annotations

from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model, prepare_model_for_kbit_training
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedModel

from common.errors import InputError
from trainables.settings import TrialSettings


def lora_config(settings: TrialSettings) -> LoraConfig:
    return LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.module_names),
        use_rslora=settings.use_rslora,
        use_dora=settings.use_dora,
        bias="none",
        task_type="CAUSAL_LM",
    )


def linear_module_names(model_path: Path) -> set[str]:
    """Leaf names of the model's linear layers, read from its config on the meta device (no weights loaded)."""
    config = AutoConfig.from_pretrained(model_path)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return {
        name.rsplit(".", 1)[-1] for name, mod in model.named_modules() if isinstance(mod, torch.nn.Linear)
    }


def check_target_modules(model_path: Path, module_names: set[str], field: str) -> None:
    available = linear_module_names(model_path)
    missing = sorted(set(module_names) - available)
    if missing:
        raise InputError(
            field,
            None,
            f"target module(s) {missing} not in the base model; it has {sorted(available - {'lm_head'})}",
        )


def apply_lora(model: PreTrainedModel, settings: TrialSettings) -> PeftModel:
    if settings.quantization != "bf16":
        # Casts norms to fp32 and enables input grads; gradient checkpointing stays off (small models, speed).
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return get_peft_model(model, lora_config(settings))


def load_adapter(model: PreTrainedModel, adapter_dir: Path, settings: TrialSettings) -> PeftModel:
    if settings.quantization != "bf16":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return PeftModel.from_pretrained(model, adapter_dir, is_trainable=True)


def trainable_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
