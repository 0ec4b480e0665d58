"""ACMR — adversarial cross-modal retrieval (Wang, Yang, Xu, Hanjalic, Shen; ACM MM 2017).

A feature projector maps each modality into a real-valued common space; a modality classifier
tries to tell the modalities apart and the projector is trained against it (minimax, here via a
gradient-reversal layer, Ganin & Lempitsky 2015, with Ganin's coefficient schedule). The
projector's embedding loss (ACMR eq. 3–6):

    L_emb = α·L_imi + β·L_imd (+ L_reg, here Adam's ``train.weight_decay``)

* L_imd, intra-modal discrimination: a label classifier on the common space (shared by both
  modalities), softmax cross-entropy (multi-hot targets normalised to a distribution);
* L_imi, inter-modal invariance: cross-modal triplet constraints — for an image anchor, texts
  sharing a label closer than texts sharing none by a margin, and symmetrically for texts
  (:func:`~crossmedia.losses.cross_modal_triplet_loss`; all triplets of the batch on
  l2-normalised vectors, where ACMR samples triplets);
* L_adv: the modality classifier's cross-entropy (MLP d → d/2 → d/4 → 2, ACMR/DAFSN's
  discriminator shape), behind the gradient reversal, weighted ``adv_weight``.

The paper's feature networks sit on precomputed CNN/BoW features; on pixels the shared small CNN
provides the image feature. Weights α, β, the margin and ``adv_weight`` are this project's
defaults (not the paper's grid). Retrieval: cosine of the common-space vectors.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..losses import cross_modal_triplet_loss, grl_coefficient, label_classification_loss, label_similarity, \
    modality_adversarial_loss
from .base import DataInfo
from .common_space import COMMON_DEFAULTS, CommonSpaceModel
from .registry import register_model


def _defaults() -> dict:
    cfg = copy.deepcopy(COMMON_DEFAULTS)
    cfg.update({"triplet_weight": 1.0,  # α
                "label_weight": 1.0,  # β
                "margin": 0.2,
                "adv_weight": 0.1})
    return cfg


@register_model("acmr")
class ACMR(CommonSpaceModel):
    default_config = _defaults()
    shared_projection = False

    def __init__(self, config: dict, info: DataInfo):
        super().__init__(config, info)
        d = self.dim
        self.classifier = nn.Linear(d, max(info.n_labels, 1))
        self.discriminator = nn.Sequential(nn.Linear(d, max(d // 2, 2)), nn.ReLU(inplace=True),
                                           nn.Linear(max(d // 2, 2), max(d // 4, 2)), nn.ReLU(inplace=True),
                                           nn.Linear(max(d // 4, 2), 2))

    def training_step(self, batch: dict, epoch: int, progress: float) -> dict[str, torch.Tensor]:
        u = self.encode_image(batch)
        v = self.encode_text(batch)
        y = batch["labels"].float()
        s = label_similarity(y, y)
        imd = 0.5 * (label_classification_loss(self.classifier(u), y) + label_classification_loss(self.classifier(v), y))
        m = float(self.config["margin"])
        imi = 0.5 * (cross_modal_triplet_loss(u, v, s, m) + cross_modal_triplet_loss(v, u, s, m))
        adv, _ = modality_adversarial_loss(self.discriminator, u, v, grl_coefficient(progress))
        c = self.config
        loss = float(c["triplet_weight"]) * imi + float(c["label_weight"]) * imd + float(c["adv_weight"]) * adv
        return {"loss": loss, "triplet": imi.detach(), "label": imd.detach(), "modality_ce": adv.detach()}
