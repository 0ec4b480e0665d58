"""DSCMR — deep supervised cross-modal retrieval (Zhen, Hu, Wang, Peng; CVPR 2019).

Two modality-specific networks end in a weight-shared layer that maps both into one real
common space; a linear classifier P (shared) maps the common space to the label space. Loss
(DSCMR eq. 1–5):

    J = J1 + λ·J2 + η·J3
    J1 = ‖Pᵀu − y‖² + ‖Pᵀv − y‖²                          (discrimination in the label space)
    J2 = Σ log(1+e^Γ) − S Γ over image–text, image–image and text–text pairs,
         Γ_ij = ½ cos(a_i, b_j), S_ij = 1 iff labels shared   (discrimination in the common space)
    J3 = ‖U − V‖²  over paired items                     (modality invariance)

each averaged over the batch (J2 over pairs). Retrieval: cosine of the common-space vectors.

Two configurations ship:

* the **harness default** (this class's ``default_config`` and the bench's training settings),
  tuned for the harness's data: λ = 1, η = 0.1, J1 and J3 as mean *squared* norms, S = 1 iff
  labels are shared; per-modality layer input → 1024 (ReLU, dropout 0.5) → shared 1024 →
  ``bits``-d common space; P without bias; Adam lr 3e-3 (bench) with betas (0.9, 0.999),
  shuffled batches.
* the **published configuration** ``--config dscmr-paper`` (``crossmedia/configs/dscmr-paper.yaml``),
  as the authors' released code (penghu-cs/DSCMR) runs it: λ = 1e-3 (α in the code), η = 0.1
  (β); J1 and J3 as means of *unsquared* L2 norms (``loss_form: norm``); S_ij = yᵢ·yⱼ (the label
  dot product; equal to the shared-label rule on single-label data) (``similarity: label_dot``);
  per-modality layer input → 2048 with ReLU and no dropout, shared 2048 → 1024 (``dim: 1024``),
  P with bias (``label_bias: true``); Adam lr 1e-4, betas (0.5, 0.999), no weight decay;
  batch 100 in the dataset's fixed order (``batch_order: fixed``, the last batch smaller);
  500 epochs.

Differences that remain between the preset and the released code: the released script selects
the epoch with the best mAP on the *test* set (``train_model`` evaluates every epoch on the test
loader and keeps the best weights); the preset selects on the validation split under
``train.val_rule`` (held-out val items) and never looks at the test queries. The paper's
backbones (a pretrained VGG-19 and a text CNN on word vectors; the released code takes their
features as input) are replaced by the dataset's features, or on pixels by the shared small CNN
and a bag-of-words text input. The released code's cosine clamps the norm product at 1e-6, here
vectors are normalised with eps 1e-12. Weight initialisation is PyTorch's ``nn.Linear`` default
in both.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..losses import label_regression_loss, label_similarity, modality_invariance_loss, pairwise_likelihood_loss
from .base import DataInfo
from .common_space import COMMON_DEFAULTS, CommonSpaceModel
from .registry import register_model


def _defaults() -> dict:
    cfg = copy.deepcopy(COMMON_DEFAULTS)
    cfg.update({"common_weight": 1.0,  # λ (J2)
                "invariance_weight": 0.1,  # η (J3)
                "loss_form": "squared",  # squared (mean ‖·‖²) | norm (mean ‖·‖, the released code) for J1 and J3
                "similarity": "shared_label",  # shared_label (S = 1 iff a label is shared) | label_dot (S = Y Yᵀ)
                "label_bias": False})  # P with a bias (the released code's linearLayer2)
    return cfg


@register_model("dscmr")
class DSCMR(CommonSpaceModel):
    default_config = _defaults()
    shared_projection = True

    def __init__(self, config: dict, info: DataInfo):
        super().__init__(config, info)
        if config["loss_form"] not in ("squared", "norm"):
            raise ConfigError(f"model.loss_form: expected squared or norm, got {config['loss_form']!r}")
        if config["similarity"] not in ("shared_label", "label_dot"):
            raise ConfigError(f"model.similarity: expected shared_label or label_dot, got {config['similarity']!r}")
        self.label_map = nn.Linear(self.dim, max(info.n_labels, 1), bias=bool(config["label_bias"]))  # P, shared

    def training_step(self, batch: dict, epoch: int, progress: float) -> dict[str, torch.Tensor]:
        c = self.config
        u = self.encode_image(batch)
        v = self.encode_text(batch)
        y = batch["labels"].float()
        s = label_similarity(y, y) if c["similarity"] == "shared_label" else y @ y.T
        squared = c["loss_form"] == "squared"
        j1 = (label_regression_loss(self.label_map(u), y, squared=squared)
              + label_regression_loss(self.label_map(v), y, squared=squared))
        un, vn = F.normalize(u, dim=1), F.normalize(v, dim=1)
        j2 = (pairwise_likelihood_loss(un, vn, s, scale=0.5) + pairwise_likelihood_loss(un, un, s, scale=0.5)
              + pairwise_likelihood_loss(vn, vn, s, scale=0.5))
        j3 = modality_invariance_loss(u, v, squared=squared)
        loss = j1 + float(c["common_weight"]) * j2 + float(c["invariance_weight"]) * j3
        return {"loss": loss, "label_space": j1.detach(), "common_space": j2.detach(), "invariance": j3.detach()}
