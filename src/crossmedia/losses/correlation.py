"""CMSL's cross-media correlation loss: inter-media plus intra-media pairwise likelihood.

With u (images) and v (texts) the representations of a batch and s_ij = 1 when items i and j
share a label, L = L(u, v) + w_intra · ½ (L(u, u) + L(v, v)), where L is the pairwise
cross-entropy of CDQ (Cao et al. AAAI 2017): log(1 + e^θ) − s θ over pairs, θ = scale · ⟨·,·⟩
clipped to [−clip, clip] (CDQ: scale 1, clip 15), similar pairs weighted ``pos_weight`` and the
sum divided by the sum of the weights. The intra-media terms preserve the similarity *within*
each modality (CMSL: "preserving inter-media correlation and intra-media similarity"); their
pairs include each item with itself (always s = 1).

With a ``memory`` (the stored outputs of every training item, as DCMH pairs a batch with all
items; :class:`crossmedia.models.memory.CrossBatchMemory`), each side of the batch is paired with
the other modality's stored outputs instead: inter = ½ (L(u, V) + L(v, U)), intra =
½ (L(u, U) + L(v, V)), s from the batch's labels against the stored items' labels.
"""

from __future__ import annotations

import torch

from .pairwise import label_similarity, pairwise_likelihood_loss


def cross_media_correlation_loss(u: torch.Tensor, v: torch.Tensor, labels: torch.Tensor, intra_weight: float = 1.0,
                                 scale: float = 1.0, clip: float | None = 15.0,
                                 labels_v: torch.Tensor | None = None, *, pos_weight: float | None = None,
                                 memory: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
                                 ) -> dict[str, torch.Tensor]:
    """``{"loss", "inter", "intra"}``; ``labels`` (B, C) multi-hot for both sides (or give
    ``labels_v`` for a different set of texts); ``memory`` = (stored image outputs U, stored text
    outputs V, their labels) of all training items."""
    def L(a, b, s):
        return pairwise_likelihood_loss(a, b, s, scale=scale, clip=clip, pos_weight=pos_weight,
                                        reduction="weighted_mean")

    if memory is not None:
        U, V, stored_labels = memory
        s = label_similarity(labels, stored_labels)
        inter = 0.5 * (L(u, V, s) + L(v, U, s))
        intra = 0.5 * (L(u, U, s) + L(v, V, s)) if intra_weight else torch.zeros((), device=u.device)
    else:
        lv = labels if labels_v is None else labels_v
        inter = L(u, v, label_similarity(labels, lv))
        if intra_weight:
            intra = 0.5 * (L(u, u, label_similarity(labels, labels)) + L(v, v, label_similarity(lv, lv)))
        else:
            intra = torch.zeros((), device=u.device)
    return {"loss": inter + float(intra_weight) * intra, "inter": inter, "intra": intra}
