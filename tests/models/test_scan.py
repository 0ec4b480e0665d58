import pytest
import torch
import torch.nn.functional as F

from crossmedia.models import scan as scan_mod
from crossmedia.models.scan import StackedCrossAttention, pair_chunk_size, scan_attention, scan_similarity


def _naive(regions, words, rlen, wlen, direction, lam1, pooling, lam2):
    """SCAN for one pair at a time, written as the paper reads (real items only, no masks)."""
    out = torch.zeros(regions.shape[0], words.shape[0], dtype=torch.float64)
    for i in range(regions.shape[0]):
        for j in range(words.shape[0]):
            v = F.normalize(regions[i, : rlen[i]].double(), dim=-1)  # (R, d)
            e = F.normalize(words[j, : wlen[j]].double(), dim=-1)  # (T, d)
            if len(v) == 0 or len(e) == 0:
                continue
            s = F.leaky_relu(v @ e.T, 0.1)  # (R, T)
            if direction == "t-i":
                s = s / s.norm(dim=1, keepdim=True).clamp_min(1e-8)  # over this text's words
                alpha = torch.softmax(lam1 * s, dim=0)  # over regions, per word
                a = alpha.T @ v  # (T, d)
                rel = F.cosine_similarity(e, a, dim=-1)
            else:
                s = s / s.norm(dim=0, keepdim=True).clamp_min(1e-8)  # over this image's regions
                alpha = torch.softmax(lam1 * s, dim=1)  # over words, per region
                a = alpha @ e  # (R, d)
                rel = F.cosine_similarity(v, a, dim=-1)
            out[i, j] = torch.logsumexp(lam2 * rel, 0) / lam2 if pooling == "lse" else rel.mean()
    return out


def _data(seed=0, bi=4, bt=5, r=6, t=7, d=8):
    g = torch.Generator().manual_seed(seed)
    regions = torch.randn(bi, r, d, generator=g, dtype=torch.float64)
    words = torch.randn(bt, t, d, generator=g, dtype=torch.float64)
    rlen = torch.tensor([6, 3, 1, 6][:bi])
    wlen = torch.tensor([7, 2, 4, 1, 0][:bt])
    rmask = torch.arange(r)[None] < rlen[:, None]
    wmask = torch.arange(t)[None] < wlen[:, None]
    # garbage in the padding must not matter
    regions = torch.where(rmask[..., None], regions, 100 * torch.randn(bi, r, d, generator=g, dtype=torch.float64))
    words = torch.where(wmask[..., None], words, 100 * torch.randn(bt, t, d, generator=g, dtype=torch.float64))
    return regions, words, rmask, wmask, rlen, wlen


@pytest.mark.parametrize("direction,lam1", [("t-i", 9.0), ("i-t", 4.0)])
@pytest.mark.parametrize("pooling", ["lse", "mean"])
@pytest.mark.parametrize("chunk", [None, 1, 3])
@pytest.mark.parametrize("norm_form", ["gram", "direct"])
def test_equals_naive_per_pair_loop(direction, lam1, pooling, chunk, norm_form):
    regions, words, rmask, wmask, rlen, wlen = _data()
    got = scan_similarity(regions, words, wmask, rmask, direction=direction, temperature=lam1, pooling=pooling,
                          lse_lambda=5.0, chunk_size=chunk, norm_form=norm_form)
    ref = _naive(regions, words, rlen, wlen, direction, lam1, pooling, 5.0)
    assert got.shape == (4, 5)
    assert torch.allclose(got, ref, atol=1e-9), (got - ref).abs().max()
    assert torch.all(got[:, 4] == 0)  # the text without words


@pytest.mark.parametrize("pooling", ["lse", "mean"])
@pytest.mark.parametrize("chunk", [None, 1, 3])
@pytest.mark.parametrize("padded_regions", [True, False])
def test_one_text_query_path_equals_naive_and_batch(monkeypatch, pooling, chunk, padded_regions):
    # a rerank's single text (t-i, direct norm) takes its own matrix-product path: same numbers
    regions, words, rmask, wmask, rlen, wlen = _data(2)
    if not padded_regions:
        rmask, rlen = torch.ones_like(rmask), torch.full_like(rlen, regions.shape[1])
    calls = []
    orig = scan_mod._one_text_t_i
    monkeypatch.setattr(scan_mod, "_one_text_t_i", lambda *a, **k: calls.append(1) or orig(*a, **k))
    ref = _naive(regions, words, rlen, wlen, "t-i", 9.0, pooling, 5.0)
    for j in range(words.shape[0]):  # texts of 7, 2, 4, 1 and 0 words (padding full of garbage)
        got = scan_similarity(regions, words[j : j + 1], wmask[j : j + 1], rmask, pooling=pooling, lse_lambda=5.0,
                              chunk_size=chunk, norm_form="direct")
        assert got.shape == (4, 1)
        assert torch.allclose(got[:, 0], ref[:, j], atol=1e-9), (got[:, 0] - ref[:, j]).abs().max()
        as_ints = scan_similarity(regions, words[j : j + 1], wmask[j : j + 1].long(), rmask.long(), pooling=pooling,
                                  lse_lambda=5.0, chunk_size=chunk, norm_form="direct")  # 0/1 masks as the batch path
        assert torch.allclose(as_ints, got, atol=1e-12)
        if not padded_regions and wlen[j]:  # no masks given at all: the same
            bare = scan_similarity(regions, words[j : j + 1, : wlen[j]], pooling=pooling, lse_lambda=5.0,
                                   chunk_size=chunk, norm_form="direct")
            assert torch.allclose(bare[:, 0], ref[:, j], atol=1e-9)
    assert calls  # the path was taken
    # the general path (the Gram form) agrees on the same single text
    gram = scan_similarity(regions, words[:1], wmask[:1], rmask, pooling=pooling, lse_lambda=5.0, norm_form="gram")
    assert torch.allclose(gram[:, 0], ref[:, 0], atol=1e-9)


def test_per_text_normalisation_ignores_other_texts_and_padding():
    regions, words, rmask, wmask, *_ = _data(1)
    full = scan_similarity(regions, words, wmask, rmask)
    # each text scored alone, trimmed to its own words: same score (normalisation is per text)
    for j in range(words.shape[0]):
        n = int(wmask[j].sum())
        alone = scan_similarity(regions, words[j : j + 1, : max(n, 1)], wmask[j : j + 1, : max(n, 1)], rmask)
        assert torch.allclose(full[:, j], alone[:, 0], atol=1e-10)
    # attention rows: over real regions only, sum to 1; padded words get none
    _, a = scan_similarity(regions, words, wmask, rmask, return_attention=True)
    assert torch.all(a[~rmask[:, None, None, :].expand_as(a)] == 0)
    sums = a.sum(-1)
    real = wmask[None].expand_as(sums) & rmask.any(1)[:, None, None]
    assert torch.allclose(sums[real], torch.ones_like(sums[real]))
    pa = scan_attention(regions[:4], words[:4], wmask[:4], rmask[:4])
    assert torch.all(pa[~wmask[:4]] == 0)


def test_attention_is_sharper_than_vocabulary_normalisation_at_init():
    # the point of per-text normalisation: one text's few words give a peaked softmax over regions
    g = torch.Generator().manual_seed(0)
    regions, words = torch.randn(1, 9, 32, generator=g), torch.randn(1, 4, 32, generator=g)
    _, a = scan_similarity(regions, words, return_attention=True)
    from crossmedia.models.attention import vocabulary_cross_attention
    vocab = torch.cat([words[0], torch.randn(996, 32, generator=g)])
    _, av = vocabulary_cross_attention(regions, vocab, return_attention=True)
    assert a.max(-1).values.mean() > 2 * av[0, :4].max(-1).values.mean()


@pytest.mark.parametrize("direction", ["t-i", "i-t"])
def test_gradients_flow_to_both_sides(direction):
    regions, words, rmask, wmask, *_ = _data(2)
    regions = regions.float().requires_grad_()
    words = words.float().requires_grad_()
    s = scan_similarity(regions, words, wmask, rmask, direction=direction, chunk_size=2)
    s.sum().backward()
    assert torch.isfinite(regions.grad).all() and torch.isfinite(words.grad).all()
    assert regions.grad[rmask].abs().sum() > 0 and words.grad[wmask].abs().sum() > 0
    assert torch.all(regions.grad[~rmask] == 0) and torch.all(words.grad[~wmask] == 0)


def test_memory_bound_by_chunks(monkeypatch):
    seen = []
    orig = scan_mod._chunk_scores

    def spy(v, e, *a, **k):
        seen.append((v.shape[0], e.shape[0]))
        return orig(v, e, *a, **k)

    monkeypatch.setattr(scan_mod, "_chunk_scores", spy)
    bi, bt, r, t, d = 64, 64, 9, 6, 16
    budget = 8 * bt * t * r
    assert pair_chunk_size(bt, t, r, budget) == 8
    s = scan_similarity(torch.randn(bi, r, d), torch.randn(bt, t, d), budget=budget)
    assert s.shape == (bi, bt)
    assert len(seen) == 8 and all(c <= 8 for c, _ in seen)
    # the largest pair tensor of a chunk is (chunk, Bt, T, R) — within budget, and far from B×B×T×R×d
    assert max(c for c, _ in seen) * bt * t * r <= budget < bi * bt * t * r * d


def test_attended_norm_form_is_direct_for_a_query_and_gram_for_a_training_batch(monkeypatch):
    from crossmedia.models.scan import attended_norm_form

    assert attended_norm_form(1, 4, 49, 64) == "direct"  # one text query against stored 7x7 regions
    assert attended_norm_form(64, 12, 49, 64) == "gram"  # a training batch shares each image's Gram matrix
    seen = []
    orig = scan_mod._chunk_scores

    def spy(*a, **k):
        seen.append(a[-1])
        return orig(*a, **k)

    monkeypatch.setattr(scan_mod, "_chunk_scores", spy)
    scan_similarity(torch.randn(30, 49, 64), torch.randn(2, 4, 64))  # (one text takes _one_text_t_i)
    scan_similarity(torch.randn(3, 49, 64), torch.randn(64, 12, 64))
    assert seen == ["direct", "gram"]
    with pytest.raises(ValueError, match="norm_form"):
        scan_similarity(torch.randn(3, 4, 8), torch.randn(2, 3, 8), norm_form="fast")


def test_direct_form_chunks_count_the_feature_dimension(monkeypatch):
    seen = []
    orig = scan_mod._chunk_scores

    def spy(v, *a, **k):
        seen.append(v.shape[0])
        return orig(v, *a, **k)

    monkeypatch.setattr(scan_mod, "_chunk_scores", spy)
    one = scan_mod._one_text_t_i
    monkeypatch.setattr(scan_mod, "_one_text_t_i", lambda v, *a: seen.append(v.shape[0]) or one(v, *a))
    # R = 2 regions of d = 64: the (chunk, 1, 1, 64) tensor a_w bounds the chunk, not (chunk, 1, 1, 2)
    for texts in (1, 2):  # a single query's own path and the batch path
        seen.clear()
        scan_similarity(torch.randn(40, 2, 64), torch.randn(texts, 1, 64), budget=64 * 10 * texts,
                        norm_form="direct")
        assert max(seen) == 10 and sum(seen) == 40


def test_module_both_directions_is_the_mean():
    regions, words, rmask, wmask, *_ = _data(3)
    m = StackedCrossAttention("both", temperature=9.0, temperature_it=4.0, pooling="mean")
    ti = scan_similarity(regions, words, wmask, rmask, direction="t-i", temperature=9.0, pooling="mean")
    it = scan_similarity(regions, words, wmask, rmask, direction="i-t", temperature=4.0, pooling="mean")
    assert torch.allclose(m(regions, words, wmask, rmask), 0.5 * (ti + it))
    with pytest.raises(ValueError, match="direction"):
        StackedCrossAttention("x")
    with pytest.raises(ValueError, match="pooling"):
        scan_similarity(regions, words, pooling="max")


@pytest.mark.parametrize("pooling", ["lse", "mean"])
@pytest.mark.parametrize("chunk", [None, 1, 3])
@pytest.mark.parametrize("norm_form", ["gram", "direct"])
def test_packed_layout_equals_naive_per_pair_loop(pooling, chunk, norm_form):
    regions, words, rmask, wmask, rlen, wlen = _data()
    got = scan_similarity(regions, words, wmask, rmask, temperature=9.0, pooling=pooling, lse_lambda=5.0,
                          chunk_size=chunk, norm_form=norm_form, layout="packed")
    ref = _naive(regions, words, rlen, wlen, "t-i", 9.0, pooling, 5.0)
    assert torch.allclose(got, ref, atol=1e-9), (got - ref).abs().max()
    assert torch.all(got[:, 4] == 0)  # the text without words


def test_packed_layout_gradients_equal_padded():
    """Training goes through the packed layout (``auto`` on padded batches): its gradients with
    respect to regions and words are the padded layout's, and padding gets none."""
    regions, words, rmask, wmask, _, _ = _data(3)
    grads = {}
    for layout in ("padded", "packed"):
        r, w = regions.clone().requires_grad_(), words.clone().requires_grad_()
        S = scan_similarity(r, w, wmask, rmask, layout=layout)
        (S * torch.linspace(-1, 2, S.numel(), dtype=S.dtype).view_as(S)).sum().backward()
        grads[layout] = (S.detach(), r.grad, w.grad)
    for a, b in zip(grads["padded"], grads["packed"]):
        assert torch.allclose(a, b, atol=1e-10), (a - b).abs().max()
    assert torch.all(grads["packed"][2][~wmask] == 0) and torch.all(grads["packed"][1][~rmask] == 0)


def test_auto_layout_packs_padded_t_i_batches_only(monkeypatch):
    regions, words, rmask, wmask, _, _ = _data()
    calls = []
    real = scan_mod._packed_t_i
    monkeypatch.setattr(scan_mod, "_packed_t_i", lambda *a, **k: calls.append(1) or real(*a, **k))
    scan_similarity(regions, words, wmask, rmask)  # t-i, padded words: packed
    assert calls
    calls.clear()
    scan_similarity(regions, words, None, rmask)  # no padding: nothing to pack
    scan_similarity(regions, words, wmask, rmask, direction="i-t")
    scan_similarity(regions, words, wmask, rmask, return_attention=True)
    assert not calls
    with pytest.raises(ValueError, match="layout='packed' is the t-i direction's"):
        scan_similarity(regions, words, wmask, rmask, direction="i-t", layout="packed")
    with pytest.raises(ValueError, match="layout: expected"):
        scan_similarity(regions, words, wmask, rmask, layout="ragged")


def test_packed_layout_edge_cases():
    regions, words, rmask, wmask, _, _ = _data(4)
    none = torch.zeros_like(wmask)
    none[0, 0] = True  # one word in the whole batch
    rm = rmask.clone()
    rm[1] = False  # an image without regions
    for wm in (none, torch.zeros_like(wmask)):
        a = scan_similarity(regions, words, wm, rm, layout="packed")
        b = scan_similarity(regions, words, wm, rm, layout="padded")
        assert torch.allclose(a, b, atol=1e-12) and torch.all(a[1] == 0)
    assert scan_similarity(regions[:0], words, wmask, rmask[:0], layout="packed").shape == (0, 5)
