"""Bag-of-words text encoder (also used on precomputed image feature vectors): BoW → hidden (ReLU, dropout) → output, as the text nets of
DCMH and CDQ (CDQ: BoW → 4096 ReLU, dropout 0.5 → D)."""

from __future__ import annotations

import weakref

import torch
from torch import nn


class BowMLP(nn.Module):
    def __init__(self, vocab_size: int, out_dim: int, hidden: int = 1024, dropout: float = 0.5):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(vocab_size, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(hidden, out_dim)
        )

    def forward(self, bow: torch.Tensor) -> torch.Tensor:
        if not torch.is_grad_enabled() and bow.dim() == 2 and is_sparse(bow):
            return self.net[1:](sparse_linear(bow, self.net[0]))
        return self.net(bow)


SPARSE_DENSITY = 0.05  # at most this fraction of non-zeros: a bag of words, not a feature vector


def is_sparse(x: torch.Tensor) -> bool:
    return bool(x.numel()) and int(torch.count_nonzero(x)) <= SPARSE_DENSITY * x.numel()


#: the largest weight (bytes) of which :func:`sparse_linear` keeps a transposed copy
TRANSPOSED_COPY_MAX_BYTES = 64 << 20
_transposed: "weakref.WeakKeyDictionary[nn.Linear, tuple]" = weakref.WeakKeyDictionary()


def _weight_rows(linear: nn.Linear) -> torch.Tensor | None:
    """The (V, H) transpose of ``linear.weight``, contiguous, so that a word's weights are one
    contiguous row (a column of the (H, V) weight is H scattered cache lines). Kept per module
    until the weight changes (its in-place version counter or storage); None for a weight over
    :data:`TRANSPOSED_COPY_MAX_BYTES` (its columns are then read in place)."""
    w = linear.weight
    if w.numel() * w.element_size() > TRANSPOSED_COPY_MAX_BYTES:
        return None
    key = (w._version, w.data_ptr(), w.dtype, w.device)
    hit = _transposed.get(linear)
    if hit is None or hit[0] != key:
        hit = (key, w.detach().t().contiguous())
        _transposed[linear] = hit
    return hit[1]


def sparse_linear(x: torch.Tensor, linear: nn.Linear) -> torch.Tensor:
    """``linear(x)`` for a mostly-zero (B, V) ``x`` (a bag of words: a query has a handful of the
    V words), reading only the weights of its non-zeros instead of the whole V × H matrix —
    the same values up to float rounding (inference: used under ``torch.no_grad``)."""
    rows, cols = x.nonzero(as_tuple=True)
    wt = _weight_rows(linear)
    picked = linear.weight.index_select(1, cols).t() if wt is None else wt.index_select(0, cols)
    contrib = picked * x[rows, cols].unsqueeze(1)  # (nnz, H)
    out = torch.zeros(x.shape[0], linear.out_features, dtype=contrib.dtype, device=x.device)
    out.index_add_(0, rows, contrib)
    return out + linear.bias if linear.bias is not None else out
