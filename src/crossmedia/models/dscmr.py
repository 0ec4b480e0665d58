"""DSCMR — deep supervised cross-modal retrieval (Zhen, Hu, Wang, Peng; CVPR 2019).

Two modality-specific networks end in a weight-shared layer that maps both into one real
common space; a linear classifier P (shared) maps the common space to the label space. Loss
(DSCMR eq. 1–5):

    J = J1 + λ·J2 + η·J3
    J1 = ‖Pᵀu − y‖² + ‖Pᵀv − y‖²                          (discrimination in the label space)
    J2 = Σ log(1+e^Γ) − S Γ over image–text, image–image and text–text pairs,
         Γ_ij = ½ cos(a_i, b_j), S_ij = 1 iff labels shared   (discrimination in the common space)
    J3 = ‖U − V‖²  over paired items                     (modality invariance)

each averaged over the batch (J2 over pairs). The paper's backbones are a pretrained CNN and a
text CNN on word vectors; here the shared small CNN / precomputed features and a bag-of-words
MLP. λ, η are this project's defaults. Retrieval: cosine of the common-space vectors.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ..losses import label_regression_loss, label_similarity, modality_invariance_loss, pairwise_likelihood_loss
from .base import DataInfo
from .common_space import COMMON_DEFAULTS, CommonSpaceModel
from .registry import register_model


def _defaults() -> dict:
    cfg = copy.deepcopy(COMMON_DEFAULTS)
    cfg.update({"common_weight": 1.0,  # λ (J2)
                "invariance_weight": 0.1})  # η (J3)
    return cfg


@register_model("dscmr")
class DSCMR(CommonSpaceModel):
    default_config = _defaults()
    shared_projection = True

    def __init__(self, config: dict, info: DataInfo):
        super().__init__(config, info)
        self.label_map = nn.Linear(self.dim, max(info.n_labels, 1), bias=False)  # P, shared

    def training_step(self, batch: dict, epoch: int, progress: float) -> dict[str, torch.Tensor]:
        u = self.encode_image(batch)
        v = self.encode_text(batch)
        y = batch["labels"].float()
        s = label_similarity(y, y)
        j1 = label_regression_loss(self.label_map(u), y) + label_regression_loss(self.label_map(v), y)
        un, vn = F.normalize(u, dim=1), F.normalize(v, dim=1)
        j2 = (pairwise_likelihood_loss(un, vn, s, scale=0.5) + pairwise_likelihood_loss(un, un, s, scale=0.5)
              + pairwise_likelihood_loss(vn, vn, s, scale=0.5))
        j3 = modality_invariance_loss(u, v)
        c = self.config
        loss = j1 + float(c["common_weight"]) * j2 + float(c["invariance_weight"]) * j3
        return {"loss": loss, "label_space": j1.detach(), "common_space": j2.detach(), "invariance": j3.detach()}
