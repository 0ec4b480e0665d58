"""Engines: our AQD / Hamming / float scans against brute force, and FAISS built from the same
codes against them — same top-k up to ties."""

import numpy as np
import pytest

from crossmedia.quant import CompositeQuantizer
from crossmedia.engines import (AQDEngine, FaissEngine, FloatEngine, HammingEngine, merge_top_k, pack_bits,
                                       top_k)


def assert_same_topk_up_to_ties(ref_scores, s, rows, k, atol=1e-4):
    """``rows``/``s`` (one query's top-k from an engine) agree with the exact ``ref_scores``:
    the returned scores are the k best exact scores, each row's score is its exact score, and
    every item strictly better than the k-th best is returned."""
    best = np.sort(ref_scores)[::-1][:k]
    np.testing.assert_allclose(s, best, atol=atol, rtol=1e-5)
    np.testing.assert_allclose(ref_scores[rows], s, atol=atol, rtol=1e-5)
    must = np.flatnonzero(ref_scores > best[-1] + atol)
    assert set(must) <= set(rows.tolist())
    assert len(set(rows.tolist())) == len(rows)


@pytest.fixture(scope="module")
def aq_data():
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((20, 16)).astype(np.float32) * 2
    x = (centers[rng.integers(0, 20, 3000)] + 0.3 * rng.standard_normal((3000, 16))).astype(np.float32)
    q = CompositeQuantizer(M=4, K=256, dim=16).train(x[:1500], n_iter=2, kmeans_iter=5)
    codes = q.encode(x)
    queries = rng.standard_normal((6, 16)).astype(np.float32)
    return q, codes, queries


def test_top_k_stable_tie_policy():
    s = np.array([1.0, 3.0, 3.0, 2.0, 3.0, 0.0], dtype=np.float32)
    v, r = top_k(s, 2)
    assert r.tolist() == [1, 2] and v.tolist() == [3.0, 3.0]
    v, r = top_k(s, 4)
    assert r.tolist() == [1, 2, 4, 3]
    assert top_k(s, 10)[1].tolist() == [1, 2, 4, 3, 0, 5]
    v, r = merge_top_k([top_k(s[:3], 2), top_k(s[3:], 2, offset=3)], 3)
    assert r.tolist() == [1, 2, 4]


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("M", [4, 3])  # even M: paired 16-bit tables; odd: plain tables
def test_aqd_engine_matches_quantizer(aq_data, backend, M):
    q, codes, queries = aq_data
    cb = q.codebooks[:M]
    codes = codes[:, :M]
    eng = AQDEngine(cb, codes, backend=backend, chunk=700)  # chunk smaller than N: exercises chunking
    ref = np.einsum("qd,nd->qn", queries, sum(cb[m][codes[:, m]] for m in range(M)))
    np.testing.assert_allclose(eng.scores(queries), ref, rtol=1e-5, atol=1e-4)
    s, rows = eng.search(queries, 10)
    for i in range(len(queries)):
        assert_same_topk_up_to_ties(ref[i], s[i], rows[i], 10)
        # exact stable order on its own scores
        own = eng.scores(queries[i])[0]
        assert rows[i].tolist() == top_k(own, 10)[1].tolist()


def test_aqd_threads_same_result(aq_data):
    q, codes, queries = aq_data
    one = AQDEngine(q.codebooks, codes).search(queries, 10)
    two = AQDEngine(q.codebooks, codes, threads=3).search(queries, 10)
    np.testing.assert_array_equal(one[1], two[1])
    np.testing.assert_array_equal(one[0], two[0])


@pytest.mark.parametrize("nlist", [0, 8])
def test_faiss_additive_quantizer_same_topk_as_aqd(aq_data, nlist, tmp_path):
    q, codes, queries = aq_data
    ours = AQDEngine(q.codebooks, codes)
    fe = FaissEngine.from_codes(q.codebooks, codes, nlist=nlist)
    if nlist:
        fe.set_nprobe(nlist)  # all lists probed: exhaustive, must equal the scan
    ref = ours.scores(queries)
    s, rows = fe.search(queries, 10)
    for i in range(len(queries)):
        assert_same_topk_up_to_ties(ref[i], s[i], rows[i], 10, atol=1e-3)
    # faiss.write_index round trip
    fe.write(tmp_path / "x.faiss")
    back = FaissEngine.read(tmp_path / "x.faiss", "aq")
    if nlist:
        back.set_nprobe(nlist)
    s2, rows2 = back.search(queries, 10)
    np.testing.assert_array_equal(rows2, rows)
    np.testing.assert_array_equal(s2, s)
    assert fe.bytes_per_item == 4


def test_hamming_engine_and_faiss_binary(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2000, 32)).astype(np.float32)
    queries = rng.standard_normal((5, 32)).astype(np.float32)
    packed = pack_bits(x)
    eng = HammingEngine(packed, 32)
    bq, bd = np.where(queries >= 0, 1, -1), np.where(x >= 0, 1, -1)
    ref_d = 0.5 * (32 - bq @ bd.T)  # METRICS.md: H = ½(b − B_q·B_dᵀ)
    np.testing.assert_array_equal(eng.distances(queries), ref_d)
    s, rows = eng.search(queries, 10)
    for kind in ("flat", "hash", "ivf"):
        fe = FaissEngine.from_binary(packed, 32, kind=kind, hash_bits=8, nflip=8, nlist=4, nprobe=4)
        fs, frows = fe.search(queries, 10)
        for i in range(5):
            assert_same_topk_up_to_ties(-ref_d[i], s[i], rows[i], 10)
            if kind != "hash":  # exhaustive (IVF with every list probed): same as the scan up to ties
                assert_same_topk_up_to_ties(-ref_d[i], fs[i], frows[i], 10)
            else:  # approximate: whatever it returns carries its true distance
                ok = frows[i] >= 0
                np.testing.assert_array_equal(fs[i][ok], -ref_d[i][frows[i][ok]])
    fe = FaissEngine.from_binary(packed, 32)
    fe.write(tmp_path / "b.faiss")
    np.testing.assert_array_equal(FaissEngine.read(tmp_path / "b.faiss", "binary", bits=32).search(queries, 7)[1],
                                  fe.search(queries, 7)[1])


@pytest.mark.parametrize("metric", ["ip", "cosine"])
def test_float_engine_and_faiss_flat(metric):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1500, 24)).astype(np.float32)
    queries = rng.standard_normal((4, 24)).astype(np.float32)
    eng = FloatEngine(x, metric, chunk=400)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True) if metric == "cosine" else x
    qn = queries / np.linalg.norm(queries, axis=1, keepdims=True) if metric == "cosine" else queries
    ref = qn @ xn.T
    np.testing.assert_allclose(eng.scores(queries), ref, rtol=1e-5, atol=1e-5)
    for fe in (FaissEngine.from_vectors(x, metric), FaissEngine.from_vectors(x, metric, nlist=4, nprobe=4)):
        s, rows = fe.search(queries, 10)
        for i in range(4):
            assert_same_topk_up_to_ties(ref[i], s[i], rows[i], 10)


def test_search_fewer_items_than_k():
    eng = FloatEngine(np.eye(3, dtype=np.float32))
    s, rows = eng.search(np.ones(3, np.float32), 5)
    assert rows[0].tolist()[:3] == [0, 1, 2] and rows[0].tolist()[3:] == [-1, -1]
    assert np.isneginf(s[0, 3:]).all()
