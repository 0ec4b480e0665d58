"""Attention layers shared by the fine-grained models (CMSL's local branch; DAFSN may reuse them).

* :func:`stacked_cross_attention` — SCAN's text-to-image stacked cross attention (Lee et al.
  ECCV 2018, "t-i" formulation): for every (image, text) pair, each word attends over the
  image's regions and the pair's similarity pools the word-level cosines.
* :func:`vocabulary_cross_attention` — (CMSL's ``local.form=vocabulary`` option, not SCAN) the same word→region attention run for every word of
  the vocabulary, giving each image a text-independent vector of per-word scores; SCAN's
  mean-pooled similarity with a text is then an inner product, so it can be indexed.
* :class:`AttentionPool` — additive (saliency) attention pooling of a set of vectors into one
  vector, with a padding mask; used to turn regions and words into the *local* vectors a model
  can encode per item (cross attention needs both items, so it cannot index a database).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .scan import l2norm, scan_similarity

__all__ = ["stacked_cross_attention", "vocabulary_cross_attention", "AttentionPool", "l2norm"]


def stacked_cross_attention(regions: torch.Tensor, words: torch.Tensor, word_mask: torch.Tensor | None = None,
                            region_mask: torch.Tensor | None = None, temperature: float = 9.0,
                            pooling: str = "lse", lse_lambda: float = 6.0,
                            return_attention: bool = False):
    """SCAN t-i similarity of every image with every text: regions (Bi, R, d), words (Bt, T, d),
    word_mask (Bt, T) → S (Bi, Bt) [, α (Bi, Bt, T, R)]. The t-i case of
    :func:`crossmedia.models.scan.scan_similarity` (l2-normalised features, per-text
    normalisation, softmax over regions with λ1 = ``temperature``, LSE λ2 = ``lse_lambda`` or mean)."""
    return scan_similarity(regions, words, word_mask, region_mask, direction="t-i", temperature=temperature,
                           pooling=pooling, lse_lambda=lse_lambda, return_attention=return_attention)


def vocabulary_cross_attention(regions: torch.Tensor, words: torch.Tensor, word_mask: torch.Tensor | None = None,
                               temperature: float = 9.0, return_attention: bool = False):
    """Per-word scores of every image against the whole vocabulary.

    regions (B, R, d), words (V, d) (the vocabulary's word features), word_mask (V,) bool →
    scores (B, V): c_w = cos(e_w, a_w) with a_w = Σ_r α_rw v_r the region vector word w attends to,
    α = softmax over regions of ``temperature`` · s̄, s̄ = l2-normalised (over the vocabulary)
    LeakyReLU(0.1) of cos(v_r, e_w) — SCAN's t-i attention (Lee et al. ECCV 2018) with the query
    axis being the vocabulary instead of one text's words. Because nothing depends on the text,
    SCAN's mean-pooled similarity with a text of word set W is (1/|W|) Σ_{w∈W} c_w = ⟨c, bow/|W|⟩,
    an inner product between a per-image and a per-text vector. Masked words score 0.
    With ``return_attention`` also returns α (B, V, R)."""
    v = l2norm(regions)
    e = l2norm(words)
    s = F.leaky_relu(torch.einsum("brd,vd->bvr", v, e), 0.1)
    if word_mask is not None:
        s = s * word_mask.view(1, -1, 1)
    s = l2norm(s, dim=1)
    attn = (temperature * s).softmax(dim=-1)
    attended = torch.einsum("bvr,brd->bvd", attn, regions)
    scores = F.cosine_similarity(words.unsqueeze(0).expand_as(attended), attended, dim=-1, eps=1e-8)
    if word_mask is not None:
        scores = scores * word_mask.view(1, -1)
    return (scores, attn) if return_attention else scores


class AttentionPool(nn.Module):
    """Additive saliency attention pooling: a_n = softmax_n(wᵀ tanh(W x_n)), pooled = Σ_n a_n x_n
    (the attention of hierarchical attention networks, Yang et al. NAACL 2016). Masked items get
    no weight; an all-masked set pools to 0."""

    def __init__(self, dim: int, hidden: int = 64):
        super().__init__()
        self.proj = nn.Linear(dim, hidden)
        self.score = nn.Linear(hidden, 1, bias=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, return_weights: bool = False):
        logits = self.score(torch.tanh(self.proj(x))).squeeze(-1)  # (B, N)
        if mask is not None:
            logits = logits.masked_fill(~mask, -float("inf"))
        w = torch.softmax(logits, dim=-1)
        w = torch.nan_to_num(w, nan=0.0)  # rows with no valid item
        pooled = torch.einsum("bn,bnd->bd", w, x)
        return (pooled, w) if return_weights else pooled
