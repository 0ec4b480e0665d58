"""Cross-modal triplet loss on shared labels (ACMR's inter-modal invariance term, Wang et al.
ACM MM 2017): for an anchor of one modality, items of the other modality sharing a label must be
closer than items sharing none, by a margin. All valid (anchor, positive, negative) triplets of
the batch are used ("batch all"), distances are squared Euclidean between l2-normalised
vectors, and the loss is the mean over triplets that violate the margin (0 if none)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def cross_modal_triplet_loss(anchor: torch.Tensor, other: torch.Tensor, s: torch.Tensor, margin: float = 0.2) -> torch.Tensor:
    """``anchor`` (B, d), ``other`` (N, d), ``s`` (B, N) 1 where the pair shares a label."""
    a = F.normalize(anchor, dim=1)
    o = F.normalize(other, dim=1)
    d = (2.0 - 2.0 * a @ o.T).clamp_min(0.0)  # squared distance of unit vectors
    pos = s > 0
    neg = ~pos
    ii, jj = pos.nonzero(as_tuple=True)  # every (anchor, positive) pair
    # hinge of each pair against every negative of its anchor: (P, N)
    cost = (margin + d[ii, jj].unsqueeze(1) - d[ii]).clamp_min(0.0) * neg[ii]
    active = (cost > 0).sum()
    if active == 0:
        return cost.sum() * 0.0
    return cost.sum() / active
