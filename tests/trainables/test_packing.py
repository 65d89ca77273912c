"""Packed rows give the padded batch's loss and gradients: no attention crosses an example, targets stay inside."""

from __future__ import annotations

import random

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

from trainables.chunked_loss import packed_loss_sum
from trainables.data import IGNORE_INDEX, Example, collate
from trainables.lora import apply_lora
from trainables.packing import fill_rows, micro_batches, pack
from trainables.settings import TrialSettings

SMALL = dict(
    vocab_size=300,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=256,
)


def _examples(n: int, seed: int) -> list[Example]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        length = rng.randint(5, 40)
        ids = [rng.randrange(3, SMALL["vocab_size"]) for _ in range(length)]
        prompt = rng.randint(1, length - 1)
        out.append(Example(input_ids=ids, labels=[IGNORE_INDEX] * prompt + ids[prompt:]))
    return out


def _lora_model(arch: str, attn: str):
    torch.manual_seed(0)
    if arch == "qwen2":
        base = Qwen2ForCausalLM(Qwen2Config(**SMALL, tie_word_embeddings=True))
    else:  # the architecture of SmolLM2
        base = LlamaForCausalLM(LlamaConfig(**SMALL, tie_word_embeddings=True))
    base.set_attn_implementation(attn)
    model = apply_lora(base, TrialSettings(rank=4, target_modules="all-linear", dropout=0.0))
    torch.manual_seed(1)
    for name, p in model.named_parameters():
        if "lora_B" in name:  # B starts at zero, which would make every LoRA A gradient zero
            torch.nn.init.normal_(p, std=0.02)
    return model.float()


def _grads(model) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("arch", ["qwen2", "llama"])
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_loss_and_gradients_equal_the_padded_batch(arch, attn):
    model = _lora_model(arch, attn)
    examples = _examples(9, seed=3)
    reference = model(**collate(examples, pad_id=0)).loss  # transformers' padded path, full logits
    reference.backward()
    expected = _grads(model)
    model.zero_grad(set_to_none=True)

    rows = fill_rows(examples, row_tokens=64)
    assert len(rows) < len(examples)  # several examples share a row, so a leak across them would show
    batch = pack(rows, pad_id=0)
    loss = packed_loss_sum(model, batch) / batch.n_targets
    loss.backward()
    torch.testing.assert_close(loss, reference, rtol=1e-5, atol=1e-6)
    for name, grad in _grads(model).items():
        torch.testing.assert_close(grad, expected[name], rtol=1e-4, atol=1e-6, msg=name)


def test_attention_crossing_an_example_would_change_the_loss():
    """The check above can fail: the same rows with one position sequence (no restarts) give another loss."""
    model = _lora_model("qwen2", "sdpa")
    examples = _examples(6, seed=5)
    batch = pack(fill_rows(examples, row_tokens=64), pad_id=0)
    with torch.no_grad():
        packed = packed_loss_sum(model, batch)
        leaky = torch.arange(batch.input_ids.shape[1]).expand_as(batch.position_ids)
        crossed = packed_loss_sum(model, type(batch)(**{**batch.__dict__, "position_ids": leaky}))
    assert abs(float(packed - crossed)) > 1e-3


def test_rows_keep_every_token_and_target_once_and_never_exceed_the_width():
    examples = _examples(40, seed=7)
    rows = fill_rows(examples, row_tokens=64)
    assert sorted(map(id, (e for row in rows for e in row))) == sorted(map(id, examples))
    assert all(sum(len(e.input_ids) for e in row) <= 64 for row in rows)
    batch = pack(rows, pad_id=0)
    assert batch.n_tokens == sum(len(e.input_ids) for e in examples)
    assert batch.n_targets == sum(sum(t != IGNORE_INDEX for t in e.labels[1:]) for e in examples)
    # Each example's positions restart at 0 where it begins.
    assert int((batch.position_ids == 0).sum()) >= len(examples)
    # Padding-free: the rows are nearly full (first-fit decreasing), far from a padded batch's width x count.
    assert batch.input_ids.numel() < 1.15 * batch.n_tokens


def test_a_longer_example_widens_the_row_instead_of_being_cut():
    long = Example(input_ids=list(range(3, 103)), labels=[IGNORE_INDEX] * 10 + list(range(13, 103)))
    rows = fill_rows([long, *_examples(3, seed=1)], row_tokens=64)
    assert any(long in row for row in rows)
    assert pack(rows, pad_id=0).n_tokens == 100 + sum(len(e.input_ids) for e in _examples(3, seed=1))


def test_micro_batches_split_rows_by_token_budget():
    examples = _examples(40, seed=2)
    forwards = micro_batches(examples, row_tokens=64, micro_batch_tokens=128)
    assert all(len(rows) <= 2 for rows in forwards)
    assert sum(len(row) for rows in forwards for row in rows) == 40
    assert len(micro_batches(examples, row_tokens=64, micro_batch_tokens=1)[0]) == 1  # at least one row
