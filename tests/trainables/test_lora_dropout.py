"""The CPU's LoRA dropout: the same distribution as `nn.Dropout` (rate, scale, gradient), swapped into peft models."""

from __future__ import annotations

import pytest
import torch

from tests.trainables.test_precision import _examples, _model  # the same two-layer Llama and examples
from trainables.lora import apply_lora
from trainables.lora_dropout import SixteenBitDropout, use_sixteen_bit_dropout
from trainables.settings import TrialSettings
from trainables.train import LoraTrainer


@pytest.mark.parametrize("p", [0.05, 0.1, 0.3])
def test_drops_at_the_rate_and_keeps_the_expected_input(p):
    torch.manual_seed(0)
    x = torch.rand(2000, 1000) + 0.5
    out = SixteenBitDropout(p)(x)
    n = x.numel()
    dropped = float((out == 0).float().mean())
    assert abs(dropped - p) < 5 * (p * (1 - p) / n) ** 0.5  # five standard deviations of a binomial share
    kept = out != 0
    assert torch.allclose(out[kept], x[kept] / (1 - p), rtol=1e-4)  # inverted dropout: kept values scaled up
    assert float(out.mean()) == pytest.approx(float(x.mean()), rel=2e-3)


def test_every_slice_of_the_draws_is_uniform():
    """The mask cuts four 16-bit slices from each 64-bit draw: each slice position drops at the same rate."""
    torch.manual_seed(1)
    out = SixteenBitDropout(0.5)(torch.ones(400_000, 4))
    for column in range(4):
        assert float((out[:, column] == 0).float().mean()) == pytest.approx(0.5, abs=0.004)


def test_gradient_flows_through_the_kept_elements_only():
    torch.manual_seed(2)
    x = torch.randn(64, 32, requires_grad=True)
    dropout = SixteenBitDropout(0.2)
    out = dropout(x)
    out.sum().backward()
    assert torch.equal(x.grad, (out != 0).float() * dropout.scale)


def test_is_the_identity_in_eval_mode_and_repeats_under_a_seed():
    x = torch.randn(10, 10)
    dropout = SixteenBitDropout(0.05).eval()
    assert dropout(x) is x
    dropout.train()
    torch.manual_seed(3)
    first = dropout(x)
    torch.manual_seed(3)
    assert torch.equal(first, dropout(x))


@pytest.mark.parametrize("p", [0.0, 1.0, -0.1])
def test_refuses_a_rate_outside_zero_and_one(p):
    with pytest.raises(ValueError, match="dropout p"):
        SixteenBitDropout(p)


def test_the_cpu_trainer_swaps_every_lora_dropout_and_still_learns():
    settings = TrialSettings(rank=4, target_modules="all-linear", batch_size=4, max_seq_len=64, learning_rate=5e-3)
    model = apply_lora(_model(), settings)
    stock = [m for m in model.modules() if type(m) is torch.nn.Dropout]
    assert len(stock) == 2 * 7  # two layers x seven adapted projections, peft's own dropouts
    trainer = LoraTrainer(model, settings, _examples(32), _examples(4), 0, torch.device("cpu"), seed=0)
    swapped = [m for m in model.modules() if isinstance(m, SixteenBitDropout)]
    assert len(swapped) == 14 and not [m for m in model.modules() if type(m) is torch.nn.Dropout]
    assert swapped[0].p == pytest.approx(settings.dropout, abs=1 / 65536)
    first = trainer.train_epoch()
    for _ in range(3):
        last = trainer.train_epoch()
    assert last < first


def test_a_model_without_dropout_is_left_alone():
    model = apply_lora(_model(), TrialSettings(rank=4, target_modules="all-linear", dropout=0.0))
    assert use_sixteen_bit_dropout(model) == 0
    assert not [m for m in model.modules() if isinstance(m, SixteenBitDropout)]
