"""Corpus rows -> chat-formatted token sequences whose loss counts the assistant's reply only."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

IGNORE_INDEX = -100


def chat_messages(system_prompt: str, question: str, answer: str | None = None) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system_prompt}, {"role": "user", "content": question}]
    if answer is not None:
        messages.append({"role": "assistant", "content": answer})
    return messages


def _ids(encoded) -> list[int]:
    # transformers 5 returns a BatchEncoding from apply_chat_template(tokenize=True).
    return list(encoded["input_ids"] if hasattr(encoded, "keys") else encoded)


@dataclass(frozen=True)
class Example:
    input_ids: list[int]
    labels: list[int]


def encode_pair(
    tokenizer, system_prompt: str, question: str, answer: str, max_seq_len: int
) -> Example | None:
    """Labels are -100 over the prompt; None if the prompt alone fills the window (nothing left to learn)."""
    prompt = _ids(
        tokenizer.apply_chat_template(chat_messages(system_prompt, question), add_generation_prompt=True)
    )
    full = _ids(tokenizer.apply_chat_template(chat_messages(system_prompt, question, answer)))
    if full[: len(prompt)] != prompt:
        raise ValueError("the chat template's generation prompt is not a prefix of the full conversation")
    full = full[:max_seq_len]
    if len(full) <= len(prompt):
        return None
    labels = [IGNORE_INDEX] * len(prompt) + full[len(prompt) :]
    return Example(input_ids=full, labels=labels)


def encode_rows(tokenizer, system_prompt: str, rows: Sequence[dict], max_seq_len: int) -> list[Example]:
    examples = (encode_pair(tokenizer, system_prompt, r["question"], r["answer"], max_seq_len) for r in rows)
    return [e for e in examples if e is not None]


def prompt_ids(tokenizer, system_prompt: str, question: str, max_prompt_len: int) -> list[int]:
    ids = _ids(
        tokenizer.apply_chat_template(chat_messages(system_prompt, question), add_generation_prompt=True)
    )
    return ids[-max_prompt_len:]


def collate(examples: Sequence[Example], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(e.input_ids) for e in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)  # (B, T)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    attention = torch.zeros((len(examples), width), dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e.input_ids)
        input_ids[i, :n] = torch.tensor(e.input_ids)
        labels[i, :n] = torch.tensor(e.labels)
        attention[i, :n] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": attention}


def batches(examples: Sequence[Example], batch_size: int, seed: int | None) -> Iterator[list[Example]]:
    """Shuffled (seed) or in order (None). Length-bucketed within windows of 50 batches to cut padding."""
    order = list(range(len(examples)))
    if seed is not None:
        random.Random(seed).shuffle(order)
    window = batch_size * 50
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: len(examples[i].input_ids))
        groups = [chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size)]
        if seed is not None:
            random.Random(seed + start).shuffle(groups)
        for group in groups:
            yield [examples[i] for i in group]


def count_batches(n_examples: int, batch_size: int) -> int:
    window = batch_size * 50
    full, rest = divmod(n_examples, window)
    return full * 50 + -(-rest // batch_size)
