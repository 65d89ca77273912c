"""Mixed precision on the CPU: matrix products in bf16 under autocast where the processor computes bf16 natively
(AVX512-BF16 or AMX), with the LoRA weights, optimizer state, softmax and loss kept in fp32.

Measured on this project's 2-core machine (AMD EPYC, avx512_bf16, one thread; smollm2-135m, rank 32 on all linear
layers, 16 examples of up to 288 tokens, `/tmp` probe recorded in benchmarks/results/cpu_autocast.json): an epoch
took 16.4 CPU-s against 31.9 in fp32 (1.95x), with epoch loss 2.7685 against 2.7664 and validation loss 1.7876
against 1.7921. A CPU without native bf16 emulates it slowly, so `auto` keeps fp32 there; on CUDA the weights are
already 16-bit (trainables/base_model.py) and no autocast is needed.
"""

from __future__ import annotations

import contextlib
import functools

import torch

from trainables.settings import Autocast


@functools.cache
def cpu_has_native_bf16() -> bool:
    """oneDNN's own test for bf16 instructions (AVX512-BF16, AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def uses_bf16_autocast(device: torch.device, mode: Autocast) -> bool:
    if device.type != "cpu" or mode == "off":
        return False
    return mode == "bf16" or cpu_has_native_bf16()


def compute_precision(device: torch.device, mode: Autocast) -> contextlib.AbstractContextManager:
    """The context every forward of a trial runs in: training, validation and generation alike, so the base model's
    answers and the tuned ones are computed the same way."""
    if uses_bf16_autocast(device, mode):
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()
