"""Modality discriminator (ACMR, Wang et al. ACM MM 2017; DAFSN's modal discriminative network):
an MLP d → d/2 → d/4 → 2 that tells image embeddings (class 0) from text embeddings (class 1).
It is trained through :func:`crossmedia.losses.modality_adversarial_loss`, behind a
gradient-reversal layer."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ModalityDiscriminator"]


class ModalityDiscriminator(nn.Module):
    def __init__(self, dim: int, dropout: float = 0.0):
        super().__init__()
        h1, h2 = max(dim // 2, 2), max(dim // 4, 2)
        self.net = nn.Sequential(nn.Linear(dim, h1), nn.ReLU(inplace=True), nn.Dropout(dropout),
                                 nn.Linear(h1, h2), nn.ReLU(inplace=True), nn.Linear(h2, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
