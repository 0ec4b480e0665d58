import pytest
import torch

from crossmedia.models.attention import AttentionPool, stacked_cross_attention, vocabulary_cross_attention


def test_scan_attention_picks_the_matching_region():
    # 3 regions along axes; a word equal to region 1 attends (almost) only to it
    regions = torch.eye(3).unsqueeze(0) * 2.0  # (1, 3, 3)
    words = torch.tensor([[[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]])  # (1, 2, 3)
    s, attn = stacked_cross_attention(regions, words, temperature=9.0, return_attention=True)
    assert attn.shape == (1, 1, 2, 3)
    assert attn[0, 0, 0].argmax() == 1 and attn[0, 0, 1].argmax() == 2
    assert s.shape == (1, 1) and s.item() > 0.9


def test_scan_masks_padding_and_empty_texts():
    g = torch.Generator().manual_seed(0)
    regions = torch.randn(2, 4, 5, generator=g)
    words = torch.randn(3, 6, 5, generator=g)
    mask = torch.zeros(3, 6, dtype=torch.bool)
    mask[0, :2] = True
    mask[1, :6] = True  # text 2 is empty
    s = stacked_cross_attention(regions, words, mask)
    assert torch.all(s[:, 2] == 0)
    # padding content does not matter
    words2 = words.clone()
    words2[0, 2:] = torch.randn(4, 5, generator=g)
    assert torch.allclose(s, stacked_cross_attention(regions, words2, mask))
    # mean pooling of one text = mean of its word scores; LSE ≥ max ≥ mean
    m = stacked_cross_attention(regions, words, mask, pooling="mean")
    assert torch.all(stacked_cross_attention(regions, words, mask, pooling="lse")[:, :2] >= m[:, :2] - 1e-6)
    with pytest.raises(ValueError):
        stacked_cross_attention(regions, words, mask, pooling="max")


def test_vocabulary_attention_scores_and_mask():
    g = torch.Generator().manual_seed(1)
    regions = torch.randn(4, 9, 8, generator=g)
    vocab = torch.randn(6, 8, generator=g)
    mask = torch.tensor([False, False, True, True, True, True])
    c, attn = vocabulary_cross_attention(regions, vocab, mask, return_attention=True)
    assert c.shape == (4, 6) and attn.shape == (4, 6, 9)
    assert torch.all(c[:, :2] == 0) and torch.all(c.abs() <= 1 + 1e-6)
    assert torch.allclose(attn.sum(-1), torch.ones(4, 6))


def test_attention_pool_respects_mask():
    pool = AttentionPool(4, hidden=3)
    x = torch.randn(2, 5, 4)
    mask = torch.tensor([[True, True, False, False, False], [False] * 5])
    out, w = pool(x, mask, return_weights=True)
    assert torch.allclose(w[0].sum(), torch.tensor(1.0)) and torch.all(w[0, 2:] == 0)
    assert torch.all(out[1] == 0) and torch.all(w[1] == 0)
