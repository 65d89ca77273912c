"""Mixed precision on the CPU: matrix products in bf16 under autocast where the processor computes bf16 natively
(AVX512-BF16 or AMX), with the LoRA weights, optimizer state, softmax and loss kept in fp32.

Measured on this project's 2-core machine (AMD EPYC, avx512_bf16, one thread; smollm2-135m, rank 32 on all linear
layers, 16 examples of up to 288 tokens): an epoch took 16.4 CPU-s against 31.9 in fp32 (1.95x), with epoch loss
2.7685 against 2.7664 and validation loss 1.7876 against 1.7921; `python -m benchmarks.bench_autocast` gave 1.87x at
load 17 (benchmarks/results/cpu_autocast.json). A CPU without native bf16 emulates it slowly, so `auto` keeps fp32
there; on CUDA the weights are already 16-bit (trainables/base_model.py) and no autocast is needed.

Generation is different: a step is a few dozen tokens, so autocast's cast of every frozen fp32 weight on every step
and peft's per-module LoRA branch dominate it. Answers are generated from a merged bf16 copy instead (the LoRA
product added into the weights, then rounded to bf16, as autocast rounds them per product): 8 judge questions x 96
tokens with a random rank-32 all-linear adapter took 5.7 CPU-s against 11.8 under autocast and 12.3 in fp32; the
copy and merge 0.6 s.
"""

from __future__ import annotations

import contextlib
import copy
import functools
from collections.abc import Iterator

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


@contextlib.contextmanager
def generation_model(model: torch.nn.Module, device: torch.device, mode: Autocast) -> Iterator[torch.nn.Module]:
    """The model to generate answers with: a merged bf16 copy where bf16 autocast applies and the weights are plain
    floats (not 8-bit or 4-bit), else `model` itself under `compute_precision`. The trained model is never changed."""
    plain_floats = all(p.dtype.is_floating_point for p in model.parameters())
    if not (uses_bf16_autocast(device, mode) and plain_floats):
        with compute_precision(device, mode):
            yield model
        return
    merged = copy.deepcopy(model)
    if hasattr(merged, "merge_and_unload"):  # a peft model: the adapter's product goes into the weights
        merged = merged.merge_and_unload()
    yield merged.to(torch.bfloat16).eval()
