"""Batched greedy answers for the judge set: deterministic, so judges compare configurations, not luck.

An answer that runs into `max_new_tokens` is cut back to its last complete sentence, as a deployment with a token
limit shows it: the local preset generates 64 tokens against references of 100-200, and before this cut every
answer of the untuned and the tuned smollm2-135m alike ended mid-word (`answer_truncated_share` 0.81-1.0), so a
judge that scores truncation down scored the token limit, not the model. An answer with no complete sentence in
it is kept as it is, and still counts as truncated (judging.degeneration).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch

from trainables.data import prompt_ids
from trainables.precision import Autocast, generation_model


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
    precision: Autocast = "auto",
) -> list[str]:
    """Greedy answers, `batch_size` questions per call, under the same `precision` the trial trained with."""
    model.eval()
    with generation_model(model, device, precision) as generator:
        return _generate(generator, tokenizer, system_prompt, questions, max_new_tokens, batch_size, device,
                         max_prompt_len)  # fmt: skip


def _generate(model, tokenizer, system_prompt, questions, max_new_tokens, batch_size, device, max_prompt_len):
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
        texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        for row, text in zip(new_tokens.tolist(), texts, strict=True):
            finished = tokenizer.eos_token_id in row or pad_id in row
            answers.append(text.strip() if finished else whole_sentences(text))
    return answers


# A sentence ends at . ! ? or … (closing quotes or brackets may follow) before white space; a list number such as
# "2." at the start of a line is not a sentence end.
_SENTENCE_END = re.compile(r"(?<!^\d)(?<!\n\d)(?<!^\d\d)(?<!\n\d\d)[.!?…][\"'”’»)\]]*(?=\s)")


def whole_sentences(text: str) -> str:
    """`text` up to its last complete sentence; all of it (stripped) where it has none."""
    text = text.strip()
    ends = [m.end() for m in _SENTENCE_END.finditer(text + " ")]
    return text[: ends[-1]].rstrip() if ends else text
