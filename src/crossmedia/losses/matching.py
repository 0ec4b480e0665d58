"""Batch matching losses between the B images and B texts of a batch (pair i = image i, text i).

* :func:`batch_softmax_matching_loss` — DAMSM's matching loss (AttnGAN, Xu et al. CVPR 2018,
  eqs. 10–11; DAFSN's pair-matching constraint): P(D_i | Q_i) = softmax_j(γ3 · S(Q_i, D_j)) over
  the batch, cross-entropy of the matched pair in both directions (image→text and text→image).
  With ``same_class`` given, negatives that share a label with the query are masked out of the
  softmax (DAMSM masks same-class captions; here "class" = share ≥ 1 label).
* :func:`hardest_negative_hinge_loss` — VSE++'s pair-matching loss (Faghri et al. BMVC 2018):
  [m − S(i,i) + S(i,j)]₊ against the hardest negative text and the hardest negative image,
  margin 0.2; same-label items may be excluded from the negatives the same way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["batch_softmax_matching_loss", "hardest_negative_hinge_loss"]


def _negatives_mask(n: int, same_class: torch.Tensor | None, device) -> torch.Tensor | None:
    """(n, n) bool: True where j must NOT be a negative of i (shares a label, but not the pair)."""
    if same_class is None:
        return None
    eye = torch.eye(n, dtype=torch.bool, device=device)
    return same_class.bool() & ~eye


def batch_softmax_matching_loss(scores: torch.Tensor, gamma3: float = 10.0,
                                same_class: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """scores (B, B) with scores[i, j] = S(image i, text j) → (loss image→text, loss text→image),
    each the mean over the batch of −log P(matched | query)."""
    n = scores.shape[0]
    logits = gamma3 * scores
    drop = _negatives_mask(n, same_class, scores.device)
    if drop is not None:
        logits = logits.masked_fill(drop, float("-inf"))
    target = torch.arange(n, device=scores.device)
    i2t = F.cross_entropy(logits, target)
    t2i = F.cross_entropy(logits.T, target)
    return i2t, t2i


def hardest_negative_hinge_loss(scores: torch.Tensor, margin: float = 0.2,
                                same_class: torch.Tensor | None = None, valid: torch.Tensor | None = None) -> torch.Tensor:
    """VSE++ max-of-hinges: mean over pairs i of [m − S(i,i) + max_j S(i,j)]₊ + [m − S(i,i) + max_j S(j,i)]₊,
    j ranging over the batch's negatives. ``valid`` (B,) bool leaves pairs out — as queries and as
    negatives (e.g. SCAN: texts without any known word)."""
    n = scores.shape[0]
    d = scores.diag()
    neg = ~torch.eye(n, dtype=torch.bool, device=scores.device)
    drop = _negatives_mask(n, same_class, scores.device)
    if drop is not None:
        neg = neg & ~drop
    if valid is not None:
        neg = neg & valid.view(1, -1) & valid.view(-1, 1)
    cost_t = ((margin + scores - d.view(-1, 1)).clamp(min=0) * neg).max(1).values
    cost_i = ((margin + scores - d.view(1, -1)).clamp(min=0) * neg).max(0).values
    if valid is None:
        return (cost_t + cost_i).mean()
    keep = valid.float()
    return ((cost_t + cost_i) * keep).sum() / keep.sum().clamp_min(1.0)
