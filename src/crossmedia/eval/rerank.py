"""Two-stage evaluation: the model's first-stage ranking (its codec over the encoded items), then
the top-N of every query re-sorted by the model's fine-grained score
(:meth:`RetrievalModel.fine_grained_scores`, e.g. DAFSN's word-level attentional R or CMSL's
exact SCAN stacked cross attention — the local score it is trained on), scored with
the same measures and conventions as :func:`crossmedia.eval.evaluate`.

Items below the top-N keep their first-stage order; the top-N stay ahead of them (the reranked
list is a permutation of the first-stage one, as a search service would return it).

``first_stage_weight`` w fuses the two scores within the top-N: each query's N fine-grained
scores and N first-stage scores (−distance) are standardised over those N (zero mean, unit
std), and the N are sorted by z(fine) + w·z(first). w = 0 (the default) sorts by the fine score
alone; the larger w, the closer the order stays to the first stage's. It is the multi-scale
similarity S_global + μ·S_local of CMSL's paper with the two scores put on one scale, as they
are trained by different losses here.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..errors import UserError
from ..metrics import PrecomputedScorer, evaluate_ranking
from ..progress import progress
from .evaluator import RELEVANCE_RULE, encode_items, mean_over_folds, split_indices

__all__ = ["reranked_distances", "evaluate_reranked"]


def _standardised(x: np.ndarray) -> np.ndarray:
    sd = float(x.std())
    return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)


@torch.no_grad()
def reranked_distances(model, tensors, q_idx, d_idx, first_stage: np.ndarray, direction: str, top_n: int,
                       device="cpu", batch_size: int = 256, first_stage_weight: float = 0.0) -> np.ndarray:
    """(Q, N) distances (lower = better): the top-``top_n`` of each row of ``first_stage`` get
    −(their rerank score) − a constant that puts them before every other item; the rerank score
    is the fine-grained score, fused with the first stage's when ``first_stage_weight`` > 0
    (see the module docstring)."""
    if direction not in ("image->text", "text->image"):
        raise ValueError(f"direction: expected image->text or text->image, got {direction!r}")
    w = float(first_stage_weight)
    if not (w >= 0 and np.isfinite(w)):
        raise ValueError(f"first_stage_weight: expected a finite number ≥ 0, got {first_stage_weight!r}")
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
        fine = np.concatenate(scores).astype(np.float64)
        if w:
            fine = _standardised(fine) + w * _standardised(-first_stage[r, top])
        out[r, top] = -fine - shift - float(np.abs(fine).max())  # before every other item, whatever the scale
    model.train(was)
    return out


def evaluate_reranked(model, rd, cfg, *, top_n: int, split: str = "test", metrics=None, device="cpu",
                      first_stage_weight: float = 0.0) -> dict:
    """Like :func:`crossmedia.eval.evaluate` (label-based measures), with the fine-grained rerank
    of each query's first-stage top-``top_n`` (fused with the first stage's score by
    ``first_stage_weight``, see the module docstring). ``split="val"`` scores the model-selection
    folds of ``train.val_rule`` (:meth:`~crossmedia.data.protocol.Protocol.validation_folds`),
    averaged as every validation result (:func:`~crossmedia.eval.evaluator.mean_over_folds`) — for
    choosing the weight without the test queries."""
    if not model.supports_fine_grained:
        raise UserError(f"model {model.model_name}: has no fine-grained score to rerank with")
    ec = cfg["eval"]
    metrics = list(metrics or ec["metrics"])
    if split == "val":
        folds = [(q, d, "val", "val") for q, d in rd.protocol.validation_folds(str(cfg["train"]["val_rule"]))]
    else:
        folds = [split_indices(rd.protocol, split)]
    Y = rd.dataset.labels
    per_fold, t0 = [], time.perf_counter()
    for q_idx, d_idx, _qn, _dn in folds:
        img_q, txt_q = encode_items(model, rd.tensors, q_idx, device=device, desc=f"{split} queries")
        img_d, txt_d = encode_items(model, rd.tensors, d_idx, device=device, desc=f"{split} database")
        res = {}
        for direction, q, d in (("image->text", img_q, txt_d), ("text->image", txt_q, img_d)):
            codec = model.codec()
            first = np.asarray(codec.scorer(q, codec.encode(d)).distances(0, len(q_idx)), dtype=np.float64)
            D = reranked_distances(model, rd.tensors, q_idx, d_idx, first, direction, top_n, device=device,
                                   first_stage_weight=first_stage_weight)
            res[direction] = evaluate_ranking(PrecomputedScorer(D), Y[q_idx], Y[d_idx], metrics, tie=ec["tie"],
                                              empty_query=ec["empty_query"], seed=int(cfg["train"]["seed"]),
                                              chunk_size=int(ec["chunk_size"]))
        per_fold.append(res)
    res = mean_over_folds(per_fold, [len(f[0]) for f in folds])
    q_idx, d_idx, q_name, d_name = folds[0]
    how = "fine-grained score" if not first_stage_weight else \
        f"standardised fine-grained score + {float(first_stage_weight):g} × standardised first-stage score"
    return {"split": split, "queries": {"split": q_name, "count": int(sum(len(f[0]) for f in folds))},
            "database": {"split": d_name, "count": int(len(d_idx))}, "relevance": RELEVANCE_RULE,
            "ranking": {**model.codec().spec(), "rerank": f"top-{top_n} of the first stage re-sorted by the "
                                                          f"model's {how}",
                        "first_stage_weight": float(first_stage_weight)},
            "results": res, "wall_time_s": {"rank_rerank_and_score": round(time.perf_counter() - t0, 3)}}
