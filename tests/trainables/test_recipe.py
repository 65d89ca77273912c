"""The trial recipe without Ray: tiny model builder, assistant-only labels, training, checkpoints, 4-bit."""

from __future__ import annotations

import math

import pytest
import torch
from peft import PeftModel
from safetensors.torch import load_file

from trainables.base_model import load_base_model, load_tokenizer
from trainables.data import IGNORE_INDEX, encode_pair, encode_rows
from trainables.generate import generate_answers
from trainables.lora import apply_lora, check_target_modules, load_adapter, trainable_parameters
from trainables.settings import TinyModelConfig, TrialSettings
from trainables.tiny_qwen2 import build_tiny_qwen2
from trainables.train import LoraTrainer

CPU = torch.device("cpu")
TERMS = ["eSIM", "APN", "roaming", "VoLTE", "SIM swap", "number porting"]
CAUSES = ["the plan expired", "coverage is weak", "the settings are wrong", "the SIM is locked"]
ROWS = [
    {
        "question": f"Why does my {t} fail when {c}?",
        "answer": f"Your {t} fails because {c}. Check the {t} settings.",
    }
    for t in TERMS
    for c in CAUSES
] * 4


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    texts = [r["question"] + "\n" + r["answer"] for r in ROWS]
    return build_tiny_qwen2(TinyModelConfig(), texts, tmp_path_factory.mktemp("cache"))


def _trainer(path, settings, seed=0):
    tokenizer = load_tokenizer(path)
    model = apply_lora(load_base_model(path, settings.quantization, CPU), settings)
    examples = encode_rows(tokenizer, "sys", ROWS, settings.max_seq_len)
    return LoraTrainer(model, settings, examples, examples[:24], tokenizer.pad_token_id, CPU, seed), tokenizer


def test_tiny_model_is_deterministic_cached_and_reloadable(tmp_path, tiny_path):
    texts = [r["question"] + "\n" + r["answer"] for r in ROWS]
    again = build_tiny_qwen2(TinyModelConfig(), texts, tmp_path)
    assert again != tiny_path and again.name == tiny_path.name  # same inputs, same hash
    a, b = load_file(tiny_path / "model.safetensors"), load_file(again / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert build_tiny_qwen2(TinyModelConfig(), texts, tmp_path) == again  # cached: no rebuild
    other = build_tiny_qwen2(TinyModelConfig(seed=1), texts, tmp_path)
    assert other != again
    model = load_base_model(tiny_path, "bf16", CPU)
    assert model.config.model_type == "qwen2"
    tokenizer = load_tokenizer(tiny_path)
    assert tokenizer.decode(tokenizer("eSIM roaming")["input_ids"]) == "eSIM roaming"
    assert "<|im_start|>assistant" in tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False
    )


def test_loss_counts_assistant_tokens_only(tiny_path):
    tokenizer = load_tokenizer(tiny_path)
    example = encode_pair(tokenizer, "sys", "Why no signal?", "Restart the phone.", 128)
    answer_ids = tokenizer("Restart the phone.")["input_ids"]
    supervised = [t for t in example.labels if t != IGNORE_INDEX]
    assert supervised[: len(answer_ids)] == answer_ids
    assert len(supervised) == len(answer_ids) + 2  # the reply, <|im_end|> and the newline after it
    assert example.labels[0] == IGNORE_INDEX


def test_loss_falls_and_adapter_reloads_with_same_logits(tmp_path, tiny_path):
    settings = TrialSettings(rank=8, target_modules="all-linear", learning_rate=3e-3, epochs=2, batch_size=16)
    trainer, tokenizer = _trainer(tiny_path, settings)
    before = trainer.evaluate()
    trainer.train_epoch()
    trainer.train_epoch()
    after = trainer.evaluate()
    assert after < before - 0.5
    trainer.save(tmp_path / "ckpt")
    assert (tmp_path / "ckpt" / "adapter" / "adapter_config.json").is_file()
    assert (tmp_path / "ckpt" / "adapter" / "adapter_model.safetensors").is_file()
    reloaded = PeftModel.from_pretrained(
        load_base_model(tiny_path, "bf16", CPU), tmp_path / "ckpt" / "adapter"
    )
    batch = torch.tensor([tokenizer("Why does my eSIM fail")["input_ids"]])
    trainer.model.eval()
    reloaded.eval()
    with torch.no_grad():
        assert torch.allclose(trainer.model(batch).logits, reloaded(batch).logits, atol=1e-5)
    answers = generate_answers(
        reloaded, tokenizer, "sys", ["Why does my eSIM fail when the plan expired?"], 16, 4, CPU, 64
    )
    assert len(answers) == 1 and isinstance(answers[0], str)


def test_restored_trainer_resumes_at_the_right_epoch(tmp_path, tiny_path):
    settings = TrialSettings(rank=4, learning_rate=2e-3, epochs=3)
    trainer, _ = _trainer(tiny_path, settings)
    trainer.train_epoch()
    trainer.save(tmp_path / "ckpt")
    step_after_one = trainer.progress.step
    restored_model = load_adapter(
        load_base_model(tiny_path, "bf16", CPU), tmp_path / "ckpt" / "adapter", settings
    )
    tokenizer = load_tokenizer(tiny_path)
    examples = encode_rows(tokenizer, "sys", ROWS, settings.max_seq_len)
    restored = LoraTrainer(restored_model, settings, examples, examples[:24], tokenizer.pad_token_id, CPU, 0)
    restored.restore(tmp_path / "ckpt")
    assert restored.progress.epoch == 1 and restored.progress.step == step_after_one
    assert restored.scheduler.last_epoch == trainer.scheduler.last_epoch
    assert trainable_parameters(restored_model) == trainable_parameters(trainer.model)
    restored.train_epoch()
    assert restored.progress.epoch == 2


def test_four_bit_trains_on_cpu_with_evaluation_between_epochs(tiny_path):
    settings = TrialSettings(rank=8, quantization="nf4", learning_rate=3e-3, epochs=2)
    trainer, _ = _trainer(tiny_path, settings)
    first = trainer.train_epoch()
    trainer.evaluate()  # the repacking trap: a no_grad forward here would break the next step
    second = trainer.train_epoch()
    assert second < first
    assert "Linear4bit" in {type(m).__name__ for m in trainer.model.modules()}


def test_unknown_target_module_is_refused(tiny_path):
    from common.errors import InputError

    check_target_modules(tiny_path, {"q_proj", "down_proj"}, "training.target_modules")
    with pytest.raises(InputError, match="c_attn"):
        check_target_modules(tiny_path, {"q_proj", "c_attn"}, "training.target_modules")


# Pre-training: every term and every cause is seen, some (term, cause) pairs only in held-out text. A small vocabulary,
# because BPE on so few texts would otherwise merge whole sentences into tokens that held-out text never uses.
HELD_OUT = {(t, c) for i, t in enumerate(TERMS) for j, c in enumerate(CAUSES) if (i + j) % 4 == 0}
PAIR_TEXT = "Why does my {0} fail when {1}?\nYour {0} fails because {1}."
PRETRAIN_TEXTS = [PAIR_TEXT.format(t, c) for t in TERMS for c in CAUSES if (t, c) not in HELD_OUT]
HELD_OUT_TEXTS = [PAIR_TEXT.format(t, c) for t, c in sorted(HELD_OUT)]
PRETRAIN = {"vocab_size": 300, "pretrain_steps": 40, "pretrain_batch_size": 8, "pretrain_seq_len": 32}
PRETRAINED = TinyModelConfig(**PRETRAIN)


def _lm_loss(path, texts) -> float:
    tokenizer = load_tokenizer(path)
    model = load_base_model(path, "bf16", CPU).eval()
    with torch.no_grad():
        encoded = [torch.tensor([tokenizer(t)["input_ids"]]) for t in texts]
        losses = [model(input_ids=ids, labels=ids).loss for ids in encoded]
    return float(torch.stack(losses).mean())


def test_pretraining_lowers_the_loss_on_held_out_text(tmp_path):
    random_path = build_tiny_qwen2(TinyModelConfig(vocab_size=300), PRETRAIN_TEXTS, tmp_path)
    pretrained_path = build_tiny_qwen2(PRETRAINED, PRETRAIN_TEXTS, tmp_path)
    assert pretrained_path != random_path  # cached apart
    random_loss, pretrained_loss = _lm_loss(random_path, HELD_OUT_TEXTS), _lm_loss(pretrained_path, HELD_OUT_TEXTS)
    assert pretrained_loss < random_loss - 1.0, (random_loss, pretrained_loss)


def test_pretraining_is_deterministic_cached_and_leaves_the_global_generator_alone(tmp_path, monkeypatch):
    import trainables.tiny_qwen2 as tiny_qwen2

    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    first = build_tiny_qwen2(PRETRAINED, PRETRAIN_TEXTS, tmp_path / "a")
    assert torch.equal(torch.random.get_rng_state(), state)
    second = build_tiny_qwen2(PRETRAINED, PRETRAIN_TEXTS, tmp_path / "b")
    a, b = load_file(first / "model.safetensors"), load_file(second / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    other_seed = build_tiny_qwen2(TinyModelConfig(**PRETRAIN, seed=1), PRETRAIN_TEXTS, tmp_path / "c")
    c = load_file(other_seed / "model.safetensors")
    assert not torch.equal(a["model.embed_tokens.weight"], c["model.embed_tokens.weight"])

    def must_not_run(*args, **kwargs):
        raise AssertionError("a cached model was pre-trained again")

    monkeypatch.setattr(tiny_qwen2, "_pretrain", must_not_run)
    assert build_tiny_qwen2(PRETRAINED, PRETRAIN_TEXTS, tmp_path / "a") == first  # cache hit
    with pytest.raises(AssertionError, match="pre-trained again"):  # the patch is live: a new config would run it
        build_tiny_qwen2(TinyModelConfig(**{**PRETRAIN, "pretrain_steps": 41}), PRETRAIN_TEXTS, tmp_path / "a")


def test_no_pretraining_builds_the_seeded_random_model_and_ignores_idle_settings(tmp_path, tiny_path):
    from transformers import AutoConfig, Qwen2ForCausalLM

    from trainables.tiny_qwen2 import PRETRAIN_FIELDS, model_hash

    texts = [r["question"] + "\n" + r["answer"] for r in ROWS]
    # Pre-training settings that are never used neither rename the cache nor change the weights.
    idle = TinyModelConfig(pretrain_batch_size=4, pretrain_learning_rate=0.1)
    assert model_hash(idle, texts) == model_hash(TinyModelConfig(), texts)
    assert set(PRETRAIN_FIELDS) <= set(TinyModelConfig.model_fields)
    with torch.random.fork_rng():
        torch.manual_seed(TinyModelConfig().seed)
        fresh = Qwen2ForCausalLM(AutoConfig.from_pretrained(tiny_path)).state_dict()
    saved = load_file(tiny_path / "model.safetensors")
    assert saved.keys() <= fresh.keys() and all(torch.equal(saved[k], fresh[k]) for k in saved)
    assert build_tiny_qwen2(idle, texts, tmp_path).name == tiny_path.name


def test_pairwise_option_compares_the_final_answers_with_the_baseline(tmp_path, tiny_path):
    from judging.settings import JudgingConfig
    from trainables.contract import TrialContext
    from trainables.recipe import judge_final
    from trainables.settings import EnergyConfig, ModelConfig

    rows = [{"id": str(i), **row} for i, row in enumerate(ROWS[:3])]
    settings = TrialSettings(max_new_tokens=8, eval_batch_size=3)
    context = TrialContext(
        base_model_path=str(tiny_path), splits={"judge": rows}, model=ModelConfig(), defaults=settings,
        energy=EnergyConfig(), judging=JudgingConfig(pairwise=True), tracking_uri="", experiment_name="t",
        parent_run_id=None, cache_dir=str(tmp_path), baseline_answers=tuple(r["answer"] for r in rows),
    )  # fmt: skip
    model = load_base_model(tiny_path, "bf16", CPU)
    tokenizer = load_tokenizer(tiny_path)
    judged, metrics = judge_final(model, tokenizer, settings, context, rows, CPU)
    assert metrics["judge_score"] == judged.judge_score
    # The random-weight model's answers against the reference answers: every order-consistent verdict is a loss.
    assert metrics["judge_pairwise_consistency"] > 0 and metrics["judge_pairwise_win_rate"] < 0.5
    without = TrialContext(**{**context.__dict__, "baseline_answers": ()})
    _, metrics = judge_final(model, tokenizer, settings, without, rows, CPU)
    assert math.isnan(metrics["judge_pairwise_win_rate"]) and "judge_score" in metrics
