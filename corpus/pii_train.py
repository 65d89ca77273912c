"""Train the PII token classifier and write corpus/pii_weights/: `python -m corpus.pii_train`.

A small head over the frozen, quantised all-MiniLM-L6-v2 (see corpus/pii_model.py), on synthetic tickets from
corpus/pii_data.py, BIO labels over WordPiece tokens; the encoder's features are computed once per example.
Seeded: the same command on the same versions writes the same weights up to float summation order. Prints
exact-span precision and recall on the dev split (fragments and locales training never sees).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from pathlib import Path

from common import atomic
from corpus.pii_data import LABELS, synthetic_tickets
from corpus.pii_model import BASE_SUM_NAME, WEIGHTS, base_path, sha256

TAGS = ["O"] + [f"{prefix}-{label}" for label in LABELS for prefix in ("B", "I")]
log = logging.getLogger("corpus.pii_train")


def token_labels(offsets: list[tuple[int, int]], spans: list[tuple[int, int, str]]) -> list[int]:
    """BIO label id per token (-100 for special tokens, which the loss ignores)."""
    ids = []
    previous = None
    for start, end in offsets:
        if start == end:
            ids.append(-100)
            continue
        owner = next((s for s in spans if s[0] <= start and end <= s[1]), None)
        if owner is None:
            ids.append(0)
        else:
            ids.append(TAGS.index(("I-" if owner == previous else "B-") + owner[2]))
        previous = owner
    return ids


def _encode(tokenizer, examples: list, max_tokens: int) -> dict:
    texts = [text for text, _ in examples]
    enc = tokenizer(texts, truncation=True, max_length=max_tokens, return_offsets_mapping=True)
    enc["labels"] = [token_labels(o, s) for o, (_, s) in zip(enc["offset_mapping"], examples, strict=True)]
    return enc


def entity_scores(tagger_spans: list[list], examples: list) -> dict[str, float]:
    """Exact-span precision and recall over the dev examples, all kinds together."""
    found = {(i, s.start, s.end, s.kind) for i, spans in enumerate(tagger_spans) for s in spans}
    truth = {(i, s, e, k) for i, (_, spans) in enumerate(examples) for s, e, k in spans}
    hit = len(found & truth)
    return {"precision": hit / max(1, len(found)), "recall": hit / max(1, len(truth)), "entities": len(truth)}


def _features(base, enc: dict, batch_size: int = 64) -> list:
    """Per-example feature tensors (T_i, 768) in float16, computed once with the frozen, quantised base."""
    import torch

    from corpus.pii_model import features

    out = []
    with torch.inference_mode():
        for i in range(0, len(enc["input_ids"]), batch_size):
            ids = enc["input_ids"][i : i + batch_size]
            width = max(len(x) for x in ids)
            input_ids = torch.tensor([x + [0] * (width - len(x)) for x in ids])
            mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids])
            feats = features(base, input_ids, mask).half()
            out += [feats[j, : len(x)] for j, x in enumerate(ids)]
    return out


def train(out: Path, examples: int, epochs: int, seed: int, batch_size: int, lr: float) -> dict:
    import torch
    from safetensors.torch import save_file

    from corpus.pii_model import load_base, make_head

    random.seed(seed)
    torch.manual_seed(seed)
    # One thread: with two, OpenMP's spin-waiting on a shared 2-core machine (load 12-17) made a head training step
    # take 15.6 s of wall time against 1.0 s with one (batch 64, 48 tokens).
    torch.set_num_threads(1)
    base, tokenizer = load_base()
    train_set = list(synthetic_tickets(examples, seed=seed, split="train"))
    started = time.perf_counter()
    enc = _encode(tokenizer, train_set, max_tokens=96)
    feats = _features(base, enc)
    log.info("features of %d examples: %.0f s", len(feats), time.perf_counter() - started)
    labels = [torch.tensor(x) for x in enc["labels"]]
    head = make_head(len(TAGS))
    optimiser = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=0.01)
    steps = epochs * ((len(feats) + batch_size - 1) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps, pct_start=0.1)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=-100)
    order = list(range(len(feats)))
    head.train()
    for epoch in range(epochs):
        random.Random(seed + epoch).shuffle(order)
        total = 0.0
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            x = torch.nn.utils.rnn.pad_sequence([feats[j].float() for j in idx], batch_first=True)
            y = torch.nn.utils.rnn.pad_sequence([labels[j] for j in idx], batch_first=True, padding_value=-100)
            lengths = torch.tensor([len(labels[j]) for j in idx])
            loss = loss_fn(head(x, lengths).flatten(0, 1), y.flatten())
            loss.backward()
            optimiser.step()
            schedule.step()
            optimiser.zero_grad()
            total += loss.item() * len(idx)
        log.info("epoch %d: mean loss %.4f (%.0f s)", epoch + 1, total / len(order), time.perf_counter() - started)
    train_seconds = time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)
    staged = out / ".head.safetensors.tmp"
    save_file({k: v.contiguous() for k, v in head.state_dict().items()}, str(staged))
    staged.replace(out / "head.safetensors")
    atomic.write_json(out / "labels.json", TAGS)
    sums = {name: sha256(out / name) for name in ("head.safetensors", "labels.json")}
    sums[BASE_SUM_NAME] = sha256(base_path() / "model.safetensors")
    atomic.write_text(out / "SHA256SUMS", "".join(f"{h}  {name}\n" for name, h in sums.items()))
    return {"train_examples": len(train_set), "epochs": epochs, "train_seconds": round(train_seconds, 1)}


def evaluate(weights: Path, examples: int, seed: int) -> dict:
    from corpus.pii_model import TokenTagger

    dev = list(synthetic_tickets(examples, seed=seed + 1, split="dev"))
    tagger = TokenTagger(weights)
    found = tagger.spans([text for text, _ in dev])
    return entity_scores(found, dev)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m corpus.pii_train", description=__doc__)
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    parser.add_argument("--examples", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dev-examples", type=int, default=2000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = train(args.out, args.examples, args.epochs, args.seed, args.batch_size, args.lr)
    result["dev"] = evaluate(args.out, args.dev_examples, args.seed)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
