"""Where the base model comes from (built-in SmolLM2-135M or tiny model, local directory, or the Hugging Face cache)
and how it is loaded for one trial (bf16, 8-bit or 4-bit NF4 through bitsandbytes)."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig, PreTrainedModel

from common.errors import InputError
from trainables.settings import SMOLLM2_135M, TINY_QWEN2, ModelConfig, Quantization
from trainables.smollm2 import build_smollm2
from trainables.tiny_qwen2 import build_tiny_qwen2


def corpus_texts(rows) -> list[str]:
    """The text the tiny model's tokenizer is trained on: every training question and answer."""
    return [f"{r['question']}\n{r['answer']}" for r in rows]


def resolve_base_model(config: ModelConfig, corpus_texts: list[str], cache_dir: Path) -> Path:
    """A local directory holding the base model's weights and tokenizer; nothing is downloaded at trial time."""
    if config.base == TINY_QWEN2:
        return build_tiny_qwen2(config.tiny, corpus_texts, cache_dir)
    if config.base == SMOLLM2_135M:
        return build_smollm2(cache_dir)
    local = Path(config.base).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise InputError("model.base", None, f"directory {str(local)!r} has no config.json")
        return local.resolve()
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError

    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    try:
        return Path(snapshot_download(config.base, local_files_only=offline))
    except HFValidationError:
        raise InputError(
            "model.base",
            None,
            f"{config.base!r} is neither an existing directory nor a valid Hugging Face id",
        ) from None
    except Exception as err:  # hub client raises several unrelated types for "not available"
        where = "the local Hugging Face cache (HF_HUB_OFFLINE=1)" if offline else "the Hugging Face hub"
        raise InputError(
            "model.base",
            None,
            f"{config.base!r} is not a local directory and could not be found in {where}: {type(err).__name__}",
        ) from None


def compute_dtype(device: torch.device) -> torch.dtype:
    # bf16 on GPUs; CPUs train in fp32, where bf16 matmuls are slow and lossy.
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def load_tokenizer(path: Path):
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base_model(path: Path, quantization: Quantization, device: torch.device) -> PreTrainedModel:
    dtype = compute_dtype(device)
    if quantization == "bf16":
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
        return model.to(device)
    if quantization == "int8":
        quant = BitsAndBytesConfig(load_in_8bit=True)
    else:
        quant = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=dtype,
            bnb_4bit_use_double_quant=True,
        )
    device_map = {"": device.index or 0} if device.type == "cuda" else {"": "cpu"}
    return AutoModelForCausalLM.from_pretrained(
        path, dtype=dtype, quantization_config=quant, device_map=device_map
    )
