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
from trainables.train import LoraTrainer
from trainables.varlen_attention import use_varlen_attention

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


def _assert_packed_equals_padded(model, examples: list[Example], row_tokens: int, varlen: bool = False) -> int:
    """The packed loss and LoRA gradients against transformers' padded batch (full logits, the model's masked
    attention); `varlen` switches the packed forward to training.attention: varlen. Returns the number of rows."""
    reference = model(**collate(examples, pad_id=0)).loss
    reference.backward()
    expected = _grads(model)
    model.zero_grad(set_to_none=True)
    if varlen:
        use_varlen_attention(model.get_base_model())
    rows = fill_rows(examples, row_tokens=row_tokens)
    batch = pack(rows, pad_id=0)
    loss = packed_loss_sum(model, batch) / batch.n_targets
    loss.backward()
    torch.testing.assert_close(loss, reference, rtol=1e-5, atol=1e-6)
    for name, grad in _grads(model).items():
        torch.testing.assert_close(grad, expected[name], rtol=1e-4, atol=1e-6, msg=name)
    return len(rows)


@pytest.mark.parametrize("arch", ["qwen2", "llama"])
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_loss_and_gradients_equal_the_padded_batch(arch, attn):
    examples = _examples(9, seed=3)
    rows = _assert_packed_equals_padded(_lora_model(arch, attn), examples, row_tokens=64)
    assert rows < len(examples)  # several examples share a row, so a leak across them would show


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


def test_segments_mark_where_each_example_and_each_pad_tail_starts():
    a, b, c = (Example(input_ids=list(range(3, 3 + n)), labels=list(range(3, 3 + n))) for n in (5, 3, 7))
    batch = pack([[a, b], [c]], pad_id=0)  # width 8: row 0 holds a and b, row 1 holds c and one pad
    assert batch.cu_seqlens.tolist() == [0, 5, 8, 15, 16]
    assert batch.cu_seqlens.dtype == torch.int32 and batch.max_segment == 7


@pytest.mark.parametrize("arch", ["qwen2", "llama"])
@pytest.mark.parametrize("row_tokens", [64, 10_000])  # several rows, and one row holding every example
def test_varlen_attention_gives_the_padded_batch_loss_and_gradients(arch, row_tokens):
    """training.attention: varlen, on the CPU its per-example path: the same loss and LoRA gradients as
    transformers' padded batch, with no mask built."""
    _assert_packed_equals_padded(_lora_model(arch, "sdpa"), _examples(9, seed=4), row_tokens, varlen=True)


def test_varlen_attention_refuses_a_forward_without_the_boundaries():
    model = _lora_model("llama", "sdpa")
    use_varlen_attention(model.get_base_model())
    with pytest.raises(ValueError, match="cu_seq_lens_q"):
        model(input_ids=torch.tensor([[5, 6, 7]]))


def test_the_trainer_uses_varlen_attention_for_its_own_forwards_only():
    settings = TrialSettings(rank=4, target_modules="all-linear", batch_size=4, max_seq_len=64, dropout=0.0)
    losses = {}
    for attention in ("auto", "varlen"):
        model = _lora_model("llama", "sdpa")
        trainer = LoraTrainer(
            model, settings.model_copy(update={"attention": attention}), _examples(16, 6), _examples(4, 8), 0,
            torch.device("cpu"), seed=0,
        )  # fmt: skip
        losses[attention] = (trainer.train_epoch(), trainer.evaluate())
        # Generation pads its batches: the model's own masked attention is back after training.
        assert model.get_base_model().config._attn_implementation == "sdpa"
    assert losses["varlen"] == pytest.approx(losses["auto"], rel=1e-4)
