"""Label-space losses of real-valued cross-modal methods.

* :func:`label_classification_loss` — ACMR's intra-modal discrimination (Wang et al. ACM MM
  2017): a classifier on the common space predicts the item's category; softmax cross-entropy,
  with a multi-hot target normalised to a distribution for multi-label data.
* :func:`label_regression_loss` — DSCMR's label-space discrimination (Zhen et al. CVPR 2019):
  ‖Pᵀu − y‖² with a linear map P shared by both modalities, mean over the batch (``squared=False``:
  the mean of the unsquared norms ‖Pᵀu − y‖, as DSCMR's released code computes it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def label_classification_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    y = labels.float()
    target = y / y.sum(1, keepdim=True).clamp_min(1.0)
    keep = y.sum(1) > 0  # unlabelled items carry no class information
    if not keep.any():
        return logits.sum() * 0.0
    return -(target * F.log_softmax(logits, dim=1)).sum(1)[keep].mean()


def label_regression_loss(predicted: torch.Tensor, labels: torch.Tensor, squared: bool = True) -> torch.Tensor:
    sq = ((predicted - labels.float()) ** 2).sum(1)
    return sq.mean() if squared else sq.sqrt().mean()
