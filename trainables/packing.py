"""Padding-free batches: examples concatenated into rows, each keeping its own positions and its own attention.

A packed row holds several examples back to back; `position_ids` restart at 0 for each, and no attention mask
is passed. transformers (5.23, `masking_utils.find_packed_sequence_indices`) reads the restarts as sequence
boundaries and builds a block-diagonal causal mask for sdpa and eager attention, so a token never attends across
an example; with `flash_attention_2` the same restarts become the cu_seqlens of FlashAttention's variable-length
kernel (`modeling_flash_attention_utils._is_packed_sequence`, one row per batch). The next-token targets are
shifted inside each example before packing, so the last token of one example never predicts the first of the
next, and the loss mask (assistant tokens only) is the examples' own.

    row 0: [ex3 ex3 ex3 ex3 ex3 | ex1 ex1 ex1 | pad pad]   positions 0 1 2 3 4 | 0 1 2 | 0 1
    row 1: [ex2 ex2 ex2 ex2 ex2 ex2 ex2 | ex4 ex4 ex4 ]     positions 0 .. 6    | 0 1 2
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from trainables.data import IGNORE_INDEX, Example


@dataclass(frozen=True)
class PackedBatch:
    """One forward's worth of packed rows. `target_index` points into the flattened (rows x width) positions whose
    target is a real token, so the loss gathers them without a device-to-host sync."""

    input_ids: torch.Tensor  # (R, W)
    position_ids: torch.Tensor  # (R, W)
    targets: torch.Tensor  # (R, W), next token of the same example or IGNORE_INDEX
    target_index: torch.Tensor  # (N,) flat indices of the positions that count in the loss
    n_targets: int  # N: tokens the loss is averaged over
    n_tokens: int  # real (non-pad) tokens, for throughput
    # Where each segment (an example, or a row's pad tail) starts in the flattened rows, then the total: the
    # boundaries variable-length attention takes (trainables/varlen_attention.py), computed here on the CPU.
    cu_seqlens: torch.Tensor  # (S + 1,) int32
    max_segment: int  # the longest segment

    def to(self, device: torch.device) -> PackedBatch:
        """On CUDA the copies are pinned and non-blocking, so the host can queue the next step meanwhile."""
        if device.type == "cuda":
            move = lambda t: t.pin_memory().to(device, non_blocking=True)  # noqa: E731
        else:
            move = lambda t: t.to(device)  # noqa: E731
        return PackedBatch(
            move(self.input_ids),
            move(self.position_ids),
            move(self.targets),
            move(self.target_index),
            self.n_targets,
            self.n_tokens,
            move(self.cu_seqlens),
            self.max_segment,
        )


def shifted_targets(example: Example) -> list[int]:
    """Target at position t is the label at t + 1 of the same example; the last position predicts nothing."""
    return example.labels[1:] + [IGNORE_INDEX]


def fill_rows(examples: Sequence[Example], row_tokens: int) -> list[list[Example]]:
    """First-fit decreasing bin packing of whole examples into rows of `row_tokens` (widened to the longest
    example, so nothing is cut). Deterministic for a given input order."""
    width = max(row_tokens, max(len(e.input_ids) for e in examples))
    rows: list[list[Example]] = []
    free: list[int] = []
    for example in sorted(examples, key=lambda e: len(e.input_ids), reverse=True):
        n = len(example.input_ids)
        slot = next((i for i, room in enumerate(free) if room >= n), None)
        if slot is None:
            rows.append([example])
            free.append(width - n)
        else:
            rows[slot].append(example)
            free[slot] -= n
    return rows


def pack(rows: Sequence[Sequence[Example]], pad_id: int) -> PackedBatch:
    """Rows of examples -> tensors; each row is padded to the fullest row with a pad segment of its own."""
    width = max(sum(len(e.input_ids) for e in row) for row in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    position_ids = torch.zeros((len(rows), width), dtype=torch.long)
    targets = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    n_tokens = 0
    for r, row in enumerate(rows):
        at = 0
        for example in row:
            n = len(example.input_ids)
            input_ids[r, at : at + n] = torch.tensor(example.input_ids)
            position_ids[r, at : at + n] = torch.arange(n)
            targets[r, at : at + n] = torch.tensor(shifted_targets(example))
            at += n
        n_tokens += at
        # The pad tail restarts at 0 too: a segment of its own that attends only to itself and counts in no loss.
        position_ids[r, at:] = torch.arange(width - at)
    target_index = (targets.view(-1) != IGNORE_INDEX).nonzero().view(-1)
    starts = (position_ids.view(-1) == 0).nonzero().view(-1)
    cu_seqlens = torch.cat([starts, torch.tensor([position_ids.numel()])]).to(torch.int32)
    max_segment = int((cu_seqlens[1:] - cu_seqlens[:-1]).max())
    return PackedBatch(
        input_ids, position_ids, targets, target_index, int(target_index.numel()), n_tokens, cu_seqlens, max_segment
    )


def micro_batches(
    examples: Sequence[Example], row_tokens: int, micro_batch_tokens: int
) -> list[list[list[Example]]]:
    """The examples of one optimizer step, packed into rows and the rows split into forwards of at most
    `micro_batch_tokens` (at least one row each)."""
    rows = fill_rows(examples, row_tokens)
    width = max(row_tokens, max(len(e.input_ids) for e in examples))
    per_forward = max(1, micro_batch_tokens // width)
    return [rows[i : i + per_forward] for i in range(0, len(rows), per_forward)]
