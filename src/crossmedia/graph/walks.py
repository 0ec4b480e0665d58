"""Truncated random walks over a weighted CSR graph (DeepWalk, Perozzi et al. KDD 2014).

``walks_per_node`` walks of ``length`` nodes start from every node (DeepWalk: 10 and 40); each
step moves to a neighbour with probability proportional to the edge weight. All walks advance
together, one vectorised step at a time: with G the cumulative sum of the CSR ``data`` array, a
walker at node u draws r ~ U(0, 1) and moves to the neighbour whose cumulative-weight interval
contains G[start(u)−1] + r · deg(u) (one ``searchsorted`` for all walkers). A walk that reaches
a node without neighbours stops there; the rest of its row is −1.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["random_walks", "walk_cooccurrence", "transition_counts"]


def random_walks(adj: sp.csr_matrix, walks_per_node: int = 10, length: int = 40, seed: int = 0,
                 start_nodes: np.ndarray | None = None) -> np.ndarray:
    """(walks_per_node · n_start, length) int64 node ids, −1 after a walk stops. Deterministic
    for ``seed``; walks are ordered pass by pass, each pass over the start nodes in a shuffled
    order (as DeepWalk shuffles the nodes each pass)."""
    adj = sp.csr_matrix(adj)
    if adj.shape[0] != adj.shape[1]:
        raise ValueError(f"adj: expected a square matrix, got {adj.shape}")
    if length < 1 or walks_per_node < 1:
        raise ValueError("walks_per_node and length must be ≥ 1")
    if adj.nnz and adj.data.min() < 0:
        raise ValueError("adj: edge weights must be non-negative")
    rng = np.random.default_rng(seed)
    n = adj.shape[0]
    indptr, indices = adj.indptr.astype(np.int64), adj.indices.astype(np.int64)
    cum = np.cumsum(adj.data, dtype=np.float64)
    starts = np.arange(n) if start_nodes is None else np.asarray(start_nodes, dtype=np.int64)
    first = np.concatenate([rng.permutation(starts) for _ in range(int(walks_per_node))])
    walks = np.full((len(first), int(length)), -1, dtype=np.int64)
    walks[:, 0] = first
    cur = first.copy()
    alive = np.ones(len(first), dtype=bool)
    for t in range(1, int(length)):
        lo, hi = indptr[cur], indptr[cur + 1]
        base = np.where(lo > 0, cum[np.maximum(lo - 1, 0)], 0.0)
        total = np.where(hi > lo, cum[np.maximum(hi - 1, 0)] - base, 0.0)
        alive &= total > 0
        if not alive.any():
            break
        r = rng.random(len(cur))
        target = base + r * total
        pos = np.searchsorted(cum, target, side="right")
        pos = np.clip(pos, lo, np.maximum(hi - 1, lo))
        nxt = np.where(alive, indices[np.minimum(pos, len(indices) - 1)] if len(indices) else cur, -1)
        walks[:, t] = nxt
        cur = np.where(alive, nxt, cur)
    return walks


def transition_counts(walks: np.ndarray, n_nodes: int) -> sp.csr_matrix:
    """(n, n) counts of observed steps u → v in the walks (for checking the walk statistics)."""
    a, b = walks[:, :-1].ravel(), walks[:, 1:].ravel()
    ok = (a >= 0) & (b >= 0)
    return sp.csr_matrix((np.ones(ok.sum()), (a[ok], b[ok])), shape=(n_nodes, n_nodes))


def walk_cooccurrence(walks: np.ndarray, n_nodes: int, window: int = 5, keep: np.ndarray | None = None,
                      other: np.ndarray | None = None) -> sp.csr_matrix:
    """Symmetric (n, n) counts of node pairs within ``window`` steps of each other in the walks
    (the skip-gram context pairs). ``keep`` (n,) bool counts only pairs of kept nodes (e.g. the
    word nodes), which keeps memory small on large graphs; with ``other`` (n,) bool as well, only
    pairs with one node in ``keep`` and the other in ``other`` (e.g. image–word pairs)."""
    rows, cols = [], []
    keep = None if keep is None else np.concatenate([np.asarray(keep, dtype=bool), [False]])  # index −1 → False
    if other is not None:
        if keep is None:
            raise ValueError("walk_cooccurrence: other needs keep")
        other = np.concatenate([np.asarray(other, dtype=bool), [False]])
    for o in range(1, int(window) + 1):
        if o >= walks.shape[1]:
            break
        a, b = walks[:, :-o].ravel(), walks[:, o:].ravel()
        ok = (a >= 0) & (b >= 0)
        if other is not None:
            ok &= (keep[a] & other[b]) | (other[a] & keep[b])
        elif keep is not None:
            ok &= keep[a] & keep[b]
        rows.append(a[ok])
        cols.append(b[ok])
    if not rows:
        return sp.csr_matrix((n_nodes, n_nodes))
    r, c = np.concatenate(rows), np.concatenate(cols)
    m = sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(n_nodes, n_nodes))
    return (m + m.T).tocsr()
