import numpy as np
import pytest
import scipy.sparse as sp

from crossmedia.graph import (build_correlation_graph, ppmi_svd_embeddings, random_walks, randomized_svd,
                              restrict_cooccurrence, shifted_ppmi, walk_cooccurrence)


def _reference_cooccurrence(walks, n, window):
    """Pair counts by a plain loop: every (walks[r, t], walks[r, t + o]) for o = 1..window, both orders."""
    c = np.zeros((n, n))
    for row in walks:
        for t in range(len(row)):
            for o in range(1, window + 1):
                if t + o < len(row) and row[t] >= 0 and row[t + o] >= 0:
                    c[row[t], row[t + o]] += 1
                    c[row[t + o], row[t]] += 1
    return c


def _two_cliques(k=5):
    a = np.zeros((2 * k, 2 * k))
    a[:k, :k] = 1
    a[k:, k:] = 1
    np.fill_diagonal(a, 0)
    a[k - 1, k] = a[k, k - 1] = 1  # one bridge, so the graph is connected
    return sp.csr_matrix(a)


def test_walk_cooccurrence_matches_a_plain_loop_including_revisits_and_stopped_walks():
    rng = np.random.default_rng(0)
    walks = rng.integers(0, 6, size=(30, 9))
    walks[rng.random(walks.shape) < 0.1] = -1  # holes: pairs with a stopped position are not counted
    got = walk_cooccurrence(walks, 7, window=3).toarray()
    np.testing.assert_array_equal(got, _reference_cooccurrence(walks, 7, 3))
    assert got[6].sum() == 0  # never visited


def test_restricted_counts_equal_the_restricted_call():
    g = build_correlation_graph(np.array([[0, 1, 1, 0], [0, 0, 1, 1], [1, 1, 0, 0]], np.float32), n_words=4)
    walks = random_walks(g.adj, 10, 12, seed=0)
    full = walk_cooccurrence(walks, g.n_nodes, 3)
    img = np.arange(g.n_nodes) < g.n_images
    for keep, other in ((~img, None), (img, ~img), (img, None)):
        a = restrict_cooccurrence(full, keep, other).toarray()
        b = walk_cooccurrence(walks, g.n_nodes, 3, keep=keep, other=other).toarray()
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="keep"):
        restrict_cooccurrence(full, np.ones(3, bool))


def test_shifted_ppmi_formula():
    c = sp.csr_matrix(np.array([[0, 4, 1], [4, 0, 1], [1, 1, 2]], float))
    m = shifted_ppmi(c, negative=1.0).toarray()
    d = c.toarray()
    deg, tot = d.sum(1), d.sum()
    with np.errstate(divide="ignore"):
        ref = np.where(d > 0, np.log(d * tot / np.outer(deg, deg)), 0.0)
    np.testing.assert_allclose(m, np.maximum(ref, 0), rtol=1e-6)
    m5 = shifted_ppmi(c, negative=5.0).toarray()
    np.testing.assert_allclose(m5, np.maximum(np.where(d > 0, ref - np.log(5), 0), 0), rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="square"):
        shifted_ppmi(sp.csr_matrix(np.ones((2, 3))))


def test_randomized_svd_recovers_a_low_rank_matrix():
    rng = np.random.default_rng(1)
    a = (rng.standard_normal((60, 5)) * [10, 8, 6, 4, 2]) @ rng.standard_normal((5, 40))
    u, s, vt = randomized_svd(sp.csr_matrix(a.astype(np.float32)), 5, seed=0)
    np.testing.assert_allclose(s, np.linalg.svd(a, compute_uv=False)[:5], rtol=1e-3)
    np.testing.assert_allclose(u * s @ vt, a, atol=1e-2 * np.abs(a).max())


def test_ppmi_svd_embeddings_separate_graph_communities_and_are_deterministic():
    adj = _two_cliques()
    walks = random_walks(adj, walks_per_node=20, length=20, seed=0)
    co = walk_cooccurrence(walks, 10, window=3)
    e = ppmi_svd_embeddings(co, dim=4, seed=0)
    assert e.shape == (10, 4) and e.dtype == np.float32
    n = e / np.linalg.norm(e, axis=1, keepdims=True)
    s = n @ n.T
    within = np.mean([s[i, j] for blk in (range(5), range(5, 10)) for i in blk for j in blk if i != j])
    across = np.mean(s[:5, 5:])
    assert within > across + 0.5
    np.testing.assert_array_equal(e, ppmi_svd_embeddings(co, dim=4, seed=0))
    # more dimensions than the matrix's rank: the extra columns are zero, not noise
    wide = ppmi_svd_embeddings(co, dim=16, seed=0)
    assert wide.shape == (10, 16) and np.all(wide[:, 10:] == 0)
    assert not ppmi_svd_embeddings(sp.csr_matrix((4, 4)), dim=3).any()
