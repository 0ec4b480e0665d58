"""Second stage of a two-stage search: rescore a first-stage top-N with the model's fine-grained
(word/region) score — SCAN's cross attention for CMSL, the word-level score for DAFSN — which
needs both items and so cannot be indexed. DAFSN (METHODS.md): "cosine between global embeddings
for the first stage; the fine-grained R(Q,D) can rerank the top candidates"."""

from __future__ import annotations

import numpy as np
import torch

from ..models import REGION_FEATURES

__all__ = ["rerank_texts_for_image", "rerank_images_for_text", "reorder"]


@torch.no_grad()
def rerank_images_for_text(model, text: dict, regions: np.ndarray, batch: int = 512) -> np.ndarray:
    """Fine-grained scores (n,) of one text query against the stored region features ``regions``
    (n, R, F; :meth:`RetrievalModel.image_regions`) of candidate images."""
    out = []
    for s in range(0, regions.shape[0], batch):
        # float16 as stored; torch widens it (numpy's float16 conversion is several times slower)
        r = torch.from_numpy(np.ascontiguousarray(regions[s : s + batch])).float()
        out.append(model.fine_grained_scores({REGION_FEATURES: r}, text)[:, 0].float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


@torch.no_grad()
def rerank_texts_for_image(model, image_regions: torch.Tensor, tokens: np.ndarray, batch: int = 512) -> np.ndarray:
    """Fine-grained scores (n,) of one image query (its region features (1, R, F),
    :meth:`RetrievalModel.image_regions`) against candidate
    texts given by their token rows (n, T)."""
    out = []
    for s in range(0, tokens.shape[0], batch):
        t = torch.from_numpy(np.asarray(tokens[s : s + batch], dtype=np.int64))
        out.append(model.fine_grained_scores({REGION_FEATURES: image_regions}, {"tokens": t})[0].float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def reorder(rows: np.ndarray, fine: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Candidates ``rows`` (first-stage order) reordered by fine score (desc), ties keeping the
    first-stage order; the best ``k`` (rows, scores)."""
    order = np.lexsort((np.arange(len(rows)), -fine.astype(np.float64)))[:k]
    return rows[order], fine[order].astype(np.float32)
