"""Semantic expansion: add to a sparse, noisy word set the latent words it is most correlated
with, each with a weight < 1 (CMSL's "semantic expansion"; recipe from METHODS.md: the top-k
words nearest an image node in the walk embedding, or with the highest walk co-occurrence).

Two forms, both from the graph over the training split:

* **node expansion** (transductive, training images only): scores(i, w) between image node i
  and word node w — cosine of their skip-gram embeddings, or their normalised walk
  co-occurrence count c_iw / sqrt(c_i · c_w). Image nodes see their visual neighbours' words
  when the graph has kNN edges, so this is the form that recovers dropped tags.
* **word expansion** (inductive, any text): a V × V word-correlation matrix S (the same two
  scores between word nodes); a text with word set W scores every word w by the mean of
  S[W, w]. This is what a model can apply to query and database texts, which are not graph
  nodes (and whose paired image must not be looked at when the text is the query or the item).

:func:`expand` turns scores into the expanded bag of words: the ``top_k`` best-scoring words not
already present get weight ``weight`` (``weighting="constant"``) or ``weight`` × the score
clipped to [0, 1] (``"similarity"``); words scoring ≤ ``min_score`` are never added.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from .graph import CorrelationGraph

__all__ = ["cosine_matrix", "node_word_scores", "word_correlation", "text_scores", "expand", "expansion_recovery",
           "image_expansion"]


def cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return (a @ b.T).astype(np.float32)


def _normalised_cooc(c: sp.spmatrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    c = sp.csr_matrix(c)
    deg = np.asarray(c.sum(1)).ravel()
    block = c[rows][:, cols].toarray()
    return (block / np.sqrt(np.maximum(np.outer(deg[rows], deg[cols]), 1e-12))).astype(np.float32)


def node_word_scores(graph: CorrelationGraph, embeddings: np.ndarray | None = None,
                     cooccurrence: sp.spmatrix | None = None, images: np.ndarray | None = None) -> np.ndarray:
    """(n_images, n_words) correlation of image nodes with word nodes: embedding cosine (give
    ``embeddings``, (n_nodes, d)) or normalised walk co-occurrence (give ``cooccurrence``)."""
    imgs = np.arange(graph.n_images) if images is None else np.asarray(images)
    words = graph.n_images + np.arange(graph.n_words)
    if embeddings is not None:
        return cosine_matrix(embeddings[imgs], embeddings[words])
    if cooccurrence is not None:
        return _normalised_cooc(cooccurrence, imgs, words)
    raise ValueError("node_word_scores: give embeddings or cooccurrence")


def word_correlation(graph: CorrelationGraph, embeddings: np.ndarray | None = None,
                     cooccurrence: sp.spmatrix | None = None) -> np.ndarray:
    """(n_words, n_words) word–word correlation (same two scores), zero diagonal."""
    words = graph.n_images + np.arange(graph.n_words)
    if embeddings is not None:
        s = cosine_matrix(embeddings[words], embeddings[words])
    elif cooccurrence is not None:
        s = _normalised_cooc(cooccurrence, words, words)
    else:
        raise ValueError("word_correlation: give embeddings or cooccurrence")
    np.fill_diagonal(s, 0.0)
    return s


def text_scores(bow: torch.Tensor, correlation: torch.Tensor) -> torch.Tensor:
    """(B, V) scores of every word for each text: the mean correlation with the text's words.

    Reads only the rows of the words present (a text has a handful of the V words): a dense
    ``present @ correlation`` would stream the whole V × V matrix for every query."""
    rows, words = (bow > 0).nonzero(as_tuple=True)
    out = torch.zeros(bow.shape[0], correlation.shape[1], dtype=correlation.dtype, device=correlation.device)
    out.index_add_(0, rows, correlation.index_select(0, words))
    n = torch.bincount(rows, minlength=bow.shape[0]).clamp_min(1).to(correlation.dtype)
    return out / n.view(-1, 1)


def expand(bow: torch.Tensor, scores: torch.Tensor, top_k: int, weight: float, weighting: str = "constant",
           min_score: float = 0.0, allowed: torch.Tensor | None = None) -> torch.Tensor:
    """The expanded bag of words (B, V): ``bow`` plus the ``top_k`` highest-scoring absent words
    (see the module docstring). Texts without any word stay empty. ``allowed`` (V,) bool masks
    words that may be added (e.g. not ``<pad>``/``<unk>``)."""
    if weighting not in ("constant", "similarity"):
        raise ValueError(f"weighting: expected 'constant' or 'similarity', got {weighting!r}")
    if top_k <= 0 or weight <= 0:
        return bow
    present = bow > 0
    s = scores.masked_fill(present, -float("inf"))
    if allowed is not None:
        s = s.masked_fill(~allowed.to(s.device).view(1, -1), -float("inf"))
    s = s.masked_fill(~present.any(1, keepdim=True), -float("inf"))
    k = min(int(top_k), s.shape[1])
    val, idx = s.topk(k, dim=1)
    ok = val > min_score
    add = torch.full_like(val, float(weight)) if weighting == "constant" else float(weight) * val.clamp(0, 1)
    add = torch.where(ok, add, torch.zeros_like(add))
    return bow.scatter_add(1, idx, add.to(bow.dtype))


def expansion_recovery(added: np.ndarray, noisy: np.ndarray, true: np.ndarray) -> dict:
    """How well expansion recovers dropped tags. ``added``/``noisy``/``true`` are (N, V) 0/1:
    words added by expansion, the noisy tags, the true tags. Precision = share of added words that
    are dropped true tags; chance = the share of all absent words that are dropped true tags."""
    added, noisy, true = (np.asarray(a) > 0 for a in (added, noisy, true))
    dropped = true & ~noisy
    absent = ~noisy
    n_added = int(added.sum())
    return {
        "added": n_added,
        "precision": float((added & dropped).sum() / max(n_added, 1)),
        "recall": float((added & dropped).sum() / max(int(dropped.sum()), 1)),
        "chance": float(dropped.sum() / max(int(absent.sum()), 1)),
    }


def image_expansion(graph: CorrelationGraph, embeddings: np.ndarray | None, bow, top_k: int, weight: float,
                    weighting: str = "constant", min_score: float = 0.0, allowed: torch.Tensor | None = None,
                    chunk: int = 2048, cooccurrence: sp.spmatrix | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Node (image-level) expansion of the training texts: image i's bag of words ``bow[i]``
    gains the ``top_k`` absent words whose nodes are nearest image node i — by cosine in
    ``embeddings`` (the DeepWalk embedding of the graph), or, given ``cooccurrence`` instead, by
    normalised walk co-occurrence (:func:`node_word_scores`); either way visual kNN neighbours'
    words count. Returns
    (n_images, top_k) word ids and added weights (0 where nothing is added, see :func:`expand`);
    apply with ``bow.scatter_add(1, ids, weights)``. Scored ``chunk`` images at a time."""
    bow = np.asarray(bow, dtype=np.float32)
    if bow.shape != (graph.n_images, graph.n_words):
        raise ValueError(f"bow: expected shape {(graph.n_images, graph.n_words)}, got {bow.shape}")
    k = min(int(top_k), graph.n_words)
    ids, vals = [torch.zeros(0, k, dtype=torch.long)], [torch.zeros(0, k)]
    for s in range(0, graph.n_images, max(int(chunk), 1)):
        imgs = np.arange(s, min(s + max(int(chunk), 1), graph.n_images))
        scores = torch.from_numpy(node_word_scores(graph, embeddings=embeddings, cooccurrence=cooccurrence,
                                                   images=imgs))
        b = torch.from_numpy(bow[imgs])
        added = expand(b, scores, k, weight, weighting=weighting, min_score=min_score, allowed=allowed) - b
        v, i = added.topk(k, dim=1)
        ids.append(i)
        vals.append(v)
    return torch.cat(ids), torch.cat(vals)
