"""The one interface every search engine offers: ``search(queries, k) → (scores, rows)``.

Scores are "higher = more similar" for every engine (inner products for AQD / float vectors,
negative Hamming distances for binary codes), rows index the engine's database. Ties are broken
by row (the stable ``(distance, database index)`` policy of METRICS.md), so two engines that
compute the same scores return the same top-k.

Batch invariance: a query's scores — and so its top-k — do not depend on the other queries
searched with it, bit for bit. Matrix products pick kernels (and summation orders) by shape, so
a query's product with the database or the codebooks computed in a batch of 3 differs in the
last bits from the same product in a batch of 1; near-ties then swap places depending on who
else was searching. The built-in torch engines and the numpy AQD tables therefore multiply
queries in fixed blocks of :data:`QUERY_BLOCK` (zero-padded, :func:`in_query_blocks`), so every
query meets the same kernel whatever the batch; the numpy float engine multiplies one query at
a time (numpy's BLAS treats a row differently by its position in a block). So a micro-batched
service (:mod:`crossmedia.serve.batching`) answers exactly as a lone search on the same engine.
Different engines (numpy vs torch, CPU vs GPU) may still differ in the last bits of a score,
and so in the order of near-ties. Faiss engines make no such promise.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Engine", "top_k", "merge_top_k", "in_query_blocks", "QUERY_BLOCK"]

#: queries per matrix product in the built-in engines (see "Batch invariance" above)
QUERY_BLOCK = 16


class Engine:
    """A database of ``ntotal`` items searchable by continuous query vectors."""

    name = "base"
    #: what one database item costs in the engine's own storage (codes / vectors)
    bytes_per_item: float = 0.0

    @property
    def ntotal(self) -> int:
        raise NotImplementedError

    def scores(self, queries: np.ndarray) -> np.ndarray:
        """(Q, N) scores of every query against every database item (for tests and reranking)."""
        raise NotImplementedError

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (scores (Q, k) float32, rows (Q, k) int64) per query, best first; rows are
        −1 (score −inf) where the database has fewer than ``k`` items."""
        q = _as_queries(queries)
        out_s = np.full((q.shape[0], k), -np.inf, dtype=np.float32)
        out_r = np.full((q.shape[0], k), -1, dtype=np.int64)
        for i in range(q.shape[0]):
            s, r = top_k(self.scores(q[i : i + 1])[0], k)
            out_s[i, : len(s)], out_r[i, : len(r)] = s, r
        return out_s, out_r


def in_query_blocks(q, fn, block: int = QUERY_BLOCK):
    """``fn`` applied to (``block``, …) slices of the (Q, …) queries ``q`` (numpy array or torch
    tensor; the last slice zero-padded to ``block`` rows), outputs concatenated along axis 0 and
    cut back to Q rows. ``fn`` must treat rows independently (a matrix product with the queries
    on the left); every call then has one shape, so each row's result is independent of Q."""
    n = q.shape[0]
    if n == 0:
        return fn(q)
    pad = (-n) % block
    torch_in = not isinstance(q, np.ndarray)
    if pad:
        if torch_in:
            import torch

            q = torch.cat([q, q.new_zeros((pad,) + tuple(q.shape[1:]))])
        else:
            q = np.concatenate([q, np.zeros((pad,) + q.shape[1:], q.dtype)])
    outs = [fn(q[i : i + block]) for i in range(0, q.shape[0], block)]
    if torch_in:
        import torch

        out = outs[0] if len(outs) == 1 else torch.cat(outs)
    else:
        out = outs[0] if len(outs) == 1 else np.concatenate(outs)
    return out[:n]


def _as_queries(q) -> np.ndarray:
    q = np.asarray(q, dtype=np.float32)
    return q[None] if q.ndim == 1 else q


def top_k(scores: np.ndarray, k: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best of a 1-D score array, ordered by (score desc, row asc); ties at the k-th
    place resolved by the lower row, exactly as a stable full sort would."""
    n = scores.shape[0]
    k = min(int(k), n)
    if k <= 0:
        return np.empty(0, np.float32), np.empty(0, np.int64)
    if k < n:
        kth = np.partition(scores, n - k)[n - k]
        cand = np.flatnonzero(scores >= kth)
    else:
        cand = np.arange(n)
    order = np.lexsort((cand, -scores[cand].astype(np.float64)))[:k]
    rows = cand[order]
    return scores[rows].astype(np.float32), rows.astype(np.int64) + offset


def merge_top_k(parts: list[tuple[np.ndarray, np.ndarray]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge per-chunk top-k lists (scores, global rows) into one, same tie policy."""
    s = np.concatenate([p[0] for p in parts])
    r = np.concatenate([p[1] for p in parts])
    order = np.lexsort((r, -s.astype(np.float64)))[:k]
    return s[order], r[order]
