"""Quantization loss of deep quantization (CDQ, Cao et al. AAAI 2017): the squared distance
between a representation and its reconstruction from codebooks and fixed codes,
‖u − Σ_m C_m[b_m]‖², averaged over the batch. Gradients flow into ``x`` (and into the
codebooks only if they require grad; CDQ updates them in closed form instead)."""

from __future__ import annotations

import torch


def reconstruct(codebooks: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """Σ_m C_m[b_m] for codebooks (M, K, D) and codes (B, M) → (B, D)."""
    M = codebooks.shape[0]
    return codebooks[torch.arange(M, device=codes.device).view(1, M), codes.long()].sum(1)


def quantization_loss(x: torch.Tensor, codebooks: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """mean_i ‖x_i − Σ_m C_m[b_im]‖²."""
    r = x - reconstruct(codebooks, codes)
    return (r * r).sum(1).mean()
