"""Property tests (hypothesis) for the invariants of METRICS.md."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from crossmedia.metrics import (
    HammingScorer,
    PrecomputedScorer,
    evaluate_ranking,
    mean_average_precision,
)

FAST = settings(max_examples=50, deadline=None)
ALL = ["map_all", "map@3", "map@3:min_k_r", "map@3:r", "map@R", "p@2", "p@n", "pr_topn", "pr_radius"]


def rand_case(seed, nq, nd, bits, nl):
    rng = np.random.default_rng(seed)
    Bq = np.where(rng.random((nq, bits)) < 0.5, 1, -1).astype(np.int8)
    Bd = np.where(rng.random((nd, bits)) < 0.5, 1, -1).astype(np.int8)
    Yq = (rng.random((nq, nl)) < 0.3).astype(np.float32)
    Yd = (rng.random((nd, nl)) < 0.3).astype(np.float32)
    return Bq, Bd, Yq, Yd


@FAST
@given(st.integers(1, 12), st.integers(1, 12), st.sampled_from(["index", "random", "expected"]),
       st.integers(1, 8), st.integers(0, 2**31 - 1))
def test_perfect_ranking_gives_one(R, n_irr, tie, k, seed):
    rng = np.random.default_rng(seed)
    rel = np.array([1] * R + [0] * n_irr, dtype=bool)
    perm = rng.permutation(len(rel))
    d = np.where(rel, 0, 1)[perm]  # relevant strictly closer, ties inside each side
    Yd = rel[perm].astype(float)[:, None]
    s = PrecomputedScorer(d[None, :])
    for norm in ("retrieved", "min_k_r"):
        assert mean_average_precision(s, np.eye(1), Yd, k=k, normalize=norm, tie=tie).value == pytest.approx(1.0)
    out = evaluate_ranking(s, np.eye(1), Yd, ["map_all", "map@R"], tie=tie, seed=seed)
    assert out["map_all"]["value"] == pytest.approx(1.0) and out["map@R"]["value"] == pytest.approx(1.0)


@FAST
@given(st.lists(st.booleans(), min_size=2, max_size=30).filter(lambda r: 0 < sum(r) < len(r)))
def test_reversing_relevance_order_lowers_ap(rel):
    rel = np.array(rel)
    best = np.sort(rel)[::-1]
    d = np.arange(len(rel))[None, :]
    s = PrecomputedScorer(d)

    def ap(r):
        return mean_average_precision(s, np.eye(1), r.astype(float)[:, None]).value

    assert ap(best) == pytest.approx(1.0)
    assert ap(best[::-1]) < 1.0
    assert ap(best[::-1]) <= ap(rel) <= ap(best)


@FAST
@given(st.integers(0, 2**31 - 1), st.integers(1, 9), st.integers(1, 25), st.integers(1, 70),
       st.sampled_from(["index", "random", "expected"]), st.sampled_from(["zero", "skip"]))
def test_chunk_size_does_not_change_results(seed, nq, nd, bits, tie, empty):
    Bq, Bd, Yq, Yd = rand_case(seed, nq, nd, bits, 3)
    s = HammingScorer(Bq, Bd)
    full = evaluate_ranking(s, Yq, Yd, ALL, tie=tie, empty_query=empty, seed=seed % 1000, chunk_size=nq)
    for cs in (1, 2, 5):
        assert evaluate_ranking(s, Yq, Yd, ALL, tie=tie, empty_query=empty, seed=seed % 1000, chunk_size=cs) == full


@FAST
@given(st.integers(0, 2**31 - 1), st.integers(1, 6), st.integers(2, 30), st.integers(1, 16))
def test_permuting_database_leaves_expected_unchanged(seed, nq, nd, bits):
    Bq, Bd, Yq, Yd = rand_case(seed, nq, nd, bits, 3)
    perm = np.random.default_rng(seed + 1).permutation(nd)
    names = ALL[:-3]
    a = evaluate_ranking(HammingScorer(Bq, Bd), Yq, Yd, names, tie="expected")
    b = evaluate_ranking(HammingScorer(Bq, Bd[perm]), Yq, Yd[perm], names, tie="expected")
    assert a == b


@FAST
@given(st.integers(0, 2**31 - 1), st.sampled_from(["index", "random", "expected"]))
def test_inputs_are_not_modified(seed, tie):
    Bq, Bd, Yq, Yd = rand_case(seed, 4, 15, 12, 3)
    D = np.random.default_rng(seed).standard_normal((4, 15))
    arrays = [Bq, Bd, Yq, Yd, D]
    copies = [a.copy() for a in arrays]
    tensors = [torch.from_numpy(a.copy()) for a in arrays]
    tcopies = [t.clone() for t in tensors]
    evaluate_ranking(HammingScorer(Bq, Bd), Yq, Yd, ALL, tie=tie)
    evaluate_ranking(PrecomputedScorer(D), Yq, Yd, ALL[:-1], tie=tie)
    evaluate_ranking(HammingScorer(tensors[0], tensors[1]), tensors[2], tensors[3], ALL, tie=tie)
    evaluate_ranking(PrecomputedScorer(tensors[4]), tensors[2], tensors[3], ALL[:-1], tie=tie)
    for a, c in zip(arrays, copies):
        assert np.array_equal(a, c)
    for t, c in zip(tensors, tcopies):
        assert torch.equal(t, c)


@FAST
@given(st.integers(0, 2**31 - 1), st.sampled_from(["index", "random", "expected"]))
def test_numpy_and_torch_inputs_agree(seed, tie):
    Bq, Bd, Yq, Yd = rand_case(seed, 5, 20, 10, 3)
    a = evaluate_ranking(HammingScorer(Bq, Bd), Yq, Yd, ALL, tie=tie)
    b = evaluate_ranking(HammingScorer(torch.from_numpy(Bq), torch.from_numpy(Bd)), torch.from_numpy(Yq),
                         torch.from_numpy(Yd), ALL, tie=tie)
    assert a == b


def reference_loop_map(Bq, Bd, Yq, Yd):
    """Full-matrix reference: the usual per-query loop with a stable argsort."""
    b = Bq.shape[1]
    H = 0.5 * (b - Bq.astype(float) @ Bd.astype(float).T)
    rel = (Yq.astype(float) @ Yd.astype(float).T) > 0
    aps = []
    for i in range(len(Bq)):
        g = rel[i][np.argsort(H[i], kind="stable")]
        R = int(g.sum())
        aps.append(0.0 if R == 0 else float(np.mean(np.arange(1, R + 1) / (np.flatnonzero(g) + 1.0))))
    return np.array(aps)


@FAST
@given(st.integers(0, 2**31 - 1), st.integers(1, 9), st.integers(1, 40), st.integers(1, 40), st.integers(1, 4))
def test_chunked_equals_full_matrix_reference(seed, nq, nd, bits, cs):
    Bq, Bd, Yq, Yd = rand_case(seed, nq, nd, bits, 4)
    ref = reference_loop_map(Bq, Bd, Yq, Yd)
    r = mean_average_precision(HammingScorer(Bq, Bd), Yq, Yd, chunk_size=cs)
    assert np.array_equal(r.per_query, ref)
    assert abs(r.value - ref.mean()) <= 1e-15
