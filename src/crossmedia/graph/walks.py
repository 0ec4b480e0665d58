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

__all__ = ["random_walks", "walk_cooccurrence", "restrict_cooccurrence", "transition_counts"]


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
    (the skip-gram context pairs; a node met again within the window counts 2 on the diagonal).
    ``keep`` (n,) bool counts only pairs of kept nodes (e.g. the word nodes), which keeps memory
    small on large graphs; with ``other`` (n,) bool as well, only pairs with one node in ``keep``
    and the other in ``other`` (e.g. image–word pairs). Counted per offset by sorting the
    unordered pairs' keys (no n × n dense array, no float per pair)."""
    keep, other = _pair_masks(n_nodes, keep, other)
    walks = np.asarray(walks)
    w = walks.astype(np.int32) if n_nodes < 2**31 - 1 else walks.astype(np.int64)
    total = sp.csr_matrix((n_nodes, n_nodes), dtype=np.float64)
    for o in range(1, int(window) + 1):
        if o >= w.shape[1]:
            break
        a, b = w[:, :-o].ravel(), w[:, o:].ravel()
        ok = (a >= 0) & (b >= 0)
        if keep is not None:
            ok &= _counted(keep, other, a, b)
        a, b = a[ok], b[ok]
        if not len(a):
            continue
        key = np.minimum(a, b).astype(np.int64) * n_nodes + np.maximum(a, b)
        key.sort()
        first = np.empty(len(key), dtype=bool)
        first[0] = True
        np.not_equal(key[1:], key[:-1], out=first[1:])
        starts = np.flatnonzero(first)
        counts = np.diff(np.append(starts, len(key))).astype(np.float64)
        uniq = key[starts]
        total = total + sp.csr_matrix((counts, (uniq // n_nodes, uniq % n_nodes)), shape=(n_nodes, n_nodes))
    return (total + total.T).tocsr()


def restrict_cooccurrence(cooccurrence: sp.spmatrix, keep: np.ndarray, other: np.ndarray | None = None) -> sp.csr_matrix:
    """The entries of a :func:`walk_cooccurrence` matrix that the same call with ``keep`` /
    ``other`` would have counted (so one full count serves every restricted use)."""
    c = sp.csr_matrix(cooccurrence)
    n = c.shape[0]
    keep, other = _pair_masks(n, keep, other)
    rows = np.repeat(np.arange(n), np.diff(c.indptr))
    cols = c.indices
    ok = _counted(keep, other, rows, cols)
    return sp.csr_matrix((c.data[ok], (rows[ok], cols[ok])), shape=c.shape)


def _counted(keep: np.ndarray, other: np.ndarray | None, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Which pairs (a, b) a restricted count keeps: both in ``keep``, or with ``other`` one in each."""
    if other is not None:
        return (keep[a] & other[b]) | (other[a] & keep[b])
    return keep[a] & keep[b]


def _pair_masks(n_nodes: int, keep, other):
    """(n + 1,) bool masks (index −1 → False) of ``keep`` / ``other``, checked."""
    if other is not None and keep is None:
        raise ValueError("walk_cooccurrence: other needs keep")
    out = []
    for name, m in (("keep", keep), ("other", other)):
        if m is None:
            out.append(None)
            continue
        m = np.asarray(m, dtype=bool)
        if m.shape != (n_nodes,):
            raise ValueError(f"{name}: expected ({n_nodes},) bool, got shape {m.shape}")
        out.append(np.concatenate([m, [False]]))
    return out[0], out[1]
