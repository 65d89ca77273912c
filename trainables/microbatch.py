"""How many tokens one forward pass takes: the largest that fits on a CUDA device, a fixed budget on the CPU.

The optimizer step's `batch_size` is a hyperparameter the search varies (it changes what is learned); the forward
pass's size is a property of the model and the device (it changes only speed and energy). Packed rows make the
two independent: a step's examples run in as many forwards of `micro_batch_tokens` as they need. On a GPU the
largest size that fits is found once by trying forward + backward passes of growing size, and cached per model,
GPU and LoRA shape, so later trials of the same search (and later searches) skip the probe.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import torch

from common.atomic import write_json
from trainables.settings import TrialSettings

# 2 CPU cores, tiny-qwen2, rows of 128 tokens: forwards of 4,096 tokens keep the step's few matmuls large enough
# that per-op overhead is amortised, and one step of the default batch (8 x ~150 tokens) is a single forward.
CPU_MICRO_BATCH_TOKENS = 4096
PROBE_START_TOKENS = 1024
PROBE_MAX_TOKENS = 262_144
# Kept free below the largest size that ran: allocator fragmentation over an epoch of varying row counts.
PROBE_HEADROOM = 0.8
log = logging.getLogger(__name__)


def cache_file() -> Path:
    root = os.environ.get("LORAPARETO_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "lorapareto"
    )
    return Path(root) / "micro_batch_tokens.json"


def largest_fitting(fits: Callable[[int], bool], start: int, limit: int) -> int:
    """Largest size in start * 2**k (<= limit) for which `fits` holds, doubling until it fails; 0 if none fits."""
    best, size = 0, start
    while size <= limit and fits(size):
        best, size = size, size * 2
    return best


def probe_key(model: torch.nn.Module, settings: TrialSettings, device: torch.device) -> str:
    config = getattr(model, "config", None)
    shape = json.dumps(config.to_dict() if config is not None else {}, sort_keys=True, default=str)
    props = torch.cuda.get_device_properties(device)
    parts = [
        hashlib.sha256(shape.encode()).hexdigest()[:16],
        props.name,
        str(props.total_memory),
        settings.quantization,
        f"r{settings.rank}",
        ",".join(settings.module_names),
        f"gc{int(settings.gradient_checkpointing)}",
        f"row{settings.max_seq_len}",
    ]
    return "|".join(parts)


def _fits_on_cuda(model: torch.nn.Module, settings: TrialSettings, device: torch.device) -> Callable[[int], bool]:
    from trainables.chunked_loss import packed_loss_sum
    from trainables.data import Example
    from trainables.packing import micro_batches, pack

    vocab = model.config.vocab_size
    generator = torch.Generator().manual_seed(0)  # the trial's own random stream stays untouched

    def fits(tokens: int) -> bool:
        width = settings.max_seq_len
        ids = torch.randint(3, vocab, (max(1, tokens // width), width), generator=generator).tolist()
        examples = [Example(input_ids=row, labels=row) for row in ids]
        (rows,) = micro_batches(examples, width, tokens)[:1]
        try:
            loss = packed_loss_sum(model, pack(rows, 0).to(device))
            loss.backward()
            torch.cuda.synchronize(device)
            return True
        except torch.OutOfMemoryError:
            return False
        finally:
            model.zero_grad(set_to_none=True)
            torch.cuda.empty_cache()

    return fits


def micro_batch_tokens(model: torch.nn.Module, settings: TrialSettings, device: torch.device) -> int:
    """Tokens per forward: the configured value, else the CPU budget, else the cached or probed CUDA size."""
    if settings.micro_batch_tokens:
        return settings.micro_batch_tokens
    if device.type != "cuda":
        return CPU_MICRO_BATCH_TOKENS
    key = probe_key(model, settings, device)
    path = cache_file()
    cached = json.loads(path.read_text()) if path.is_file() else {}
    if key not in cached:
        was_training = model.training
        model.train()
        found = largest_fitting(_fits_on_cuda(model, settings, device), PROBE_START_TOKENS, PROBE_MAX_TOKENS)
        model.train(was_training)
        if found == 0:
            raise RuntimeError(f"not even {PROBE_START_TOKENS} tokens fit in one forward on {device}")
        cached[key] = max(settings.max_seq_len, int(found * PROBE_HEADROOM))
        log.info("micro-batch probe: %d tokens fit on %s; using %d", found, device, cached[key])
        write_json(path, cached)
    return cached[key]
