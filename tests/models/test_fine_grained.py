"""The fine-grained hooks of the model API (reranking, heatmaps): defaults and CMSL's SCAN
cross attention."""

import pytest
import torch

from crossmedia.models import REGION_FEATURES, DataInfo, get_model
from crossmedia.models.attention import stacked_cross_attention

SMALL = {"bits": 8, "K": 16, "global_dim": 8, "cnn_channels": [4, 8, 8, 8], "image_hidden": 16, "text_hidden": 16,
         "graph": {"enabled": False}, "expansion": {"enabled": False}, "local": {"dim": 8, "out_dim": 4}}


def _model(name="cmsl", **over):
    info = DataInfo(n_labels=3, vocab=["<pad>", "<unk>", "red", "blue", "circle"], image_size=24)
    torch.manual_seed(0)
    return get_model(name, {**SMALL, **over} if name == "cmsl" else {"bits": 8}, info).eval()


def test_defaults_raise():
    m = _model("twotower")
    assert m.supports_fine_grained is False
    with pytest.raises(NotImplementedError, match="twotower"):
        m.fine_grained_scores({}, {})
    with pytest.raises(NotImplementedError):
        m.word_region_attention({}, {})
    cdq = _model("cmsl", local={"enabled": False})
    assert cdq.supports_fine_grained is False
    with pytest.raises(NotImplementedError):
        cdq.fine_grained_scores({}, {})


def test_cmsl_fine_grained_scores_are_scan_and_regions_shortcut():
    m = _model()
    assert m.supports_fine_grained
    images = {"image": torch.rand(3, 3, 24, 24)}
    texts = {"tokens": torch.tensor([[2, 4, 0, 0], [3, 1, 0, 0], [0, 0, 0, 0]])}
    with torch.no_grad():
        s = m.fine_grained_scores(images, texts)
        regions = m.image_regions(images)
        # projected by the local branch: the image side of the score, what the index stores
        assert regions.shape == (3, 9, m.region_proj.out_features)
        torch.testing.assert_close(regions, m.region_proj(m.cnn(images["image"])[1]))
        # stored regions give the same scores as pixels (what the index relies on)
        torch.testing.assert_close(m.fine_grained_scores({REGION_FEATURES: regions}, texts), s)
        words, mask = m._words(texts)
        ref = stacked_cross_attention(regions, words, mask, temperature=9.0, pooling="lse", lse_lambda=6.0)
    torch.testing.assert_close(s, ref)
    assert s.shape == (3, 3) and torch.all(s[:, 2] == 0)  # a text without known words scores 0


def test_cmsl_word_region_attention_pairs():
    m = _model()
    images = {"image": torch.rand(2, 3, 24, 24)}
    texts = {"tokens": torch.tensor([[2, 1, 4, 0], [3, 0, 0, 0]])}
    with torch.no_grad():
        att = m.word_region_attention(images, texts)
    assert [a.shape for a in att] == [(2, 9), (1, 9)]  # <unk> dropped; rows = known words
    for a in att:
        torch.testing.assert_close(a.sum(1), torch.ones(a.shape[0]))
    with pytest.raises(ValueError, match="pairs"):
        m.word_region_attention({"image": torch.rand(3, 3, 24, 24)}, texts)
