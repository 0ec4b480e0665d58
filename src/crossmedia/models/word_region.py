"""DAFSN's fine-grained (word-level) attentional similarity — the DAMSM word-level score of
AttnGAN (Xu et al. CVPR 2018, eqs. 7–9), as METHODS.md names it for DAFSN's gaps.

For an image with regions v_1..v_R and a text with word features e_1..e_T (same space d):

    s_ij = e_iᵀ v_j                                   (word i, region j)
    s̄_ij = softmax over the words i of s_ij           (each region's distribution over words)
    α_ij = softmax over the regions j of γ1 · s̄_ij    (each word's attention over regions)
    c_i  = Σ_j α_ij v_j                               (the region context of word i)
    R(Q, D) = (1/γ2) · log Σ_i exp(γ2 · cos(c_i, e_i))

(γ1 = 4, γ2 = 5 in DAMSM). Padding words are excluded everywhere; a text without words scores 0.

How each region's scores over the words are normalised before the softmax over regions is
``word_norm``: ``softmax`` (DAMSM, above), ``none`` (s̄ = s, raw dot products) or ``scan`` — SCAN's
text→image attention (Lee et al. ECCV 2018, eq. 1–2): regions and words are first l2-normalised
(s_ij is a cosine, and the contexts c_i mix unit regions), then s̄_ij = [s_ij]₊ / sqrt(Σ_i [s_ij]₊²)
with [x]₊ = LeakyReLU(x, 0.1), the l2 norm over one text's words; γ1 is SCAN's λ1 (9 there).

``cos(c_i, e_i)`` is computed without building c_i when R ≤ d (c·e = Σ_j α_ij s_ij and
‖c‖² = α G αᵀ with G the regions' Gram matrix), which keeps the all-pairs batch score cheap.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["WORD_NORMS", "word_region_attention", "attentional_similarity"]

_NEG = -1e9

#: how a region's word scores are normalised before the softmax over regions (see the module doc)
WORD_NORMS = ("softmax", "none", "scan")


def word_region_attention(s: torch.Tensor, word_mask: torch.Tensor, gamma1: float,
                          word_norm: str = "softmax", eps: float = 1e-8) -> torch.Tensor:
    """s (..., T, R) word–region scores, word_mask broadcastable to (..., T) → α (..., T, R):
    each region's scores normalised over the words (``word_norm``: DAMSM's softmax, none, or SCAN's
    LeakyReLU + l2), then the γ1-scaled softmax over regions; rows of padding words are 0.
    For ``scan``, s must already be cosines (:func:`attentional_similarity` normalises)."""
    m = word_mask.unsqueeze(-1)
    if word_norm == "softmax":
        sbar = s.masked_fill(~m, _NEG).softmax(dim=-2)  # finite fill: no NaN gradients for empty texts
    elif word_norm == "scan":
        z = F.leaky_relu(s, 0.1).masked_fill(~m, 0.0)
        sbar = z / (z * z).sum(dim=-2, keepdim=True).clamp_min(eps * eps).sqrt()
    elif word_norm == "none":
        sbar = s
    else:
        raise ValueError(f"word_norm: expected one of {', '.join(WORD_NORMS)}, got {word_norm!r}")
    attn = (gamma1 * sbar).softmax(dim=-1)
    return attn * m


def _norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    """‖x‖ over the last axis with a finite gradient at 0 (padding words are zero vectors)."""
    return (x * x).sum(-1).clamp_min(eps * eps).sqrt()


def _pool(rel: torch.Tensor, word_mask: torch.Tensor, gamma2: float) -> torch.Tensor:
    z = (gamma2 * rel).masked_fill(~word_mask, _NEG)
    out = torch.logsumexp(z, dim=-1) / gamma2
    return torch.where(word_mask.any(-1), out, torch.zeros_like(out))


def attentional_similarity(regions: torch.Tensor, words: torch.Tensor, word_mask: torch.Tensor,
                           gamma1: float = 4.0, gamma2: float = 5.0, *, pairs: bool = False,
                           word_norm: str = "softmax",
                           return_attention: bool = False, eps: float = 1e-8):
    """R(image, text) of every image with every text.

    regions (Bi, R, d), words (Bt, T, d), word_mask (Bt, T) bool → (Bi, Bt); with ``pairs``
    (Bi = Bt) only the matched pairs (image k, text k) → (B,). With ``return_attention`` also
    returns α, (Bi, Bt, T, R) or for ``pairs`` (B, T, R). ``word_norm`` as in
    :func:`word_region_attention`; ``scan`` l2-normalises the regions and words first."""
    word_mask = word_mask.bool()
    if word_norm == "scan":
        regions = F.normalize(regions, dim=-1, eps=eps)
        words = F.normalize(words, dim=-1, eps=eps)
    if pairs:
        if regions.shape[0] != words.shape[0]:
            raise ValueError(f"pairs=True needs as many images as texts, got {regions.shape[0]} and {words.shape[0]}")
        s = torch.einsum("brd,btd->btr", regions, words)
        attn = word_region_attention(s, word_mask, gamma1, word_norm, eps)
        c = torch.einsum("btr,brd->btd", attn, regions)
        rel = (c * words).sum(-1) / (_norm(c, eps) * _norm(words, eps)).clamp_min(eps)
        out = _pool(rel, word_mask, gamma2)
        return (out, attn) if return_attention else out
    s = torch.einsum("ird,jtd->ijtr", regions, words)  # (Bi, Bt, T, R)
    attn = word_region_attention(s, word_mask.unsqueeze(0), gamma1, word_norm, eps)
    r, d = regions.shape[1], regions.shape[2]
    e_norm = _norm(words, eps).unsqueeze(0)  # (1, Bt, T)
    if r <= d:
        dot = (attn * s).sum(-1)  # c_i · e_i
        gram = torch.einsum("ird,iqd->irq", regions, regions)
        c_sq = torch.einsum("ijtr,irq,ijtq->ijt", attn, gram, attn).clamp_min(eps * eps)
        rel = dot / (c_sq.sqrt() * e_norm).clamp_min(eps)
    else:
        c = torch.einsum("ijtr,ird->ijtd", attn, regions)
        dot = torch.einsum("ijtd,jtd->ijt", c, words)
        rel = dot / (_norm(c, eps) * e_norm).clamp_min(eps)
    out = _pool(rel, word_mask.unsqueeze(0), gamma2)
    return (out, attn) if return_attention else out
