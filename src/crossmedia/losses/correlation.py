"""CMSL's cross-media correlation loss: inter-media plus intra-media pairwise likelihood.

With u (images) and v (texts) the representations of a batch and s_ij = 1 when items i and j
share a label, L = L(u, v) + w_intra · ½ (L(u, u) + L(v, v)), where L is the pairwise
cross-entropy of CDQ (Cao et al. AAAI 2017): mean over pairs of log(1 + e^θ) − s θ,
θ = scale · ⟨·,·⟩ clipped to [−clip, clip] (CDQ: scale 1, clip 15). The intra-media terms
preserve the similarity *within* each modality (CMSL: "preserving inter-media correlation and
intra-media similarity"); their pairs include each item with itself (always s = 1).
"""

from __future__ import annotations

import torch

from .pairwise import label_similarity, pairwise_likelihood_loss


def cross_media_correlation_loss(u: torch.Tensor, v: torch.Tensor, labels: torch.Tensor, intra_weight: float = 1.0,
                                 scale: float = 1.0, clip: float | None = 15.0,
                                 labels_v: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """``{"loss", "inter", "intra"}``; ``labels`` (B, C) multi-hot for both sides (or give
    ``labels_v`` for a different set of texts)."""
    lv = labels if labels_v is None else labels_v
    s = label_similarity(labels, lv)
    inter = pairwise_likelihood_loss(u, v, s, scale=scale, clip=clip)
    if intra_weight:
        intra = 0.5 * (pairwise_likelihood_loss(u, u, label_similarity(labels, labels), scale=scale, clip=clip)
                       + pairwise_likelihood_loss(v, v, label_similarity(lv, lv), scale=scale, clip=clip))
    else:
        intra = torch.zeros((), device=u.device)
    return {"loss": inter + float(intra_weight) * intra, "inter": inter, "intra": intra}
