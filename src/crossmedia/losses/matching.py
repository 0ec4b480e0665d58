"""Batch matching losses between the B images and B texts of a batch (pair i = image i, text i).

* :func:`batch_softmax_matching_loss` — DAMSM's matching loss (AttnGAN, Xu et al. CVPR 2018,
  eqs. 10–11; DAFSN's pair-matching constraint): P(D_i | Q_i) = softmax_j(γ3 · S(Q_i, D_j)) over
  the batch, cross-entropy of the matched pair in both directions (image→text and text→image).
  With ``same_class`` given, negatives that share a label with the query are masked out of the
  softmax (DAMSM masks same-class captions; here "class" = share ≥ 1 label).
* :func:`hardest_negative_hinge_loss` — VSE++'s pair-matching loss (Faghri et al. BMVC 2018):
  [m − S(i,i) + S(i,j)]₊ against the hardest negative text and the hardest negative image,
  margin 0.2; same-label items may be excluded from the negatives the same way.
* :func:`label_softmax_matching_loss` — the same batch softmax with every item that shares a
  label with the query as a match (supervised contrastive form, Khosla et al. NeurIPS 2020, eq. 2
  "L_out", taken across the two modalities): −(1/|P_i|) Σ_{p ∈ P_i} log softmax_j(γ3 · S(Q_i, D_j))_p,
  P_i the batch items sharing ≥ 1 label with query i, its own pair always included. It trains the
  label-level ranking that mAP with label relevance measures, where the pair form trains the pair.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["batch_softmax_matching_loss", "hardest_negative_hinge_loss", "label_softmax_matching_loss"]


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


def label_softmax_matching_loss(scores: torch.Tensor, gamma3: float, same_class: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """scores (B, B) with scores[i, j] = S(image i, text j); same_class (B, B), nonzero where i and j
    share a label → (loss image→text, loss text→image), each the mean over queries of the mean
    −log P(j | query) over the query's matches j (same-label items and its own pair)."""
    n = scores.shape[0]
    if tuple(same_class.shape) != (n, n):
        raise ValueError(f"same_class has shape {tuple(same_class.shape)}, expected ({n}, {n})")
    pos = same_class.bool() | torch.eye(n, dtype=torch.bool, device=scores.device)
    w = pos.to(scores.dtype)
    logits = gamma3 * scores

    def one_way(lg: torch.Tensor, wt: torch.Tensor) -> torch.Tensor:
        logp = F.log_softmax(lg, dim=1)
        return (-(logp * wt).sum(1) / wt.sum(1)).mean()

    return one_way(logits, w), one_way(logits.T, w.T)


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
