"""Batched greedy answers for the judge set: deterministic, so judges compare configurations, not luck."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from trainables.data import prompt_ids


@torch.no_grad()
def generate_answers(
    model,
    tokenizer,
    system_prompt: str,
    questions: Sequence[str],
    max_new_tokens: int,
    batch_size: int,
    device: torch.device,
    max_prompt_len: int,
) -> list[str]:
    model.eval()
    pad_id = tokenizer.pad_token_id
    answers: list[str] = []
    for start in range(0, len(questions), batch_size):
        prompts = [
            prompt_ids(tokenizer, system_prompt, q, max_prompt_len)
            for q in questions[start : start + batch_size]
        ]
        width = max(len(p) for p in prompts)
        # Left padding keeps every prompt's last token adjacent to its first generated token.
        input_ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)  # (B, T)
        attention = torch.zeros((len(prompts), width), dtype=torch.long)
        for i, p in enumerate(prompts):
            input_ids[i, width - len(p) :] = torch.tensor(p)
            attention[i, width - len(p) :] = 1
        output = model.generate(
            input_ids=input_ids.to(device),
            attention_mask=attention.to(device),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=pad_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        new_tokens = output[:, width:]  # (B, new)
        answers.extend(t.strip() for t in tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
    return answers
