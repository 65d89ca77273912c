"""Next-token loss without the full logits: the LM head runs on loss-masked positions only, a chunk at a time.

A causal LM's forward materialises logits for every position (batch x length x vocabulary; for Qwen2.5's
151,936-token vocabulary that is 0.6 GB per 1,000 tokens in fp32) and keeps them for the backward, so they set
the peak memory of a LoRA step. Here the decoder's hidden states are gathered at the positions whose target
counts (the assistant's tokens: the prompt's logits are never needed), and each chunk of `chunk_tokens` rows
goes through the head and the cross-entropy under `torch.utils.checkpoint`: its logits are freed as soon as its
loss is summed and recomputed in the backward, so at most one chunk's logits exist at a time. On CUDA, Liger
Kernel's fused linear cross-entropy does the same in Triton where it is installed and the head is a plain
`nn.Linear` (not quantised, not wrapped by LoRA).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from trainables.packing import PackedBatch
from trainables.varlen_attention import NAME as VARLEN

# 1,024 positions x 151,936 vocabulary x 4 bytes = 0.6 GB of logits per chunk at most, and few enough chunks that
# the per-chunk launch overhead stays small next to the head's matmul.
CHUNK_TOKENS = 1024


def _chunk_loss_sum(head: torch.nn.Module, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    # Logits in fp32 before the softmax, as transformers' ForCausalLMLoss does (bf16 logits lose the tail).
    return F.cross_entropy(head(hidden).float(), targets, reduction="sum")


def linear_cross_entropy_sum(
    hidden: torch.Tensor, head: torch.nn.Module, targets: torch.Tensor, chunk_tokens: int = CHUNK_TOKENS
) -> torch.Tensor:
    """Summed cross-entropy of `head(hidden)` against `targets`; hidden (N, d), targets (N,), every target real."""
    if hidden.shape[0] == 0:
        return hidden.sum() * 0.0  # keeps the graph connected for an all-prompt batch
    fused = _liger_loss(hidden, head)
    if fused is not None:
        return fused(head.weight, hidden.to(head.weight.dtype), targets, head.bias)
    if hidden.shape[0] <= chunk_tokens:
        # One chunk: its logits are all there is, bounded by chunk_tokens x vocabulary; recomputing them would
        # only add a second head matmul (4% of a tiny-qwen2 step on the CPU).
        return _chunk_loss_sum(head, hidden, targets)
    total = None
    for start in range(0, hidden.shape[0], chunk_tokens):
        h, t = hidden[start : start + chunk_tokens], targets[start : start + chunk_tokens]
        if torch.is_grad_enabled():
            part = checkpoint(_chunk_loss_sum, head, h, t, use_reentrant=False)
        else:
            part = _chunk_loss_sum(head, h, t)
        total = part if total is None else total + part
    return total


@functools.cache
def _liger_class():
    try:
        from liger_kernel.transformers.fused_linear_cross_entropy import LigerFusedLinearCrossEntropyLoss
    except ImportError:  # liger-kernel is CUDA-only and optional (install it on CUDA machines)
        return None
    return LigerFusedLinearCrossEntropyLoss


def _liger_loss(hidden: torch.Tensor, head: torch.nn.Module):
    if hidden.device.type != "cuda" or type(head) is not torch.nn.Linear or not torch.is_grad_enabled():
        return None
    cls = _liger_class()
    return cls(reduction="sum") if cls is not None else None


def loss_path(head: torch.nn.Module, device: torch.device) -> str:
    """Which loss a training forward on `device` runs with this head: what a benchmark records beside its figures."""
    with torch.enable_grad():
        fused = _liger_loss(torch.empty(1, device=device), head)
    return "liger fused linear cross-entropy" if fused is not None else "chunked (torch)"


def causal_lm_of(model: torch.nn.Module) -> torch.nn.Module:
    """The transformers causal LM inside a peft wrapper (LoRA layers are injected into it in place)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def packed_loss_sum(model: torch.nn.Module, batch: PackedBatch) -> torch.Tensor:
    """Summed next-token loss of a packed batch: decoder, then the head on target positions only."""
    causal_lm = causal_lm_of(model)
    if getattr(causal_lm.config, "final_logit_softcapping", None):
        raise ValueError("models with final logit soft-capping need the full-logits path; not supported here")
    segments = {}
    if getattr(causal_lm.config, "_attn_implementation", None) == VARLEN:
        segments = {
            "cu_seq_lens_q": batch.cu_seqlens,
            "cu_seq_lens_k": batch.cu_seqlens,
            "max_length_q": batch.max_segment,
            "max_length_k": batch.max_segment,
        }
    hidden = causal_lm.get_decoder()(
        input_ids=batch.input_ids, position_ids=batch.position_ids, use_cache=False, **segments
    ).last_hidden_state  # (R, W, d)
    hidden = hidden.flatten(0, 1).index_select(0, batch.target_index)  # (N, d)
    targets = batch.targets.view(-1).index_select(0, batch.target_index)  # (N,)
    return linear_cross_entropy_sum(hidden, causal_lm.get_output_embeddings(), targets)
