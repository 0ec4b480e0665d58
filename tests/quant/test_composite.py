import numpy as np
import pytest
import torch

from crossmedia.quant import CompositeQuantizer, bits_to_codebooks, kmeans


def _data(n=300, d=8, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((6, d)) * 2
    return (centres[rng.integers(0, 6, n)] + 0.3 * rng.standard_normal((n, d))).astype(np.float32)


def test_bits_to_codebooks():
    assert [bits_to_codebooks(b) for b in (16, 32, 64, 128)] == [2, 4, 8, 16]
    assert bits_to_codebooks(12, K=16) == 3
    with pytest.raises(ValueError):
        bits_to_codebooks(20)
    with pytest.raises(ValueError):
        bits_to_codebooks(16, K=100)


def test_kmeans_finds_separated_clusters():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(c, 0.05, (50, 2)) for c in (-5.0, 0.0, 5.0)]).astype(np.float32)
    c = kmeans(torch.from_numpy(x), 3, seed=0).numpy()
    assert np.allclose(np.sort(c[:, 0]), [-5, 0, 5], atol=0.1)
    # deterministic; more centroids than points is allowed
    assert torch.equal(kmeans(torch.from_numpy(x), 3, seed=0), kmeans(torch.from_numpy(x), 3, seed=0))
    assert kmeans(torch.from_numpy(x[:5]), 8, seed=0).shape == (8, 2)


def test_icm_never_increases_quantization_error():
    x = _data()
    q = CompositeQuantizer(M=3, K=16, dim=8)
    codes = q.init_kmeans(x, seed=0)
    rng = np.random.default_rng(0)
    # also from random codes, where ICM has a lot to fix
    for start in (codes, rng.integers(0, 16, codes.shape).astype(np.uint8)):
        err = q.quantization_error(x, start)
        c = start
        for sweep in range(3):
            for m in rng.permutation(3):
                c = q.icm_step(x, c, int(m))
                new = q.quantization_error(x, c)
                assert new <= err + 1e-5
                err = new
        assert q.quantization_error(x, q.encode(x, init_codes=start)) <= q.quantization_error(x, start) + 1e-5
    # an ICM step is the exact minimiser over its codebook: no single codeword change improves it
    c = q.icm_step(x, codes, 1)
    base = ((x - q.decode(c)) ** 2).sum(1)
    for k in range(16):
        alt = c.copy()
        alt[:, 1] = k
        assert np.all(((x - q.decode(alt)) ** 2).sum(1) >= base - 1e-4)


def test_closed_form_codebooks_equal_least_squares():
    x = _data(n=200, d=5)
    q = CompositeQuantizer(M=2, K=8, dim=5, ridge=1e-3)
    codes = q.init_kmeans(x, seed=0)
    C = q.update_codebooks(x, codes)
    H = np.zeros((len(x), 2 * 8))
    H[np.arange(len(x)), codes[:, 0]] = 1
    H[np.arange(len(x)), 8 + codes[:, 1].astype(int)] = 1
    ref = np.linalg.solve(H.T @ H + 1e-3 * np.eye(16), H.T @ x.astype(np.float64))
    np.testing.assert_allclose(C.reshape(16, 5), ref, rtol=1e-4, atol=1e-5)
    # and it does not increase the error for the codes it was fitted to
    q2 = CompositeQuantizer(M=2, K=8, dim=5)
    q2.codebooks = C
    assert q2.quantization_error(x, codes) <= q.quantization_error(x, codes) + 1e-6


def test_train_encode_decode_numpy_and_torch():
    x = _data(n=400, d=8)
    q = CompositeQuantizer(M=2, K=16, dim=8).train(x, n_iter=3, seed=0)
    codes = q.encode(x)
    assert codes.shape == (400, 2) and codes.dtype == np.uint8
    assert q.decode(codes).shape == (400, 8)
    err = q.quantization_error(x, codes)
    assert err < 0.25 * float((x ** 2).sum(1).mean())
    xt = torch.from_numpy(x)
    ct = q.encode(xt)
    assert isinstance(ct, torch.Tensor) and np.array_equal(ct.numpy(), codes.astype(np.int64))
    assert torch.allclose(q.decode(ct), torch.from_numpy(q.decode(codes)))
    # deterministic training
    q2 = CompositeQuantizer(M=2, K=16, dim=8).train(x, n_iter=3, seed=0)
    assert np.array_equal(q.codebooks, q2.codebooks)


def test_chunked_encoding_matches_unchunked():
    x = _data(n=250, d=8)
    q = CompositeQuantizer(M=2, K=16, dim=8).train(x, n_iter=2)
    a = q.encode(x)
    q.chunk = 7
    assert np.array_equal(a, q.encode(x))


def test_bad_shapes():
    q = CompositeQuantizer(M=2, K=4, dim=3)
    with pytest.raises(ValueError):
        q.codebooks = np.zeros((2, 4, 5))
    with pytest.raises(ValueError):
        CompositeQuantizer(M=0, K=4, dim=3)


def test_codebook_update_from_normal_equations_of_parts():
    """update_codebooks is exactly solve_codebooks(normal_equations); the equations of two parts
    of the items add up to those of all items (how data-parallel ranks share the update)."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(300, 8, generator=g)
    codes = torch.randint(0, 16, (300, 3), generator=g)
    q = CompositeQuantizer(3, 16, 8)
    whole = q.update_codebooks(x, codes).clone()
    assert torch.equal(q.solve_codebooks(*q.normal_equations(x, codes)), whole)
    (h1, x1), (h2, x2) = q.normal_equations(x[:170], codes[:170]), q.normal_equations(x[170:], codes[170:])
    hth, htx = q.normal_equations(x, codes)
    assert torch.equal(h1 + h2, hth) and torch.allclose(x1 + x2, htx, atol=1e-12)
    assert torch.allclose(q.solve_codebooks(h1 + h2, x1 + x2), whole, atol=1e-6)


# ---------------------------------------------------------------- constant inner-product constraint
def _penalised(q, x, codes):
    """Per-item ‖x − x̂‖² + μ(ξ − ε)², ξ summed over the codeword pairs by brute force."""
    cb = q.codebooks
    sel = cb[np.arange(q.M)[None], codes.astype(np.int64)]  # (N, M, D)
    xi = sum(
        (sel[:, a] * sel[:, b]).sum(1) for a in range(q.M) for b in range(q.M) if a != b)
    return ((x - sel.sum(1)) ** 2).sum(1) + q.constant_weight * (xi - q.epsilon) ** 2, xi


def test_cross_terms_and_the_penalised_icm_step():
    x = _data()
    q = CompositeQuantizer(M=3, K=16, dim=8, constant_weight=0.5)
    codes = q.init_kmeans(x, seed=0)
    q.update_epsilon(codes)
    per, xi = _penalised(q, x, codes)
    assert np.allclose(q.cross_terms(codes), xi, atol=1e-3)
    assert q.epsilon == pytest.approx(float(xi.mean()), rel=1e-4)
    assert q.penalised_objective(x, codes) == pytest.approx(float(per.sum()), rel=1e-4)
    # an ICM step with the penalty is the exact per-item minimiser of the penalised objective over
    # its codebook (and so never increases it); without the penalty it would choose otherwise
    c = q.icm_step(x, codes, 1)
    base, _ = _penalised(q, x, c)
    assert base.sum() <= per.sum() + 1e-3
    for k in range(16):
        alt = c.copy()
        alt[:, 1] = k
        assert np.all(_penalised(q, x, alt)[0] >= base - 1e-3)
    plain = CompositeQuantizer(M=3, K=16, dim=8)
    plain.codebooks = q.codebooks
    assert not np.array_equal(plain.icm_step(x, codes, 1), c)


def test_the_penalty_makes_euclidean_tables_exact_up_to_a_constant():
    """Trained with μ > 0, the cross terms barely vary across items, so ‖q − x̂‖² ≈
    Σ_m ‖q − C_m[b_m]‖² − (M − 1)‖q‖² + ε; without the penalty they spread widely."""
    x = _data(n=600, d=8, seed=1)
    spread = {}
    for mu in (0.0, 1.0):
        q = CompositeQuantizer(M=3, K=16, dim=8, constant_weight=mu).train(x, n_iter=6, seed=0)
        codes = q.encode(x)
        xi = q.cross_terms(codes)
        spread[mu] = xi.std() / (x * x).sum(1).mean()
        if mu:
            qry = _data(n=20, d=8, seed=2)
            cb = q.codebooks
            tables = ((qry[:, None, None, :] - cb[None]) ** 2).sum(-1)  # (Q, M, K)
            approx = tables[:, np.arange(3)[None], codes.astype(np.int64)].sum(-1) \
                - 2 * (qry * qry).sum(1)[:, None] + q.epsilon
            exact = ((qry[:, None, :] - q.decode(codes)[None]) ** 2).sum(-1)
            assert np.abs(approx - exact).mean() < 0.05 * exact.mean()
            assert q.quantization_error(x, codes) < 0.5 * (x * x).sum(1).mean()
    assert spread[1.0] < 0.2 * spread[0.0]


def test_codebook_refinement_lowers_the_penalised_objective():
    """refine_codebooks (L-BFGS for fixed codes and ε) starts from the closed-form least squares
    and lowers Σ‖x − x̂‖² + μΣ(ξ − ε)²; with μ = 0 the least squares are already its minimum.
    (Summed over data-parallel ranks: tests/train/test_distributed.py.)"""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(240, 6, generator=g)
    codes = torch.randint(0, 8, (240, 2), generator=g)
    q = CompositeQuantizer(2, 8, 6, constant_weight=20.0, refine_iters=5)
    q.update_codebooks(x, codes)
    q.update_epsilon(codes)
    before, spread = q.penalised_objective(x, codes), q.cross_terms(codes).std()
    q.refine_codebooks(x, codes)
    assert q.penalised_objective(x, codes) < before - 0.02 * before
    assert q.cross_terms(codes).std() < 0.5 * spread
    plain = CompositeQuantizer(2, 8, 6, ridge=0.0)
    ls = plain.update_codebooks(x, codes).clone()
    plain.refine_codebooks(x, codes)
    assert torch.allclose(plain.codebooks_t, ls, atol=1e-4)


def test_constant_weight_must_be_a_finite_non_negative_number():
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="constant_weight"):
            CompositeQuantizer(M=2, K=4, dim=3, constant_weight=bad)
