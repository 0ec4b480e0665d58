import pytest
import torch

from crossmedia.models.word_region import attentional_similarity, word_region_attention


def _reference(regions, words, mask, g1, g2, word_norm="softmax"):
    """The DAMSM (and SCAN) formulas, one pair at a time, written out plainly."""
    bi, bt = regions.shape[0], words.shape[0]
    out = torch.zeros(bi, bt)
    for i in range(bi):
        for j in range(bt):
            n = int(mask[j].sum())
            if n == 0:
                continue
            e, v = words[j, :n], regions[i]
            if word_norm == "scan":  # SCAN: unit regions and words, LeakyReLU, l2 over this text's words
                e, v = e / e.norm(dim=1, keepdim=True), v / v.norm(dim=1, keepdim=True)
            s = e @ v.T  # (T, R)
            if word_norm == "softmax":
                sbar = s.softmax(0)
            elif word_norm == "scan":
                z = torch.where(s > 0, s, 0.1 * s)
                sbar = z / z.norm(dim=0, keepdim=True)
            else:
                sbar = s
            a = (g1 * sbar).softmax(1)
            c = a @ v
            rel = torch.nn.functional.cosine_similarity(c, e, dim=1)
            out[i, j] = torch.logsumexp(g2 * rel, 0) / g2
    return out


@pytest.mark.parametrize("r,d", [(9, 16), (40, 8)])  # Gram-matrix path (R ≤ d) and explicit context path
@pytest.mark.parametrize("word_norm", ["softmax", "none", "scan"])
def test_attentional_similarity_matches_the_formulas(r, d, word_norm):
    g = torch.Generator().manual_seed(0)
    regions = torch.randn(3, r, d, generator=g)
    words = torch.randn(4, 6, d, generator=g)
    mask = torch.tensor([[1] * 6, [1] * 3 + [0] * 3, [0] * 6, [1] + [0] * 5]).bool()
    got = attentional_similarity(regions, words, mask, 4.0, 5.0, word_norm=word_norm)
    want = _reference(regions, words, mask, 4.0, 5.0, word_norm)
    assert torch.allclose(got, want, atol=1e-4)
    assert (got[:, 2] == 0).all()  # a text without words scores 0
    pairs = attentional_similarity(regions[:3], words[:3], mask[:3], 4.0, 5.0, pairs=True, word_norm=word_norm)
    assert torch.allclose(pairs, got[:3, :3].diag(), atol=1e-4)


def test_attention_rows_sum_to_one_and_padding_rows_are_zero():
    g = torch.Generator().manual_seed(1)
    regions, words = torch.randn(2, 9, 8, generator=g), torch.randn(2, 5, 8, generator=g)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]).bool()
    _, attn = attentional_similarity(regions, words, mask, pairs=True, return_attention=True)
    sums = attn.sum(-1)
    assert torch.allclose(sums[mask], torch.ones(int(mask.sum())), atol=1e-6)
    assert (sums[~mask] == 0).all()
    _, full = attentional_similarity(regions, words, mask, return_attention=True)
    assert full.shape == (2, 2, 5, 9)
    assert torch.allclose(full[1, 0].sum(-1)[mask[0]], torch.ones(3), atol=1e-6)


def test_gamma1_sharpens_the_attention():
    s = torch.tensor([[[1.0, 2.0, 3.0], [3.0, 1.0, 0.0]]])
    mask = torch.ones(1, 2, dtype=torch.bool)
    soft, sharp = word_region_attention(s, mask, 1.0), word_region_attention(s, mask, 20.0)
    assert sharp.max(-1).values.min() > soft.max(-1).values.max()


def test_gradients_are_finite_with_empty_texts_and_padding():
    regions = torch.randn(2, 9, 8, requires_grad=True)
    words = torch.randn(2, 4, 8, requires_grad=True)
    mask = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0]]).bool()
    attentional_similarity(regions, words, mask).sum().backward()
    assert torch.isfinite(regions.grad).all() and torch.isfinite(words.grad).all()


def test_scan_attention_is_blind_to_feature_scale_and_to_the_other_texts_padding():
    g = torch.Generator().manual_seed(2)
    regions, words = torch.randn(2, 9, 8, generator=g), torch.randn(3, 5, 8, generator=g)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]).bool()
    scaled = regions * torch.rand(2, 9, 1, generator=g).add(0.5)  # per-region scales: SCAN normalises them away
    a = attentional_similarity(regions, words, mask, 9.0, 5.0, word_norm="scan")
    b = attentional_similarity(scaled, 3.0 * words, mask, 9.0, 5.0, word_norm="scan")
    assert torch.allclose(a, b, atol=1e-5)
    assert not torch.allclose(attentional_similarity(regions, words, mask, 9.0, 5.0, word_norm="none"),
                              attentional_similarity(scaled, words, mask, 9.0, 5.0, word_norm="none"), atol=1e-3)
    # padding words take no share of a region's l2 norm: garbage in padded slots changes nothing
    noisy = words.clone()
    noisy[0, 3:] = 100.0
    assert torch.allclose(attentional_similarity(regions, noisy, mask, 9.0, 5.0, word_norm="scan"), a, atol=1e-5)


def test_an_unknown_word_norm_is_refused():
    with pytest.raises(ValueError, match="word_norm"):
        attentional_similarity(torch.randn(1, 4, 8), torch.randn(1, 2, 8), torch.ones(1, 2, dtype=torch.bool),
                               word_norm="l1")
