"""Modality invariance of paired items (DSCMR, Zhen et al. CVPR 2019, J3): the image and text
representations of the same item should coincide — ‖u_i − v_i‖² averaged over the batch
(``squared=False``: the unsquared norms ‖u_i − v_i‖ averaged, as DSCMR's released code does)."""

from __future__ import annotations

import torch


def modality_invariance_loss(u: torch.Tensor, v: torch.Tensor, squared: bool = True) -> torch.Tensor:
    sq = ((u - v) ** 2).sum(1)
    return sq.mean() if squared else sq.sqrt().mean()
