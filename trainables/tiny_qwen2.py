"""The built-in `tiny-qwen2` base model: a Qwen2-architecture model from a small config plus a byte-level BPE
tokenizer trained on the corpus, so the whole pipeline runs and is tested with nothing downloaded.

Optionally pre-trained (`pretrain_steps`) as a plain causal LM on the same texts, so LoRA adapts a model that already
models the corpus's language, as it would a real base model. Deterministic for a seed and cached on disk under a hash
of every input, so each trial loads the same weights.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM, get_cosine_schedule_with_warmup

from common.atomic import staged_path
from trainables.settings import TinyModelConfig

BUILDER_VERSION = "1"
EOS = "<|im_end|>"
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", EOS]
# ChatML, as Qwen2 uses: the prompt (add_generation_prompt=True) is a prefix of the full conversation,
# which is what lets the trainer mask everything but the assistant's reply.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


PRETRAIN_FIELDS = ("pretrain_steps", "pretrain_batch_size", "pretrain_seq_len", "pretrain_learning_rate")


def model_hash(config: TinyModelConfig, texts: list[str]) -> str:
    settings = config.model_dump()
    if not config.pretrain_steps:
        # Without pre-training its settings change nothing, so the hash (and every existing cache) stays as it was.
        settings = {k: v for k, v in settings.items() if k not in PRETRAIN_FIELDS}
    digest = hashlib.sha256()
    digest.update(json.dumps({"v": BUILDER_VERSION, "config": settings}, sort_keys=True).encode())
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def model_dir(config: TinyModelConfig, texts: list[str], cache_dir: Path) -> Path:
    """Where the model for these inputs is cached (built there by `build_tiny_qwen2`)."""
    return Path(cache_dir) / "models" / f"tiny-qwen2-{model_hash(config, sorted(set(texts)))}"


def _train_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token=EOS, pad_token="<|endoftext|>", model_max_length=100_000
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def _pretrain(
    model: Qwen2ForCausalLM, tokenizer: PreTrainedTokenizerFast, texts: list[str], config: TinyModelConfig
) -> None:
    """Train every weight on random windows of the texts, joined by EOS into one stream, as a causal LM.

    No chat template: learning the conversation format is left to the LoRA trials. Windows are drawn from the
    global generator, which the caller has seeded.
    """
    stream = torch.tensor([t for text in texts for t in [*tokenizer(text)["input_ids"], tokenizer.eos_token_id]])
    seq_len = min(config.pretrain_seq_len, len(stream))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.pretrain_learning_rate)
    scheduler = get_cosine_schedule_with_warmup(optimizer, config.pretrain_steps // 10, config.pretrain_steps)
    model.train()
    for _ in range(config.pretrain_steps):
        starts = torch.randint(0, len(stream) - seq_len + 1, (config.pretrain_batch_size,))
        batch = torch.stack([stream[s : s + seq_len] for s in starts])  # (B, T)
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
    model.eval()


def build_tiny_qwen2(config: TinyModelConfig, texts: list[str], cache_dir: Path) -> Path:
    """Return the directory of the tiny model for these inputs, building it once."""
    texts = sorted(set(texts))
    if not texts:
        raise ValueError("tiny-qwen2 needs corpus text to train its tokenizer, got none")
    target = model_dir(config, texts, cache_dir)
    if (target / "config.json").is_file():
        return target
    tokenizer = _train_tokenizer(texts, config.vocab_size)
    qwen_config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        num_key_value_heads=config.num_key_value_heads,
        max_position_embeddings=config.max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(config.seed)
    try:
        model = Qwen2ForCausalLM(qwen_config)
        if config.pretrain_steps:
            _pretrain(model, tokenizer, texts, config)
    finally:
        torch.random.set_rng_state(generator_state)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    with staged_path(target) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return target
