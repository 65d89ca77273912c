"""The chunked linear cross-entropy equals the full-logits one, in value and in every gradient."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from trainables.chunked_loss import linear_cross_entropy_sum


def _case(n: int = 37, d: int = 16, vocab: int = 101):
    torch.manual_seed(0)
    head = torch.nn.Linear(d, vocab, bias=True)
    hidden = torch.randn(n, d, requires_grad=True)
    targets = torch.randint(0, vocab, (n,))
    return head, hidden, targets


def test_chunked_loss_and_grads_equal_full_logits_for_any_chunk_size():
    head, hidden, targets = _case()
    full = F.cross_entropy(head(hidden), targets, reduction="sum")
    want = torch.autograd.grad(full, [hidden, head.weight, head.bias])
    for chunk in (1, 5, 16, 37, 1000):  # one row per chunk, ragged last chunk, exact fit, a single chunk
        loss = linear_cross_entropy_sum(hidden, head, targets, chunk_tokens=chunk)
        got = torch.autograd.grad(loss, [hidden, head.weight, head.bias])
        torch.testing.assert_close(loss, full, rtol=1e-5, atol=1e-5)
        for g, w in zip(got, want, strict=True):
            torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-6)


def test_chunked_loss_recomputes_logits_in_backward_instead_of_keeping_them():
    """Saved tensors of the graph: the full path keeps (N, vocab) logits; the chunked path keeps none that size."""
    head, hidden, targets = _case(n=64, d=8, vocab=4096)
    saved: list[torch.Size] = []

    def pack_hook(t: torch.Tensor):
        saved.append(t.shape)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack_hook, lambda t: t):
        F.cross_entropy(head(hidden), targets, reduction="sum")
    assert any(s.numel() >= 64 * 4096 for s in saved)
    saved.clear()
    with torch.autograd.graph.saved_tensors_hooks(pack_hook, lambda t: t):
        linear_cross_entropy_sum(hidden, head, targets, chunk_tokens=16)
    assert saved and max(s.numel() for s in saved) < 64 * 4096 / 2


def test_no_targets_gives_zero_loss_still_attached_to_the_graph():
    head, hidden, targets = _case()
    loss = linear_cross_entropy_sum(hidden[:0], head, targets[:0])
    assert float(loss.detach()) == 0.0 and loss.requires_grad
    loss.backward()


def test_without_grad_the_chunks_sum_to_the_same_value():
    head, hidden, targets = _case()
    with torch.no_grad():
        full = F.cross_entropy(head(hidden), targets, reduction="sum")
        torch.testing.assert_close(linear_cross_entropy_sum(hidden, head, targets, chunk_tokens=8), full)
