"""The image–word semantic correlation graph of CMSL (built over the training split only).

Nodes: the N training images (ids 0..N−1) then the V vocabulary words (ids N..N+V−1). Edges
(undirected, stored as a symmetric ``scipy.sparse.csr_matrix``):

* image–word: word w occurs in image i's text; weight 1 (``weighting="binary"``) or tf-idf
  (tf = count / text length, idf = log(N / df)), times ``image_word_weight``;
* word–word: co-occurrence in the same text, normalised as count / sqrt(df_a · df_b) (the cosine
  of the two words' occurrence vectors, in [0, 1]) and scaled by ``word_word_weight``;
* image–image (optional): each image linked to its ``knn`` nearest visual neighbours by cosine
  similarity of the given features, weight ``knn_weight · max(cos, 0)``, symmetrised by max;
* word–word semantic (optional): each word that has a pretrained vector (``word_vectors``, e.g.
  GloVe) linked to its ``word_knn`` nearest such words by the cosine of the vectors (centred on
  their mean, as the visual features are), weight
  ``word_knn_weight · max(cos, 0)``, symmetrised by max and added to the co-occurrence edges.
  A word seen in few training texts — or only as a wrong tag — then reaches the words it means,
  not only the words it happened to appear with.

Recipe from CMSL's pipeline description (METHODS.md) and DeepWalk (Perozzi et al. 2014): the
paper does not give edge weights; these are the options. Built in a few sparse products, so
20k images × 2k words takes well under a second without kNN edges (the kNN search is a chunked
matrix product).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

__all__ = ["CorrelationGraph", "build_correlation_graph", "visual_knn"]


@dataclass
class CorrelationGraph:
    """Symmetric weighted adjacency over image nodes [0, n_images) and word nodes
    [n_images, n_images + n_words)."""

    adj: sp.csr_matrix
    n_images: int
    n_words: int

    @property
    def n_nodes(self) -> int:
        return self.n_images + self.n_words

    def word_node(self, w: int | np.ndarray) -> int | np.ndarray:
        return self.n_images + w

    def image_word(self) -> sp.csr_matrix:
        return self.adj[: self.n_images, self.n_images :].tocsr()

    def word_word(self) -> sp.csr_matrix:
        return self.adj[self.n_images :, self.n_images :].tocsr()

    def image_image(self) -> sp.csr_matrix:
        return self.adj[: self.n_images, : self.n_images].tocsr()

    def summary(self) -> dict:
        def nnz(m):
            return int(m.nnz)

        return {"images": self.n_images, "words": self.n_words, "image_word_edges": nnz(self.image_word()),
                "word_word_edges": nnz(self.word_word()) // 2, "image_image_edges": nnz(self.image_image()) // 2}


def _as_csr(texts, n_words: int) -> sp.csr_matrix:
    """Counts matrix (N, V) from a dense/sparse bag-of-words or a list of word-id lists."""
    if sp.issparse(texts):
        return sp.csr_matrix(texts, dtype=np.float64)
    if isinstance(texts, torch.Tensor):
        texts = texts.detach().cpu().numpy()
    if isinstance(texts, np.ndarray):
        if texts.ndim != 2 or texts.shape[1] != n_words:
            raise ValueError(f"texts: expected an (N, {n_words}) bag-of-words array, got shape {texts.shape}")
        return sp.csr_matrix(texts.astype(np.float64))
    rows, cols = [], []
    for i, ws in enumerate(texts):
        for w in ws:
            if not 0 <= int(w) < n_words:
                raise ValueError(f"texts[{i}]: word id {w} outside 0..{n_words - 1}")
            rows.append(i)
            cols.append(int(w))
    data = np.ones(len(rows))
    return sp.csr_matrix((data, (rows, cols)), shape=(len(texts), n_words))


def visual_knn(features, k: int, chunk: int = 2048) -> sp.csr_matrix:
    """(N, N) sparse matrix with the cosine similarity (clipped at 0) of each item to its ``k``
    nearest neighbours (self excluded); not symmetrised."""
    f = torch.as_tensor(np.asarray(features, dtype=np.float32))
    f = f - f.mean(0, keepdim=True)
    f = f / f.norm(dim=1, keepdim=True).clamp_min(1e-12)
    n = f.shape[0]
    k = min(int(k), n - 1)
    if k <= 0:
        return sp.csr_matrix((n, n))
    rows, cols, vals = [], [], []
    for s in range(0, n, chunk):
        sim = f[s : s + chunk] @ f.T
        idx = torch.arange(s, min(s + chunk, n))
        sim[torch.arange(len(idx)), idx] = -float("inf")
        v, j = sim.topk(k, dim=1)
        rows.append(idx.repeat_interleave(k).numpy())
        cols.append(j.reshape(-1).numpy())
        vals.append(v.clamp_min(0).reshape(-1).numpy())
    m = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    m.eliminate_zeros()
    return m


def build_correlation_graph(
    texts,
    n_words: int,
    weighting: str = "binary",
    image_word_weight: float = 1.0,
    word_word_weight: float = 1.0,
    visual_features=None,
    knn: int = 0,
    knn_weight: float = 1.0,
    exclude_words: tuple[int, ...] = (),
    word_vectors=None,
    word_knn: int = 0,
    word_knn_weight: float = 1.0,
) -> CorrelationGraph:
    """Build the graph from the training texts (bag-of-words (N, V), sparse, or lists of word
    ids), optional visual features (N, F) for image–image kNN edges and optional word vectors
    (V, d; an all-zero row = no vector) for semantic word–word kNN edges. ``exclude_words``
    (e.g. ``<pad>``, ``<unk>``) get no edges."""
    if weighting not in ("binary", "tfidf"):
        raise ValueError(f"weighting: expected 'binary' or 'tfidf', got {weighting!r}")
    counts = _as_csr(texts, n_words)
    n = counts.shape[0]
    if exclude_words:
        keep = np.ones(n_words)
        keep[list(exclude_words)] = 0
        counts = (counts @ sp.diags(keep)).tocsr()
        counts.eliminate_zeros()
    present = counts.copy()
    present.data[:] = 1.0
    df = np.asarray(present.sum(0)).ravel()
    if weighting == "binary":
        iw = present
    else:
        length = np.asarray(counts.sum(1)).ravel()
        tf = sp.diags(1.0 / np.maximum(length, 1e-12)) @ counts
        idf = np.log(np.maximum(n, 1) / np.maximum(df, 1))
        iw = (tf @ sp.diags(idf)).tocsr()
        iw.eliminate_zeros()
    iw = (iw * float(image_word_weight)).tocsr()
    blocks_ww = sp.csr_matrix((n_words, n_words))
    if word_word_weight > 0:
        co = (present.T @ present).tocsr()
        co.setdiag(0)
        co.eliminate_zeros()
        co = co.tocoo()
        norm = np.sqrt(np.maximum(df[co.row] * df[co.col], 1e-12))
        blocks_ww = sp.csr_matrix((co.data / norm * float(word_word_weight), (co.row, co.col)), shape=(n_words, n_words))
    if word_knn and word_vectors is not None:
        wv = np.asarray(word_vectors, dtype=np.float32)
        if wv.ndim != 2 or wv.shape[0] != n_words:
            raise ValueError(f"word_vectors: expected {n_words} rows (one per word), got shape {wv.shape}")
        has = np.abs(wv).sum(1) > 0
        has[list(exclude_words)] = False
        ids = np.flatnonzero(has)
        if len(ids) > 1:
            m = visual_knn(wv[ids], word_knn).tocoo()
            sem = sp.csr_matrix((m.data, (ids[m.row], ids[m.col])), shape=(n_words, n_words))
            blocks_ww = (blocks_ww + sem.maximum(sem.T) * float(word_knn_weight)).tocsr()
    blocks_ii = sp.csr_matrix((n, n))
    if knn and visual_features is not None:
        vf = np.asarray(visual_features)
        if vf.shape[0] != n:
            raise ValueError(f"visual_features: expected {n} rows (one per image), got {vf.shape[0]}")
        m = visual_knn(vf, knn)
        blocks_ii = (m.maximum(m.T) * float(knn_weight)).tocsr()
    adj = sp.bmat([[blocks_ii, iw], [iw.T, blocks_ww]], format="csr", dtype=np.float64)
    adj.eliminate_zeros()
    adj.sort_indices()
    return CorrelationGraph(adj=adj, n_images=n, n_words=n_words)
