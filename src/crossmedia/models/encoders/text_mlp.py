"""Bag-of-words text encoder (also used on precomputed image feature vectors): BoW → hidden (ReLU, dropout) → output, as the text nets of
DCMH and CDQ (CDQ: BoW → 4096 ReLU, dropout 0.5 → D)."""

from __future__ import annotations

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


def sparse_linear(x: torch.Tensor, linear: nn.Linear) -> torch.Tensor:
    """``linear(x)`` for a mostly-zero (B, V) ``x`` (a bag of words: a query has a handful of the
    V words), reading only the weight columns of its non-zeros instead of the whole V × H matrix —
    the same values up to float rounding (inference: used under ``torch.no_grad``)."""
    rows, cols = x.nonzero(as_tuple=True)
    contrib = linear.weight.index_select(1, cols).t() * x[rows, cols].unsqueeze(1)  # (nnz, H)
    out = torch.zeros(x.shape[0], linear.out_features, dtype=contrib.dtype, device=x.device)
    out.index_add_(0, rows, contrib)
    return out + linear.bias if linear.bias is not None else out
