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

Two configurations ship:

* the **harness default** (``default_config`` and the bench's training settings): towers
  input → 1024 (ReLU, dropout 0.5) → ``bits``-d, L_imi the triplet loss above (margin 0.2,
  α = 1), L_imd weight β = 1 (mean of the two modalities' cross-entropies), the modality
  classifier d → d/2 → d/4 → 2 with ReLUs, its gradient reversed into the towers (weight 0.1);
  one Adam, betas (0.9, 0.999), shuffled batches.
* the **published configuration** ``--config acmr-paper`` (``crossmedia/configs/acmr-paper.yaml``),
  as the authors' released code runs on Wikipedia (sunpeng981712364/ACMR_demo,
  ``adv_crossmodal_simple_wiki``): image tower input → 512 → 100 → 40 and text tower
  input → 40 → 100 → 40, tanh after every layer (``image_layers``, ``text_layers``,
  ``activation``/``output_activation: tanh``, ``dim: 40``, no dropout); embedding loss
  100·(CE_image + CE_text) + L_sim + 0.02·L_dis (``imi_form: released``; ``label_weight`` 200
  because here the label term is the *mean* of the two cross-entropies), with L_sim = ‖U − V‖_F
  over the batch (unsquared Frobenius norm) and L_dis = mean_ij max(0, 0.1 − m_ij·(Σu_i − u_i·v_j
  + Σv_j)), m_ij = 1 for pairs sharing no label; the label classifier stays at its initial
  weights (``train_classifier: false`` — the released optimisers never update it); the
  modality classifier is linear (40 → 20 → 10 → 2, ``discriminator_activation: none``) and is
  trained on its cross-entropy, but its gradient never reaches the towers
  (``adversary_updates_embedding: false`` — the released embedding optimiser minimises the
  embedding loss only); Adam lr 1e-4, betas (0.5, 0.999) for both; batch 64 in the dataset's
  fixed order, the last partial batch dropped; 200 epochs.

Differences that remain: the released code evaluates the last epoch by mAP@50 under Euclidean
distance (its per-epoch test mAPs are only logged); the preset selects on the validation split
under ``train.val_rule`` and ranks by cosine, as every real-valued model of the harness (report
mAP@50 with ``--metrics map@50``). TensorFlow-slim initialises weights Glorot-uniform, here
PyTorch's ``nn.Linear`` default. The released inputs are 4096-d VGG features and 5000-d
bag-of-words vectors; here whatever the dataset provides.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..errors import ConfigError
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
                "adv_weight": 0.1,
                "imi_form": "triplet",  # triplet | released (L_sim + dissimilar_weight·L_dis, see docstring)
                "similar_weight": 1.0,  # released form: weight of L_sim
                "dissimilar_weight": 0.02,  # released form: weight of L_dis
                "dissimilar_margin": 0.1,  # released form: margin of L_dis
                "train_classifier": True,  # false: the label classifier keeps its initial weights
                "adversary_updates_embedding": True,  # false: the modality classifier trains but its gradient stops there
                "discriminator_activation": "relu"})  # relu | none (the released classifier is linear)
    return cfg


@register_model("acmr")
class ACMR(CommonSpaceModel):
    default_config = _defaults()
    shared_projection = False

    def __init__(self, config: dict, info: DataInfo):
        super().__init__(config, info)
        d = self.dim
        c = config
        if c["imi_form"] not in ("triplet", "released"):
            raise ConfigError(f"model.imi_form: expected triplet or released, got {c['imi_form']!r}")
        if c["discriminator_activation"] not in ("relu", "none"):
            raise ConfigError(f"model.discriminator_activation: expected relu or none, got {c['discriminator_activation']!r}")
        self.classifier = nn.Linear(d, max(info.n_labels, 1))
        if not c["train_classifier"]:
            self.classifier.requires_grad_(False)
        act = (lambda: [nn.ReLU(inplace=True)]) if c["discriminator_activation"] == "relu" else (lambda: [])
        self.discriminator = nn.Sequential(nn.Linear(d, max(d // 2, 2)), *act(),
                                           nn.Linear(max(d // 2, 2), max(d // 4, 2)), *act(),
                                           nn.Linear(max(d // 4, 2), 2))

    def training_step(self, batch: dict, epoch: int, progress: float) -> dict[str, torch.Tensor]:
        u = self.encode_image(batch)
        v = self.encode_text(batch)
        y = batch["labels"].float()
        s = label_similarity(y, y)
        c = self.config
        imd = 0.5 * (label_classification_loss(self.classifier(u), y) + label_classification_loss(self.classifier(v), y))
        if c["imi_form"] == "triplet":
            m = float(c["margin"])
            imi = 0.5 * (cross_modal_triplet_loss(u, v, s, m) + cross_modal_triplet_loss(v, u, s, m))
        else:
            similar = ((u - v) ** 2).sum().sqrt()
            dist = u.sum(1, keepdim=True) - u @ v.T + v.sum(1)[None, :]
            dissimilar = (float(c["dissimilar_margin"]) - dist * (1.0 - s)).clamp_min(0.0).mean()
            imi = float(c["similar_weight"]) * similar + float(c["dissimilar_weight"]) * dissimilar
        if c["adversary_updates_embedding"]:
            adv, _ = modality_adversarial_loss(self.discriminator, u, v, grl_coefficient(progress))
        else:
            adv, _ = modality_adversarial_loss(self.discriminator, u.detach(), v.detach(), 1.0)
        loss = float(c["triplet_weight"]) * imi + float(c["label_weight"]) * imd + float(c["adv_weight"]) * adv
        return {"loss": loss, "triplet": imi.detach(), "label": imd.detach(), "modality_ce": adv.detach()}
