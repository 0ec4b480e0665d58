"""Two-stage evaluation: the model's first-stage ranking (its codec over the encoded items), then
the top-N of every query re-sorted by the model's fine-grained score
(:meth:`RetrievalModel.fine_grained_scores`, e.g. DAFSN's word-level attentional R or CMSL's
exact SCAN stacked cross attention — the local score it is trained on), scored with
the same measures and conventions as :func:`crossmedia.eval.evaluate`.

Items below the top-N keep their first-stage order; the top-N stay ahead of them (the reranked
list is a permutation of the first-stage one, as a search service would return it).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..errors import UserError
from ..metrics import PrecomputedScorer, evaluate_ranking
from ..progress import progress
from .evaluator import RELEVANCE_RULE, encode_items, split_indices

__all__ = ["reranked_distances", "evaluate_reranked"]


@torch.no_grad()
def reranked_distances(model, tensors, q_idx, d_idx, first_stage: np.ndarray, direction: str, top_n: int,
                       device="cpu", batch_size: int = 256) -> np.ndarray:
    """(Q, N) distances (lower = better): the top-``top_n`` of each row of ``first_stage`` get
    −(fine-grained score) − a constant that puts them before every other item."""
    if direction not in ("image->text", "text->image"):
        raise ValueError(f"direction: expected image->text or text->image, got {direction!r}")
    first_stage = np.asarray(first_stage, dtype=np.float64)
    out = first_stage.copy()
    n = min(int(top_n), first_stage.shape[1])
    if n <= 0:
        return out
    shift = float(np.abs(first_stage).max()) + 1e6
    was = model.training
    model.eval()
    for r in progress(range(len(q_idx)), desc=f"rerank {direction}", unit="query"):
        top = np.argsort(first_stage[r], kind="stable")[:n]
        qb = tensors.batch(np.asarray([q_idx[r]]), device)
        scores = []
        for s in range(0, n, batch_size):
            cb = tensors.batch(np.asarray(d_idx)[top[s : s + batch_size]], device)
            fg = model.fine_grained_scores(qb, cb)[0] if direction == "image->text" else model.fine_grained_scores(cb, qb)[:, 0]
            scores.append(fg.float().cpu().numpy())
        out[r, top] = -np.concatenate(scores).astype(np.float64) - shift
    model.train(was)
    return out


def evaluate_reranked(model, rd, cfg, *, top_n: int, split: str = "test", metrics=None, device="cpu") -> dict:
    """Like :func:`crossmedia.eval.evaluate` (label-based measures), with the fine-grained rerank
    of each query's first-stage top-``top_n``."""
    if not model.supports_fine_grained:
        raise UserError(f"model {model.model_name}: has no fine-grained score to rerank with")
    ec = cfg["eval"]
    metrics = list(metrics or ec["metrics"])
    q_idx, d_idx, q_name, d_name = split_indices(rd.protocol, split)
    img_q, txt_q = encode_items(model, rd.tensors, q_idx, device=device, desc=f"{split} queries")
    img_d, txt_d = encode_items(model, rd.tensors, d_idx, device=device, desc=f"{split} database")
    Y = rd.dataset.labels
    res, t0 = {}, time.perf_counter()
    for direction, q, d in (("image->text", img_q, txt_d), ("text->image", txt_q, img_d)):
        codec = model.codec()
        first = np.asarray(codec.scorer(q, codec.encode(d)).distances(0, len(q_idx)), dtype=np.float64)
        D = reranked_distances(model, rd.tensors, q_idx, d_idx, first, direction, top_n, device=device)
        res[direction] = evaluate_ranking(PrecomputedScorer(D), Y[q_idx], Y[d_idx], metrics, tie=ec["tie"],
                                          empty_query=ec["empty_query"], seed=int(cfg["train"]["seed"]),
                                          chunk_size=int(ec["chunk_size"]))
    return {"split": split, "queries": {"split": q_name, "count": int(len(q_idx))},
            "database": {"split": d_name, "count": int(len(d_idx))}, "relevance": RELEVANCE_RULE,
            "ranking": {**model.codec().spec(), "rerank": f"top-{top_n} of the first stage re-sorted by the "
                                                          "model's fine-grained score"},
            "results": res, "wall_time_s": {"rank_rerank_and_score": round(time.perf_counter() - t0, 3)}}
