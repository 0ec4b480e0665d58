"""Pairwise likelihood loss on shared labels.

With θ_ij = α⟨u_i, v_j⟩ and s_ij = 1 when items i and j share at least one label, the negative
log-likelihood of the pairwise similarities under p(s_ij=1) = σ(θ_ij) is
``log(1 + exp(θ_ij)) − s_ij θ_ij`` (DCMH, Jiang & Li CVPR 2017, with α = ½; CDQ, Cao et al.
AAAI 2017, with α = 1 and θ clipped to [−15, 15]). ``softplus`` keeps it stable for large θ.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def label_similarity(labels_a: torch.Tensor, labels_b: torch.Tensor) -> torch.Tensor:
    """s_ij = 1.0 where the multi-hot rows share at least one label, else 0.0."""
    return (labels_a.float() @ labels_b.float().T > 0).float()


def similar_fraction(labels: torch.Tensor, chunk: int = 4096) -> float:
    """The mean of ``label_similarity(labels, labels)`` (the share of similar pairs, self-pairs
    included) without the N × N matrix: up to ``chunk`` rows the mean of the matrix itself, above
    that exact counts over blocks of ``chunk`` rows (memory chunk × N)."""
    n = labels.shape[0]
    if n <= chunk:
        return float(label_similarity(labels, labels).mean()) if n else 0.0
    lab = labels.float()
    count = 0
    for s in range(0, n, chunk):
        count += int((lab[s : s + chunk] @ lab.T > 0).sum())
    return count / float(n * n)


def pairwise_likelihood_loss(
    u: torch.Tensor,
    v: torch.Tensor,
    s: torch.Tensor,
    scale: float = 0.5,
    clip: float | None = None,
    reduction: str = "mean",
    pos_weight: float | None = None,
) -> torch.Tensor:
    """Σ or mean over pairs of ``softplus(θ) − s·θ``, θ = scale·u vᵀ (optionally clipped).

    ``pos_weight`` multiplies the terms of similar pairs (s = 1). With sparse label overlap most
    pairs are dissimilar and the unweighted loss is minimised by the degenerate solution
    u ≈ −v for every item; weighting positives by #neg/#pos (as weighted variants of DCMH do)
    removes it. ``reduction="weighted_mean"`` divides the weighted sum by the sum of the
    weights (CDQ/CMSL's normalisation) instead of by the number of pairs."""
    theta = scale * (u @ v.T)
    if clip is not None:
        theta = theta.clamp(-clip, clip)
    loss = F.softplus(theta) - s * theta
    w = None
    if pos_weight is not None:
        w = 1.0 + (pos_weight - 1.0) * s
        loss = loss * w
    if reduction == "weighted_mean":
        return loss.sum() / (w.sum() if w is not None else loss.numel())
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be 'mean', 'weighted_mean', 'sum' or 'none', got {reduction!r}")
