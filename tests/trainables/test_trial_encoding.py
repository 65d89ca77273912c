"""A reused trial actor encodes the corpus once per (model, prompt, max_seq_len, rows), not once per trial."""

from __future__ import annotations

from trainables.base_model import load_tokenizer
from trainables.data import encode_rows
from trainables.recipe import encoded
from trainables.settings import TinyModelConfig
from trainables.tiny_qwen2 import build_tiny_qwen2

ROWS = [{"question": f"Why is my APN {i} wrong?", "answer": f"Reset APN {i} in the settings."} for i in range(12)]


def test_encoded_rows_are_reused_and_match_a_fresh_encoding(tmp_path):
    path = build_tiny_qwen2(TinyModelConfig(), [r["question"] + "\n" + r["answer"] for r in ROWS], tmp_path)
    tokenizer = load_tokenizer(path)
    first = encoded(path, tokenizer, "sys", ROWS, 64)
    assert first == encode_rows(tokenizer, "sys", ROWS, 64)
    # The same rows arrive as new objects in the next trial (Tune deserialises its parameters again).
    assert encoded(path, tokenizer, "sys", [dict(r) for r in ROWS], 64) is first
    shorter = encoded(path, tokenizer, "sys", ROWS, 40)
    assert shorter and shorter is not first and max(len(e.input_ids) for e in shorter) <= 40
    other_prompt = encoded(path, tokenizer, "another system prompt", ROWS, 64)
    assert other_prompt is not first and other_prompt[0].input_ids != first[0].input_ids
    changed = encoded(path, tokenizer, "sys", ROWS[:-1] + [{"question": "New?", "answer": "Yes."}], 64)
    assert changed is not first and changed[-1] != first[-1]
