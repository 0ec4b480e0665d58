"""SCAN's stacked cross attention (Lee, Chen, Hua, Hu, He. ECCV 2018), both formulations, scored
for every (image, text) pair of two batches.

Recipe (SCAN §3.1–3.2, "clipped_l2norm" attention):

* region features v_r and word features e_w are l2-normalised;
* s_rw = v_rᵀ e_w (cosine), LeakyReLU(0.1), then l2-normalised over the *query* axis of the one
  pair — over the words of one text for t-i, over the regions of one image for i-t (padding
  excluded from that norm);
* **t-i** (words attend to regions): α_rw = softmax_r(λ1 · s̄_rw), a_w = Σ_r α_rw v_r,
  R_w = cos(e_w, a_w), pooled over the text's words;
* **i-t** (regions attend to words): α_wr = softmax_w(λ1 · s̄_rw), a_r = Σ_w α_wr e_w,
  R_r = cos(v_r, a_r), pooled over the image's regions;
* pooling: LogSumExp (1/λ2) log Σ exp(λ2 R) or the mean (SCAN's AVG).

SCAN's reference settings: t-i λ1 = 9 with LSE λ2 = 6; i-t λ1 = 4 with AVG (λ2 = 5 for LSE).

Vectorised over all pairs without any (B_i, B_t, T, R, d) or even (B_i, B_t, T, d) tensor: with
unit-norm features, e_wᵀ a_w = Σ_r α_rw s_rw and ‖a_w‖² = α_wᵀ G α_w with G = V Vᵀ the (R, R)
region Gram matrix of the image (for i-t, the (T, T) word Gram matrix of the text), so every pair
tensor has shape (chunk, B_t, T, R) (for t-i, when B_t·T is small — one query's few words —
computing a_w itself, (chunk, B_t, T, d), is cheaper than the Gram matrix and is used instead:
:func:`attended_norm_form`; a single text — a query's rerank — takes a path of its own with
batched matrix products over its real words only). t-i over a padded batch of texts packs their
real words instead: (chunk, n, R) over the batch's n words, the per-text norms and pooling as
segment sums (the ``packed`` layout of :func:`scan_similarity`). Images are processed
``chunk_size`` at a time (:func:`pair_chunk_size` picks it from an element budget), so the
largest pair tensor holds at
most ``max(budget, B_t·T·R)`` elements. Under autograd the saved activations of all chunks stay
alive until backward, so training memory is a few (B_i, B_t, T, R) tensors in total — still no
feature dimension.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["scan_similarity", "scan_attention", "pair_chunk_size", "attended_norm_form", "StackedCrossAttention",
           "l2norm"]

DEFAULT_BUDGET = 1 << 24  # elements of the largest (chunk, B_t, T, R) pair tensor (64 MiB float32)


def l2norm(x: torch.Tensor, dim: int = -1, eps: float = 1e-8) -> torch.Tensor:
    return x / x.norm(dim=dim, keepdim=True).clamp_min(eps)


def _masked_unit(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """l2norm(x) with masked rows zeroed, in one pass over x (the mask folded into the scale)."""
    return x * (mask[..., None].to(x.dtype) / x.norm(dim=-1, keepdim=True).clamp_min(eps))


def pair_chunk_size(n_texts: int, n_words: int, n_regions: int, budget: int = DEFAULT_BUDGET) -> int:
    """How many images to score at once so that a (chunk, n_texts, n_words, n_regions) tensor has
    at most ``budget`` elements (at least 1 image)."""
    per_image = max(int(n_texts) * int(n_words) * int(n_regions), 1)
    return max(int(budget) // per_image, 1)


LAYOUTS = ("auto", "padded", "packed")


def _check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"layout: expected 'auto', 'padded' or 'packed', got {layout!r}")


def _check(direction: str, pooling: str) -> None:
    if direction not in ("t-i", "i-t"):
        raise ValueError(f"direction: expected 't-i' or 'i-t', got {direction!r}")
    if pooling not in ("lse", "mean"):
        raise ValueError(f"pooling: expected 'lse' or 'mean', got {pooling!r}")


def _pool(rel: torch.Tensor, mask: torch.Tensor, pooling: str, lse_lambda: float) -> torch.Tensor:
    """Pool the last axis of ``rel`` over the items where ``mask`` is True; 0 when none is."""
    has = mask.any(-1)
    if pooling == "lse":
        z = (lse_lambda * rel).masked_fill(~mask, -float("inf"))
        out = torch.logsumexp(z, dim=-1) / lse_lambda
    else:
        m = mask.to(rel.dtype)
        out = (rel * m).sum(-1) / m.sum(-1).clamp_min(1)
    return torch.where(has, out, torch.zeros_like(out))


def attended_norm_form(n_texts: int, n_words: int, n_regions: int, dim: int) -> str:
    """How t-i computes ‖a_w‖² per image: ``"gram"`` (α_wᵀ G α_w with the (R, R) region Gram
    matrix, R²·d + B_t·T·R² multiply-adds) or ``"direct"`` (a_w = Σ_r α_rw v_r, then its norm;
    B_t·T·R·d), whichever costs fewer: a batch of training texts shares one Gram matrix per
    image, a single query (B_t·T of a few words) is far cheaper directly."""
    gram = n_regions * n_regions * dim + n_texts * n_words * n_regions * n_regions
    direct = n_texts * n_words * n_regions * dim
    return "direct" if direct < gram else "gram"


def _chunk_scores(v, e, rmask, wmask, direction, temperature, pooling, lse_lambda, return_attention,
                  norm_form: str = "gram"):
    """v (c, R, d) and e (Bt, T, d) unit-norm; masks (c, R), (Bt, T) → (c, Bt) [, α]."""
    raw = torch.einsum("ird,jwd->ijwr", v, e)  # (c, Bt, T, R) cosines
    pair_mask = wmask[None, :, :, None] & rmask[:, None, None, :]
    s = F.leaky_relu(raw, 0.1) * pair_mask
    if direction == "t-i":
        s = l2norm(s, dim=2)  # over this text's words (padding is 0, so it adds nothing)
        logits = (temperature * s).masked_fill(~rmask[:, None, None, :], -float("inf"))
        attn = torch.nan_to_num(logits.softmax(dim=-1), nan=0.0)  # over regions; (c, Bt, T, R)
        dot = (attn * raw).sum(-1)  # e_wᵀ a_w
        if norm_form == "direct":
            sq = torch.einsum("ijwr,ird->ijwd", attn, v).square().sum(-1)  # ‖a_w‖²
        else:
            gram = torch.einsum("ird,isd->irs", v, v)
            sq = torch.einsum("ijwr,irs,ijws->ijw", attn, gram, attn)  # ‖a_w‖²
        rel = dot / sq.clamp_min(1e-16).sqrt()
        out = _pool(rel, wmask[None].expand_as(rel), pooling, lse_lambda)
    else:
        s = l2norm(s, dim=3)  # over this image's regions
        logits = (temperature * s).masked_fill(~wmask[None, :, :, None], -float("inf"))
        attn = torch.nan_to_num(logits.softmax(dim=2), nan=0.0)  # over words; (c, Bt, T, R)
        dot = (attn * raw).sum(2)  # v_rᵀ a_r, (c, Bt, R)
        gram = torch.einsum("jwd,jud->jwu", e, e)
        sq = torch.einsum("ijwr,jwu,ijur->ijr", attn, gram, attn)  # ‖a_r‖²
        rel = dot / sq.clamp_min(1e-16).sqrt()
        out = _pool(rel, rmask[:, None, :].expand_as(rel), pooling, lse_lambda)
    both = rmask.any(1)[:, None] & wmask.any(1)[None, :]
    out = torch.where(both, out, torch.zeros_like(out))
    return (out, attn) if return_attention else out


def _one_text_t_i(v, e, rmask, temperature, pooling, lse_lambda):
    """t-i of one text against a chunk of images — a query's rerank — with two matrix products
    and no word masks: v (c, R, d) unit-norm (padding rows zero), e (T, d) unit-norm real words
    only (T ≥ 1), rmask (c, R) bool, or None without region padding → (c,). The same numbers as
    :func:`_chunk_scores` with ``Bt = 1`` and the direct ‖a_w‖²; the pair tensors are laid out
    (T, c, R) so that the softmax over regions runs along contiguous memory."""
    c, r, d = v.shape
    raw = torch.mm(e, v.reshape(c * r, d).T).view(-1, c, r)  # (T, c, R) cosines, one matrix product
    s = F.leaky_relu(raw, 0.1)
    if rmask is not None:
        s = s * rmask
    s = s * torch.rsqrt(s.square().sum(0, keepdim=True).clamp_min(1e-16))  # l2 over the text's words
    logits = temperature * s
    if rmask is not None:
        logits = logits.masked_fill(~rmask, -float("inf"))
    attn = logits.softmax(dim=-1)  # over regions, (T, c, R)
    if rmask is not None:
        attn = torch.nan_to_num(attn, nan=0.0)
    dot = (attn * raw).sum(-1).T  # e_wᵀ a_w, (c, T)
    sq = torch.bmm(attn.transpose(0, 1), v).square().sum(-1)  # ‖a_w‖², (c, T)
    rel = dot / sq.clamp_min(1e-16).sqrt()
    out = torch.logsumexp(lse_lambda * rel, dim=-1) / lse_lambda if pooling == "lse" else rel.mean(-1)
    if rmask is not None:
        out = torch.where(rmask.any(1), out, torch.zeros_like(out))
    return out


def _packed_t_i(v, e, seg, count, rmask, temperature, pooling, lse_lambda, norm_form):
    """t-i of a chunk of images against a batch of texts whose real words are packed along one
    axis: v (c, R, d) unit-norm (padding rows zero), e (n, d) the unit-norm real words of all
    texts one after another, ``seg`` (n,) the text each word belongs to, ``count`` (n_texts,)
    each text's number of words, rmask (c, R) bool → (c, n_texts). The same numbers as
    :func:`_chunk_scores` (up to rounding) with no padded word in any pair tensor: (c, n, R)
    instead of (c, n_texts, T, R); the per-text norm and pooling are segment sums (``index_add``)."""
    c, r, _ = v.shape
    n_texts = count.shape[0]
    raw = torch.matmul(e, v.transpose(1, 2))  # (c, n, R) cosines
    s = F.leaky_relu(raw, 0.1) * rmask[:, None, :]
    # l2 over the words of each text: a segment sum of squares, gathered back to the words
    ss = s.new_zeros(c, n_texts, r).index_add_(1, seg, s.square())
    s = s / ss.clamp_min(1e-16).sqrt().index_select(1, seg)  # = max(‖·‖, 1e-8); no 0 under the root
    logits = (temperature * s).masked_fill(~rmask[:, None, :], -float("inf"))
    attn = torch.nan_to_num(logits.softmax(dim=-1), nan=0.0)  # over regions; (c, n, R)
    dot = (attn * raw).sum(-1)  # e_wᵀ a_w, (c, n)
    if norm_form == "direct":
        sq = torch.matmul(attn, v).square().sum(-1)  # ‖a_w‖²
    else:
        gram = torch.matmul(v, v.transpose(1, 2))  # (c, R, R)
        sq = (torch.matmul(attn, gram) * attn).sum(-1)  # ‖a_w‖² = α_wᵀ G α_w
    rel = dot / sq.clamp_min(1e-16).sqrt()  # (c, n)
    has = count > 0
    if pooling == "lse":
        z = lse_lambda * rel
        # a per-text shift (no gradient: log Σ exp(z) = m + log Σ exp(z − m) for any m)
        m = z.new_full((c, n_texts), -float("inf")).scatter_reduce(1, seg.expand(c, -1), z.detach(), "amax")
        m = torch.where(has, m, torch.zeros_like(m))
        total = z.new_zeros(c, n_texts).index_add_(1, seg, torch.exp(z - m.index_select(1, seg)))
        out = (m + torch.log(total + (~has).to(total.dtype))) / lse_lambda
    else:
        out = rel.new_zeros(c, n_texts).index_add_(1, seg, rel) / count.clamp_min(1).to(rel.dtype)
    both = rmask.any(1)[:, None] & has[None, :]
    return torch.where(both, out, torch.zeros_like(out))


def scan_similarity(regions: torch.Tensor, words: torch.Tensor, word_mask: torch.Tensor | None = None,
                    region_mask: torch.Tensor | None = None, *, direction: str = "t-i", temperature: float = 9.0,
                    pooling: str = "lse", lse_lambda: float = 6.0, chunk_size: int | None = None,
                    budget: int = DEFAULT_BUDGET, return_attention: bool = False, norm_form: str = "auto",
                    layout: str = "auto"):
    """SCAN similarity of every image with every text.

    regions (Bi, R, d), words (Bt, T, d), word_mask (Bt, T) / region_mask (Bi, R) bool (True =
    real item) → S (Bi, Bt). ``direction`` t-i or i-t, λ1 = ``temperature``, pooling ``lse`` (λ2 =
    ``lse_lambda``) or ``mean`` (see the module docstring). A text without words (or an image
    without regions) scores 0. Images are scored ``chunk_size`` at a time (default: from
    ``budget``, see :func:`pair_chunk_size`). With ``return_attention`` also returns α (Bi, Bt,
    T, R): t-i rows (over regions) or i-t columns (over words) sum to 1. ``norm_form``: how t-i
    gets ‖a_w‖² (:func:`attended_norm_form`; ``auto`` picks the cheaper, the result is the same).
    ``layout`` of the t-i pair tensors: ``padded`` (c, Bt, T, R), or ``packed`` (c, n, R) over the
    n real words of the batch (:func:`_packed_t_i`: the same scores up to rounding, at n / (Bt·T)
    of the work — a batch of tags is mostly padding); ``auto`` packs t-i batches whose words are
    padded, unless ``return_attention`` (α is returned padded). i-t is always padded."""
    _check(direction, pooling)
    if norm_form not in ("auto", "gram", "direct"):
        raise ValueError(f"norm_form: expected 'auto', 'gram' or 'direct', got {norm_form!r}")
    _check_layout(layout)
    if layout == "packed" and (direction != "t-i" or return_attention):
        raise ValueError("layout='packed' is the t-i direction's without return_attention")
    bi, r, dim = regions.shape
    bt, t, _ = words.shape
    norm_auto = norm_form == "auto"
    if norm_auto:  # only t-i has the choice; i-t's Gram matrix is the text's (T, T)
        norm_form = attended_norm_form(bt, t, r, dim) if direction == "t-i" else "gram"
    if direction == "t-i" and bt == 1 and norm_form == "direct" and not return_attention:
        # one text query (a rerank): its real words only, matrix products, no word masks
        e = words[0] if word_mask is None else words[0][word_mask[0].bool()]
        if e.shape[0] == 0:
            return regions.new_zeros(bi, 1)
        rmask = None if region_mask is None or bool(region_mask.all()) else region_mask.bool()
        v = l2norm(regions) if rmask is None else _masked_unit(regions, rmask)
        e = l2norm(e)
        c = int(chunk_size) if chunk_size else pair_chunk_size(1, e.shape[0], max(r, dim), budget)
        outs = [_one_text_t_i(v[s : s + c], e, None if rmask is None else rmask[s : s + c], float(temperature),
                              pooling, float(lse_lambda)) for s in range(0, bi, c)]
        return torch.cat(outs)[:, None] if outs else regions.new_zeros(0, 1)
    if word_mask is None:
        word_mask = torch.ones(bt, t, dtype=torch.bool, device=words.device)
    if region_mask is None:
        region_mask = torch.ones(bi, r, dtype=torch.bool, device=regions.device)
    word_mask, region_mask = word_mask.bool(), region_mask.bool()
    v = _masked_unit(regions, region_mask)
    if layout == "auto":
        layout = "packed" if direction == "t-i" and not return_attention and not bool(word_mask.all()) else "padded"
    if layout == "packed":
        flat = word_mask.reshape(-1).nonzero().squeeze(1)
        e = l2norm(words.reshape(-1, dim).index_select(0, flat))  # (n, d) real words only
        seg = torch.div(flat, t, rounding_mode="floor")
        n = int(flat.numel())
        if norm_auto:  # the cost model over the real words
            norm_form = attended_norm_form(1, n, r, dim)
        c = int(chunk_size) if chunk_size else pair_chunk_size(1, max(n, 1), max(r, dim) if norm_form == "direct" else r,
                                                               budget)
        count = word_mask.sum(1)  # words per text
        outs = [_packed_t_i(v[s : s + c], e, seg, count, region_mask[s : s + c], float(temperature), pooling,
                            float(lse_lambda), norm_form) for s in range(0, bi, c)]
        return torch.cat(outs) if outs else regions.new_zeros(0, bt)
    e = _masked_unit(words, word_mask)
    # the direct form's (chunk, Bt, T, d) tensor counts against the budget too
    direct = direction == "t-i" and norm_form == "direct"
    c = int(chunk_size) if chunk_size else pair_chunk_size(bt, t, max(r, dim) if direct else r, budget)
    outs, attns = [], []
    for s in range(0, bi, c):
        res = _chunk_scores(v[s : s + c], e, region_mask[s : s + c], word_mask, direction, float(temperature),
                            pooling, float(lse_lambda), return_attention, norm_form)
        if return_attention:
            outs.append(res[0])
            attns.append(res[1])
        else:
            outs.append(res)
    out = torch.cat(outs) if outs else regions.new_zeros(0, bt)
    if return_attention:
        return out, (torch.cat(attns) if attns else regions.new_zeros(0, bt, t, r))
    return out


def scan_attention(regions: torch.Tensor, words: torch.Tensor, word_mask: torch.Tensor | None = None,
                   region_mask: torch.Tensor | None = None, *, temperature: float = 9.0) -> torch.Tensor:
    """t-i attention of each text's words over the regions of its *paired* image (Bi = Bt = B):
    α (B, T, R), rows sum to 1 for real words, 0 for padding."""
    if regions.shape[0] != words.shape[0]:
        raise ValueError(f"scan_attention: {regions.shape[0]} images but {words.shape[0]} texts; pairs expected")
    out = []
    for i in range(regions.shape[0]):
        wm = None if word_mask is None else word_mask[i : i + 1]
        rm = None if region_mask is None else region_mask[i : i + 1]
        _, a = scan_similarity(regions[i : i + 1], words[i : i + 1], wm, rm, temperature=temperature,
                               return_attention=True)
        a = a[0, 0]
        if wm is not None:
            a = a * wm[0, :, None]
        out.append(a)
    return torch.stack(out) if out else regions.new_zeros(0, words.shape[1], regions.shape[1])


class StackedCrossAttention(nn.Module):
    """SCAN's similarity as a module holding its settings: ``direction`` t-i, i-t or ``both`` (the
    mean of the two, SCAN's t-i + i-t ensemble at the score level); λ1 per direction
    (``temperature`` t-i, ``temperature_it`` i-t), ``pooling`` and λ2; ``layout`` of the t-i pair
    tensors (:func:`scan_similarity`; ``auto`` packs padded batches, the scores are the same). No
    parameters: the projections into the joint space belong to the model."""

    def __init__(self, direction: str = "t-i", temperature: float = 9.0, temperature_it: float = 4.0,
                 pooling: str = "lse", lse_lambda: float = 6.0, budget: int = DEFAULT_BUDGET, layout: str = "auto"):
        super().__init__()
        if direction not in ("t-i", "i-t", "both"):
            raise ValueError(f"direction: expected 't-i', 'i-t' or 'both', got {direction!r}")
        _check_layout(layout)
        _check("t-i", pooling)
        self.direction, self.pooling, self.layout = direction, pooling, layout
        self.temperature, self.temperature_it = float(temperature), float(temperature_it)
        self.lse_lambda, self.budget = float(lse_lambda), int(budget)

    def forward(self, regions, words, word_mask=None, region_mask=None) -> torch.Tensor:
        kw = dict(pooling=self.pooling, lse_lambda=self.lse_lambda, budget=self.budget)
        out = None
        if self.direction in ("t-i", "both"):
            out = scan_similarity(regions, words, word_mask, region_mask, direction="t-i",
                                  temperature=self.temperature, layout=self.layout, **kw)
        if self.direction in ("i-t", "both"):
            it = scan_similarity(regions, words, word_mask, region_mask, direction="i-t",
                                 temperature=self.temperature_it, **kw)
            out = it if out is None else 0.5 * (out + it)
        return out

    def extra_repr(self) -> str:
        return (f"direction={self.direction}, λ1={self.temperature}/{self.temperature_it}, pooling={self.pooling}, "
                f"λ2={self.lse_lambda}, layout={self.layout}")
