

def test_similar_fraction_counts_without_the_n_by_n_matrix():
    import torch

    from crossmedia.losses import label_similarity, similar_fraction

    g = torch.Generator().manual_seed(0)
    labels = (torch.rand(300, 6, generator=g) < 0.2).float()
    exact = float(label_similarity(labels, labels).sum()) / 300 ** 2
    assert similar_fraction(labels) == float(label_similarity(labels, labels).mean())  # small: the matrix itself
    assert abs(similar_fraction(labels, chunk=64) - exact) < 1e-12  # blocks of 64 rows: exact counts


def _stored_case(b=7, n=40, d=5, labels=6, seed=0, spread=1.0):
    import torch

    g = torch.Generator().manual_seed(seed)
    u = (torch.randn(b, d, generator=g) * spread).requires_grad_()
    stored = torch.randn(n, d, generator=g) * spread
    la = (torch.rand(b, labels, generator=g) < 0.3).float()
    lb = (torch.rand(n, labels, generator=g) < 0.3).float()
    return u, stored, la, lb


def test_label_similarity_is_one_where_a_label_is_shared():
    import torch

    from crossmedia.losses import label_similarity

    a = torch.tensor([[1, 1, 0], [0, 0, 0], [0, 0, 1]])
    b = torch.tensor([[1, 1, 1], [0, 1, 0], [0, 0, 0]])
    s = label_similarity(a, b)
    assert s.dtype == torch.float32
    assert s.tolist() == [[1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]  # two shared labels → 1.0, not 2.0


def test_stored_likelihood_matches_the_summed_pairwise_loss_and_its_gradient():
    import torch

    from crossmedia.losses import label_similarity, pairwise_likelihood_loss, stored_likelihood_loss

    for pw in (None, 1.0, 4.5):
        for spread in (1.0, 12.0):  # 12: |θ| up to ~hundreds, softplus saturates
            u, stored, la, lb = _stored_case(spread=spread)
            s = label_similarity(la, lb)
            assert 0 < float(s.mean()) < 1
            ref = pairwise_likelihood_loss(u, stored, s, scale=0.5, reduction="sum", pos_weight=pw)
            (gref,) = torch.autograd.grad(ref, u)
            got = stored_likelihood_loss(u, stored, s, scale=0.5, pos_weight=pw)
            (ggot,) = torch.autograd.grad(got * 3.0, u)  # the incoming gradient is applied
            assert torch.allclose(got, ref, rtol=1e-5), (pw, spread, float(got), float(ref))
            assert torch.allclose(ggot, 3.0 * gref, rtol=1e-4, atol=1e-4), (pw, spread)


def test_stored_likelihood_leaves_the_stored_outputs_without_gradient():
    import torch

    from crossmedia.losses import label_similarity, stored_likelihood_loss

    u, stored, la, lb = _stored_case()
    stored.requires_grad_()
    stored_likelihood_loss(u, stored, label_similarity(la, lb), pos_weight=2.0).backward()
    assert stored.grad is None and u.grad is not None and u.grad.abs().sum() > 0


def test_stored_likelihood_under_bf16_autocast_is_float32_with_the_inputs_gradient_dtype():
    import torch

    from crossmedia.losses import label_similarity, pairwise_likelihood_loss, stored_likelihood_loss

    u, stored, la, lb = _stored_case()
    s = label_similarity(la, lb)
    ub = u.detach().to(torch.bfloat16).requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = stored_likelihood_loss(ub, stored, s, pos_weight=2.0)
    got.backward()
    ref = pairwise_likelihood_loss(ub.detach().float(), stored, s, reduction="sum", pos_weight=2.0)
    assert got.dtype == torch.float32 and ub.grad.dtype == torch.bfloat16
    assert torch.allclose(got, ref, rtol=1e-5)


def test_stored_likelihood_refuses_mismatched_shapes():
    import pytest
    import torch

    from crossmedia.losses import stored_likelihood_loss

    u, stored, la, lb = _stored_case()
    with pytest.raises(ValueError, match="s of shape"):
        stored_likelihood_loss(u, stored, torch.zeros(7, 39))
    with pytest.raises(ValueError, match="stored"):
        stored_likelihood_loss(u, stored[:, :4], torch.zeros(7, 40))


def test_score_likelihood_on_inner_products_is_the_pairwise_likelihood():
    import torch

    from crossmedia.losses import pairwise_likelihood_loss, score_likelihood_loss

    g = torch.Generator().manual_seed(0)
    u, v = torch.randn(5, 3, generator=g), torch.randn(4, 3, generator=g)
    s = (torch.rand(5, 4, generator=g) > 0.6).float()
    for red in ("mean", "weighted_mean", "sum"):
        a = pairwise_likelihood_loss(u, v, s, scale=0.5, clip=1.0, reduction=red, pos_weight=3.0)
        b = score_likelihood_loss(u @ v.T, s, scale=0.5, clip=1.0, reduction=red, pos_weight=3.0)
        torch.testing.assert_close(a, b)
    # by hand: softplus(θ) − sθ, similar pairs weighted, clipped θ
    theta = (2.0 * (u @ v.T)).clamp(-1.5, 1.5)
    w = 1.0 + 2.0 * s
    want = ((torch.nn.functional.softplus(theta) - s * theta) * w).sum() / w.sum()
    got = score_likelihood_loss(u @ v.T, s, scale=2.0, clip=1.5, reduction="weighted_mean", pos_weight=3.0)
    torch.testing.assert_close(got, want)
