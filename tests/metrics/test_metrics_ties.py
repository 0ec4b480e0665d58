"""Tie-aware expectations (tie="expected") against brute-force enumeration of all orderings
within tie groups, plus the random policy's reproducibility."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from crossmedia.metrics import (
    FunctionScorer,
    PrecomputedScorer,
    evaluate_ranking,
    map_at_r,
    mean_average_precision,
    precision_at_k,
    pr_top_n,
    recall_at_k,
)
from crossmedia.metrics.ties import harmonic_segment

FAST = settings(max_examples=50, deadline=None)


def naive(rel_sorted, k=None, normalize="r"):
    """AP of one ranked relevance list, straight from the definitions."""
    rel = list(rel_sorted)
    R = sum(rel)
    if R == 0:
        return 0.0
    K = len(rel) if k is None else min(k, len(rel))
    hits, num = 0, 0.0
    for i in range(K):
        if rel[i]:
            hits += 1
            num += hits / (i + 1)
    if k is None:
        return num / R
    den = {"retrieved": hits, "min_k_r": min(k, R), "r": R}[normalize]
    return num / den if den else 0.0


def all_orders(d):
    """Every ordering of the items that sorts by distance (each within-group order once)."""
    groups = [[i for i in range(len(d)) if d[i] == v] for v in sorted(set(d))]
    for perms in itertools.product(*(itertools.permutations(g) for g in groups)):
        yield [i for p in perms for i in p]


def brute(d, rel, fn):
    vals = [fn([rel[i] for i in order]) for order in all_orders(d)]
    return sum(vals) / len(vals)


cases = st.integers(1, 7).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 2), min_size=n, max_size=n),
    st.lists(st.booleans(), min_size=n, max_size=n)))


@FAST
@given(cases, st.integers(1, 8))
def test_expected_matches_enumeration(case, k):
    d, rel = case
    n = len(d)
    s = PrecomputedScorer(np.array([d]))
    Yq, Yd = np.eye(1), np.array(rel, dtype=float)[:, None]
    e = dict(tie="expected")
    got = mean_average_precision(s, Yq, Yd, **e).value
    assert got == pytest.approx(brute(d, rel, naive), abs=1e-12)
    for norm in ("retrieved", "min_k_r", "r"):
        got = mean_average_precision(s, Yq, Yd, k=k, normalize=norm, **e).value
        assert got == pytest.approx(brute(d, rel, lambda r: naive(r, k, norm)), abs=1e-12), norm
    R = sum(rel)
    assert map_at_r(s, Yq, Yd, **e).value == pytest.approx(brute(d, rel, lambda r: naive(r, R, "r") if R else 0.0), abs=1e-12)
    assert precision_at_k(s, Yq, Yd, k=k, **e).value == pytest.approx(brute(d, rel, lambda r: sum(r[:k]) / k), abs=1e-12)
    curve = pr_top_n(s, Yq, Yd, ns="all", **e).value
    for N in range(1, n + 1):
        assert curve["precision"][N - 1] == pytest.approx(brute(d, rel, lambda r: sum(r[:N]) / N), abs=1e-12)
    # the same values on a float copy of the distances (sort-based tie groups)
    sf = PrecomputedScorer(np.array([d], dtype=float))
    assert mean_average_precision(sf, Yq, Yd, k=k, normalize="retrieved", **e).value == pytest.approx(
        mean_average_precision(s, Yq, Yd, k=k, normalize="retrieved", **e).value, abs=1e-12)
    if R:
        rk = recall_at_k(s, np.array([rel], dtype=bool), ks=(1, 2, 3), **e)
        first = lambda r: next(i for i, x in enumerate(r) if x) + 1  # noqa: E731
        assert rk.per_query[0] == pytest.approx(brute(d, rel, first), abs=1e-12)
        for kk in (1, 2, 3):
            assert rk.value[f"R@{kk}"] == pytest.approx(100 * brute(d, rel, lambda r: float(first(r) <= kk)), abs=1e-9)


def test_expected_equals_index_without_ties():
    rng = np.random.default_rng(0)
    D = rng.standard_normal((5, 40))
    Yq, Yd = rng.random((5, 3)) < 0.5, rng.random((40, 3)) < 0.4
    s = PrecomputedScorer(D)
    names = ["map_all", "map@7", "map@7:min_k_r", "map@7:r", "map@R", "p@5", "pr_topn"]
    a = evaluate_ranking(s, Yq, Yd, names, tie="index")
    b = evaluate_ranking(s, Yq, Yd, names, tie="expected")
    for n in names[:-1]:
        assert a[n]["value"] == pytest.approx(b[n]["value"], abs=1e-12)
    np.testing.assert_allclose(a["pr_topn"]["value"]["recall"], b["pr_topn"]["value"]["recall"], atol=1e-12)


def test_random_is_seeded_and_chunk_independent():
    rng = np.random.default_rng(1)
    D = rng.integers(0, 3, (9, 30))
    Yq, Yd = rng.random((9, 4)) < 0.4, rng.random((30, 4)) < 0.4
    s = PrecomputedScorer(D)
    r1 = mean_average_precision(s, Yq, Yd, tie="random", seed=5, chunk_size=1)
    r2 = mean_average_precision(s, Yq, Yd, tie="random", seed=5, chunk_size=4)
    r3 = mean_average_precision(s, Yq, Yd, tie="random", seed=5)
    assert r1.value == r2.value == r3.value
    assert np.array_equal(r1.per_query, r2.per_query)
    vals = [mean_average_precision(s, Yq, Yd, tie="random", seed=k).value for k in range(300)]
    assert len(set(vals)) > 1
    expected = mean_average_precision(s, Yq, Yd, tie="expected").value
    assert np.mean(vals) == pytest.approx(expected, abs=3 * np.std(vals) / math.sqrt(len(vals)) + 1e-12)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 10**7), st.integers(0, 3000))
@example(44, 1)  # a short segment below the table bound: prefix-sum differences were 1e-14 off here
@example(1, 99)
@example(99, 2)  # across the table / series boundary
def test_harmonic_segment_accuracy(x, m):
    exact = math.fsum(1.0 / j for j in range(x, x + m))
    got = float(harmonic_segment(x, m))
    assert got == pytest.approx(exact, rel=1e-14, abs=1e-300)
    # S2 = m - (a+1) S1 stays accurate in absolute terms
    s2 = math.fsum((i - 1) / (x - 1 + i) for i in range(1, m + 1))
    assert max(m - x * got, 0.0) == pytest.approx(s2, abs=1e-12 * max(1, m))


def test_random_with_many_mixed_tie_groups_uses_permutation_fallback():
    import torch

    from crossmedia.metrics.ties import MAX_MIXED_GROUPS

    n_groups = MAX_MIXED_GROUPS + 50
    D = np.tile(np.repeat(np.arange(n_groups, dtype=float), 2), (3, 1))  # pairs of tied items
    rel = np.zeros((3, 2 * n_groups), dtype=bool)
    rel[:, ::2] = True  # one relevant item in every pair: every group is mixed
    Yq, Yd = np.eye(3), rel.T.astype(float)
    s = PrecomputedScorer(D)
    a = mean_average_precision(s, Yq, Yd, tie="random", seed=1, chunk_size=1)
    b = mean_average_precision(s, Yq, Yd, tie="random", seed=1, chunk_size=3)
    # tensors force the device (torch) ranking path, on CPU
    torch_chunks = FunctionScorer(lambda lo, hi: torch.from_numpy(D[lo:hi]), 3, 2 * n_groups, name="torch")
    t = mean_average_precision(torch_chunks, Yq, Yd, tie="random", seed=1, chunk_size=2)
    assert np.array_equal(a.per_query, b.per_query) and np.array_equal(a.per_query, t.per_query)
    idx = mean_average_precision(s, Yq, Yd, tie="index").value
    exp = mean_average_precision(s, Yq, Yd, tie="expected").value
    # index puts the relevant item of each pair first (best case); random is near the expectation
    assert exp < idx and a.value < idx and abs(a.value - exp) < 0.02
