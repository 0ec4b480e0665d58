"""Walk embeddings in closed form: a truncated SVD of the walk corpus's shifted positive PMI.

Skip-gram with negative sampling (SGNS), the second half of DeepWalk, is known to factorise
implicitly the shifted pointwise mutual information of its (node, context) pairs: at the optimum,
⟨w_u, c_v⟩ = log(#(u, v) · |D| / (#u · #v)) − log k, with k the number of negative samples
(Levy & Goldberg, "Neural word embedding as implicit matrix factorization", NIPS 2014; for
DeepWalk's window over random walks specifically: Qiu et al., "Network embedding as matrix
factorization", WSDM 2018). Factorising that matrix directly gives embeddings of the same kind
without the SGD passes over the corpus, which on CPU cost minutes per 10⁴ training items:

1. C = the symmetric counts of node pairs within ``window`` steps in the walks (the skip-gram
   context pairs, :func:`~crossmedia.graph.walks.walk_cooccurrence`);
2. M = max(0, log(C_uv · |D| / (C_u · C_v)) − log k) over the non-zero pairs (the positive part
   keeps M sparse). SGNS's own optimum has k = its negatives; for the SVD, ``shift`` defaults to
   k = 1 (plain PPMI): Levy, Goldberg & Dagan (TACL 2015) find that SVD does not gain from the
   shift, and on a small or dense graph log 5 can zero whole rows (nodes with no above-chance
   context then get no embedding at all);
3. a rank-``dim`` truncated SVD M ≈ U Σ Vᵀ by a seeded randomised range finder with power
   iterations (Halko, Martinsson & Tropp, SIAM Review 2011), and the node embeddings U Σ^½
   (the symmetric weighting, Levy, Goldberg & Dagan, TACL 2015).

Nodes that never appear in the walks get zero rows. Deterministic for a seed.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["shifted_ppmi", "randomized_svd", "ppmi_svd_embeddings"]


def shifted_ppmi(cooccurrence: sp.spmatrix, negative: float = 5.0) -> sp.csr_matrix:
    """max(0, PMI − log ``negative``) of a symmetric count matrix, over its non-zero entries."""
    c = sp.csr_matrix(cooccurrence, dtype=np.float64)
    if c.shape[0] != c.shape[1]:
        raise ValueError(f"cooccurrence: expected a square matrix, got {c.shape}")
    if negative <= 0:
        raise ValueError(f"negative: expected > 0, got {negative}")
    c.sum_duplicates()
    if c.nnz and c.data.min() < 0:
        raise ValueError("cooccurrence: counts must be non-negative")
    deg = np.asarray(c.sum(1)).ravel()
    total = float(deg.sum())
    rows = np.repeat(np.arange(c.shape[0]), np.diff(c.indptr))
    with np.errstate(divide="ignore"):
        pmi = np.log(c.data * total / np.maximum(deg[rows] * deg[c.indices], 1e-300)) - np.log(float(negative))
    out = sp.csr_matrix((np.maximum(pmi, 0.0).astype(np.float32), c.indices.copy(), c.indptr.copy()), shape=c.shape)
    out.eliminate_zeros()
    return out


def randomized_svd(m: sp.spmatrix | np.ndarray, rank: int, seed: int = 0, oversample: int = 10,
                   power_iters: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(U, s, Vt) of a rank-``rank`` truncated SVD of ``m`` (n × p): seeded Gaussian range
    finder, ``power_iters`` re-orthonormalised power iterations, exact SVD of the small
    projection. Singular values descending."""
    n, p = m.shape
    rank = int(rank)
    if rank < 1:
        raise ValueError(f"rank: expected ≥ 1, got {rank}")
    width = min(rank + int(oversample), n, p)
    rng = np.random.default_rng(seed)
    y = m @ rng.standard_normal((p, width)).astype(np.float32)
    for _ in range(int(power_iters)):
        q, _ = np.linalg.qr(np.asarray(y))
        z, _ = np.linalg.qr(np.asarray(m.T @ q))
        y = m @ z
    q, _ = np.linalg.qr(np.asarray(y))
    b = np.asarray(m.T @ q).T  # (width, p) = qᵀ m
    ub, s, vt = np.linalg.svd(b, full_matrices=False)
    k = min(rank, len(s))
    return (q @ ub)[:, :k], s[:k], vt[:k]


def ppmi_svd_embeddings(cooccurrence: sp.spmatrix, dim: int = 64, shift: float = 1.0, seed: int = 0,
                        power_iters: int = 3) -> np.ndarray:
    """(n_nodes, dim) float32 embeddings U Σ^½ of the (``shift``-ed) PPMI of the walk
    co-occurrence counts (see the module docstring). When the matrix has rank < ``dim`` the
    remaining columns are zero."""
    m = shifted_ppmi(cooccurrence, shift)
    n = m.shape[0]
    out = np.zeros((n, int(dim)), dtype=np.float32)
    if m.nnz == 0:
        return out
    u, s, _ = randomized_svd(m, min(int(dim), n), seed=seed, power_iters=power_iters)
    out[:, : u.shape[1]] = (u * np.sqrt(np.maximum(s, 0.0))).astype(np.float32)
    return out
