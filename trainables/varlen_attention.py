"""Attention over packed rows without a mask: PyTorch's own variable-length FlashAttention
(`torch.nn.attention.varlen`, in the pinned torch 2.13; no flash-attn package), registered with transformers as an
attention implementation.

Why: on a lent H200 the packed rows' block-diagonal mask sent sdpa to cuDNN attention at about 2 ms of host time
per call, 23% of the host's time in a 0.5B-shaped model's step, and the step was bound by the host (GPU busy 24%;
`benchmarks/results/gpu_profile_qwen2.5-0.5b.txt`). The varlen kernel takes the examples' boundaries as
cumulative lengths, computed once per forward on the CPU from the packing (`PackedBatch.segments`), so no mask is
built and no layer reads the positions back from the device. transformers skips its mask for an implementation
it has no mask function for, so none is registered.

On the CPU each example goes through sdpa on its own, causally: the exact equivalent, which the tests compare
with transformers' masked path. Opt-in (`training.attention: varlen`) until a GPU run measures it
(`python -m benchmarks.bench_gpu --variants bf16,bf16-varlen`).
"""

from __future__ import annotations

import functools
import inspect

import torch
import torch.nn.functional as F
from transformers import AttentionInterface

NAME = "lorapareto_varlen"


def varlen_attention_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    cu_seq_lens_q: torch.Tensor | None = None,
    max_length_q: int | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """transformers' attention signature: query (B, H, T, D), key and value (B, H_kv, T, D) -> (B, T, H, D).

    The B rows are read as one flat sequence of B x T tokens cut at `cu_seq_lens_q` (every row's examples and pad
    tail are segments of their own)."""
    if cu_seq_lens_q is None or max_length_q is None:
        raise ValueError(f"{NAME} attention needs cu_seq_lens_q and max_length_q (packed_loss_sum passes them)")
    if attention_mask is not None or dropout:
        raise ValueError(f"{NAME} attention takes no mask and no attention dropout")
    rows, heads, width, dim = query.shape
    q, k, v = (t.transpose(1, 2).reshape(rows * width, t.shape[1], dim) for t in (query, key, value))  # (N, H, D)
    if q.device.type == "cuda":
        out = _flash_varlen(q, k, v, cu_seq_lens_q, max_length_q, scaling)
    else:
        out = _per_example(q, k, v, cu_seq_lens_q.tolist(), scaling)
    return out.reshape(rows, width, heads, dim), None


def _per_example(q, k, v, bounds: list[int], scale: float | None) -> torch.Tensor:
    parts = []
    for start, end in zip(bounds[:-1], bounds[1:], strict=True):
        qs, ks, vs = (t[start:end].transpose(0, 1) for t in (q, k, v))  # (H, L, D)
        parts.append(F.scaled_dot_product_attention(qs, ks, vs, is_causal=True, scale=scale, enable_gqa=True))
    return torch.cat([p.transpose(0, 1) for p in parts])


def _flash_varlen(q, k, v, cu_seqlens: torch.Tensor, max_len: int, scale: float | None) -> torch.Tensor:
    from torch.nn.attention.varlen import varlen_attn

    params = _varlen_parameters()
    options: dict[str, object] = {"scale": scale}
    if "window_size" in params:  # newer PyTorch (2.13): causal is a window unbounded on the left, zero on the right
        options["window_size"] = (-1, 0)
    else:  # an older signature with is_causal (a lent GPU machine's image has torch 2.11)
        options["is_causal"] = True
    if "enable_gqa" in params:
        options["enable_gqa"] = True
    elif k.shape[1] != q.shape[1]:
        k, v = (t.repeat_interleave(q.shape[1] // t.shape[1], dim=1) for t in (k, v))
    cu = cu_seqlens.to(device=q.device, dtype=torch.int32)
    return varlen_attn(q, k, v, cu, cu, max_len, max_len, **options)


@functools.cache
def _varlen_parameters() -> frozenset[str]:
    from torch.nn.attention.varlen import varlen_attn

    return frozenset(inspect.signature(varlen_attn).parameters)


def use_varlen_attention(causal_lm: torch.nn.Module) -> None:
    """Registers the implementation (once per process) and switches the model to it."""
    AttentionInterface.register(NAME, varlen_attention_forward)
    causal_lm.set_attn_implementation(NAME)
