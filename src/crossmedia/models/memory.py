"""The stored outputs of every training item, per modality — what DCMH pairs each mini-batch with
(its F and G matrices) and what pytorch-metric-learning's ``CrossBatchMemory`` keeps for metric
losses. Used by twotower, DCMH and CMSL (``loss.memory``).

A :class:`CrossBatchMemory` holds ``image`` (N × d), ``text`` (N × d) and ``labels`` (N × C) of
the N training items; :meth:`reset` fills the outputs with small seeded noise before training,
:meth:`write` stores a batch's (detached) outputs at its positions. Its size is only known when
training starts, so it travels in checkpoints as extra state, and an inference-only load does
not need the training set.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["CrossBatchMemory"]


class CrossBatchMemory(nn.Module):
    def __init__(self):
        super().__init__()
        for name in ("image", "text", "labels"):
            self.register_buffer(name, torch.zeros(0), persistent=False)

    def reset(self, labels: torch.Tensor, dim: int, generator: torch.Generator, scale: float = 0.01) -> None:
        """Outputs ~ N(0, scale²) drawn from ``generator`` (image first, then text) for the items
        of ``labels`` (N × C), on the labels' device."""
        n, dev = labels.shape[0], labels.device
        self.image = (torch.randn(n, dim, generator=generator) * scale).to(dev)
        self.text = (torch.randn(n, dim, generator=generator) * scale).to(dev)
        self.labels = labels.float()

    def __len__(self) -> int:
        return int(self.image.shape[0])

    @torch.no_grad()
    def write(self, pos: torch.Tensor, image: torch.Tensor | None = None, text: torch.Tensor | None = None) -> None:
        """Store a batch's outputs (detached) at the training-split positions ``pos``."""
        if image is not None:
            self.image[pos] = image.detach()
        if text is not None:
            self.text[pos] = text.detach()

    def get_extra_state(self) -> dict:
        return {"image": self.image, "text": self.text, "labels": self.labels}

    def set_extra_state(self, state: dict) -> None:
        dev = self.image.device
        self.image, self.text, self.labels = (state[k].to(dev) for k in ("image", "text", "labels"))
