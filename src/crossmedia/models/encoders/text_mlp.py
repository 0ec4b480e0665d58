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
        return self.net(bow)
