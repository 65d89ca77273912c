"""CPU mixed precision: which devices and settings get bf16 autocast, and that it changes the arithmetic (bf16
matrix products) but neither the trained weights' dtype nor the losses beyond bf16 rounding."""

from __future__ import annotations

import random

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from trainables.data import IGNORE_INDEX, Example
from trainables.lora import apply_lora
from trainables.precision import compute_precision, cpu_has_native_bf16, uses_bf16_autocast
from trainables.settings import TrialSettings
from trainables.train import LoraTrainer

CPU = torch.device("cpu")


def test_which_devices_and_settings_get_bf16_autocast():
    assert uses_bf16_autocast(CPU, "bf16")
    assert not uses_bf16_autocast(CPU, "off")
    assert uses_bf16_autocast(CPU, "auto") == cpu_has_native_bf16()
    # CUDA weights are 16-bit already: no autocast whatever the setting.
    assert not uses_bf16_autocast(torch.device("cuda"), "bf16")
    with pytest.raises(ValueError):
        TrialSettings(autocast="fp8")


def _model():
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=True,
    )  # fmt: skip
    return LlamaForCausalLM(config)


def _examples(n: int) -> list[Example]:
    rng = random.Random(0)
    out = []
    for _ in range(n):
        ids = [rng.randrange(3, 300) for _ in range(rng.randint(12, 40))]
        out.append(Example(input_ids=ids, labels=[IGNORE_INDEX] * 6 + ids[6:]))
    return out


def _train(mode: str) -> tuple[LoraTrainer, list[torch.dtype]]:
    settings = TrialSettings(rank=4, target_modules="all-linear", batch_size=4, max_seq_len=64, autocast=mode)
    model = apply_lora(_model(), settings)
    seen: list[torch.dtype] = []
    projection = model.get_base_model().model.layers[0].mlp.down_proj.base_layer
    projection.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    trainer = LoraTrainer(model, settings, _examples(16), _examples(4), 0, CPU, seed=0)
    trainer.train_epoch()
    return trainer, seen


def test_bf16_autocast_computes_in_bf16_and_trains_to_the_fp32_losses():
    fp32, fp32_dtypes = _train("off")
    bf16, bf16_dtypes = _train("bf16")
    assert set(fp32_dtypes) == {torch.float32}
    assert set(bf16_dtypes) == {torch.bfloat16}
    trained = [p for p in bf16.model.parameters() if p.requires_grad]
    assert trained and all(p.dtype == torch.float32 for p in trained)
    # bf16 keeps 8 bits of mantissa: the losses differ by rounding, not by what was learned.
    assert bf16.progress.last_train_loss == pytest.approx(fp32.progress.last_train_loss, rel=0.02)
    assert bf16.evaluate() == pytest.approx(fp32.evaluate(), rel=0.02)
    assert bf16.progress.last_train_loss != fp32.progress.last_train_loss


def test_off_is_plain_fp32():
    with compute_precision(CPU, "off"):
        out = torch.nn.Linear(4, 4)(torch.ones(1, 4))
    assert out.dtype == torch.float32


def test_answers_come_from_a_merged_bf16_copy_and_the_trained_model_is_untouched():
    from trainables.precision import generation_model

    settings = TrialSettings(rank=4, target_modules="all-linear")
    model = apply_lora(_model(), settings)
    for name, p in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.02)
    model.eval()  # no LoRA dropout in the reference logits
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    prompt = torch.tensor([[5, 6, 7, 8]])
    with generation_model(model, CPU, "bf16") as merged:
        assert merged is not model
        assert {p.dtype for p in merged.parameters()} == {torch.bfloat16}
        assert not any("lora" in n for n, _ in merged.named_parameters())
        # The merged copy computes what the adapter does: its logits match the fp32 adapter's to bf16 rounding.
        with torch.no_grad():
            expected = model(prompt).logits
            got = merged(prompt).logits.float()
        assert torch.allclose(got, expected, atol=0.05 * expected.abs().max().item())
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    with generation_model(model, CPU, "off") as plain:
        assert plain is model
