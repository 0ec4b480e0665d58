import numpy as np
import pytest
import torch

from crossmedia.metrics import AQDScorer, InnerProductScorer, PrecomputedScorer, SQDScorer


def _data(seed=0, M=3, K=5, D=4, N=9, Q=4):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((M, K, D)), rng.integers(0, K, (N, M)), rng.standard_normal((Q, D)),
            rng.integers(0, K, (Q, M)))


def _recon(cb, codes):
    return sum(cb[m][codes[:, m]] for m in range(cb.shape[0]))


def test_aqd_matches_reconstruction():
    cb, codes, q, _ = _data()
    s = AQDScorer(q, cb, codes)
    assert s.n_queries == 4 and s.n_db == 9 and not s.discrete
    np.testing.assert_allclose(s.distances(0, 4), -(q @ _recon(cb, codes).T), rtol=1e-12, atol=1e-12)
    t = AQDScorer(torch.from_numpy(q), torch.from_numpy(cb), torch.from_numpy(codes))
    out = t.distances(1, 3)
    assert isinstance(out, torch.Tensor)
    np.testing.assert_allclose(out.numpy(), -(q[1:3] @ _recon(cb, codes).T), rtol=1e-12, atol=1e-12)


def test_sqd_matches_reconstruction():
    cb, codes, _, qcodes = _data(1)
    s = SQDScorer(qcodes, cb, codes)
    ref = -(_recon(cb, qcodes) @ _recon(cb, codes).T)
    np.testing.assert_allclose(s.distances(0, 4), ref, rtol=1e-12, atol=1e-12)
    t = SQDScorer(torch.from_numpy(qcodes), torch.from_numpy(cb), torch.from_numpy(codes))
    np.testing.assert_allclose(t.distances(0, 4).numpy(), ref, rtol=1e-12, atol=1e-12)


def test_inner_product_and_cosine():
    rng = np.random.default_rng(2)
    q, d = rng.standard_normal((3, 5)), rng.standard_normal((6, 5))
    np.testing.assert_allclose(InnerProductScorer(q, d).distances(0, 3), -(q @ d.T))
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    dn = d / np.linalg.norm(d, axis=1, keepdims=True)
    np.testing.assert_allclose(InnerProductScorer(q, d, cosine=True).distances(0, 3), -(qn @ dn.T))
    t = InnerProductScorer(torch.from_numpy(q), torch.from_numpy(d), cosine=True).distances(0, 3)
    assert isinstance(t, torch.Tensor)
    np.testing.assert_allclose(t.numpy(), -(qn @ dn.T))


def test_precomputed():
    D = np.array([[3, 1, 2], [0, 0, 5]])
    s = PrecomputedScorer(D)
    assert s.discrete and s.max_distance == 5
    assert np.array_equal(s.distances(1, 2), D[1:2])
    assert not PrecomputedScorer(D.astype(float)).discrete
    assert isinstance(PrecomputedScorer(torch.from_numpy(D)).distances(0, 2), torch.Tensor)


def test_function_scorer_ranks_like_the_matrix_it_returns():
    from crossmedia.metrics import FunctionScorer, mean_average_precision, pr_hamming_radius

    rng = np.random.default_rng(3)
    D = rng.integers(0, 9, (5, 12))
    Yq, Yd = rng.random((5, 3)) < 0.5, rng.random((12, 3)) < 0.5
    f = FunctionScorer(lambda s, e: D[s:e], 5, 12, discrete=True, max_distance=8)
    assert f.discrete and f.max_distance == 8 and f.device is None and f.n_bits is None
    a = mean_average_precision(f, Yq, Yd, tie="expected")
    b = mean_average_precision(PrecomputedScorer(D, max_distance=8), Yq, Yd, tie="expected")
    assert np.array_equal(a.per_query, b.per_query)
    assert pr_hamming_radius(f, Yq, Yd).value is not None  # discrete with a bound: radii 0..8
    assert f.distance_bound == 8 and len(pr_hamming_radius(f, Yq, Yd).value["radius"]) == 9
    from crossmedia.metrics import HammingScorer
    h = HammingScorer(np.ones((2, 12)), np.zeros((3, 12)))
    assert h.distance_bound == 12 == h.n_bits
    assert FunctionScorer(lambda s, e: D[s:e], 5, 12).distance_bound is None
    with pytest.raises(ValueError, match="distance bound"):
        pr_hamming_radius(FunctionScorer(lambda s, e: D[s:e], 5, 12, discrete=True), Yq, Yd)
    with pytest.raises(IndexError, match="outside 0:5"):
        f.native_distances(4, 6)
    with pytest.raises(ValueError, match="max_distance needs discrete=True"):
        FunctionScorer(lambda s, e: D[s:e], 5, 12, max_distance=8)


def test_metrics_take_scorers_only():
    from crossmedia.metrics import mean_average_precision, pr_hamming_radius

    class Lookalike:  # the attributes a Scorer has, but not its class
        n_queries, n_db, name, discrete, n_bits, max_distance, device = 2, 3, "x", False, None, None, None

        def distances(self, s, e):
            return np.zeros((e - s, 3))

    Y = np.ones((2, 1)), np.ones((3, 1))
    for fn in (mean_average_precision, pr_hamming_radius):
        with pytest.raises(TypeError, match="must be a crossmedia.metrics Scorer .*FunctionScorer.*got Lookalike"):
            fn(Lookalike(), *Y)
