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
from .evaluator import RELEVANCE_RULE, check_database, encode_items, mean_over_folds, split_indices

__all__ = ["top_fine_scores", "fused_distances", "reranked_distances", "evaluate_reranked", "evaluate_reranked_weights"]


def _standardised(x: np.ndarray) -> np.ndarray:
    sd = float(x.std())
    return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)


def _check_weight(first_stage_weight) -> float:
    w = float(first_stage_weight)
    if not (w >= 0 and np.isfinite(w)):
        raise ValueError(f"first_stage_weight: expected a finite number ≥ 0, got {first_stage_weight!r}")
    return w


@torch.no_grad()
def top_fine_scores(model, tensors, q_idx, d_idx, first_stage: np.ndarray, direction: str, top_n: int,
                    device="cpu", batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """``(top, fine)``, both (Q, N) with N = min(top_n, database size): the column indices of each
    row's first-stage top-N (``first_stage`` holds distances, lower = better; stable order) and
    the model's fine-grained score of each of those pairs (higher = better). The costly half of
    the rerank; :func:`fused_distances` turns its output into a ranking for any weight."""
    if direction not in ("image->text", "text->image"):
        raise ValueError(f"direction: expected image->text or text->image, got {direction!r}")
    first_stage = np.asarray(first_stage, dtype=np.float64)
    n = max(0, min(int(top_n), first_stage.shape[1]))
    top = np.empty((first_stage.shape[0], n), dtype=np.int64)
    fine = np.empty((first_stage.shape[0], n), dtype=np.float64)
    if n == 0:
        return top, fine
    was = model.training
    model.eval()
    d_idx = np.asarray(d_idx)
    for r in progress(range(len(q_idx)), desc=f"rerank {direction}", unit="query"):
        top[r] = np.argsort(first_stage[r], kind="stable")[:n]
        qb = tensors.batch(np.asarray([q_idx[r]]), device)
        for s in range(0, n, batch_size):
            cb = tensors.batch(d_idx[top[r, s : s + batch_size]], device)
            fg = model.fine_grained_scores(qb, cb)[0] if direction == "image->text" else model.fine_grained_scores(cb, qb)[:, 0]
            fine[r, s : s + len(fg)] = fg.float().cpu().numpy()
    model.train(was)
    return top, fine


def fused_distances(first_stage: np.ndarray, top: np.ndarray, fine: np.ndarray,
                    first_stage_weight: float = 0.0) -> np.ndarray:
    """(Q, D) distances (lower = better): ``first_stage`` with each row's ``top`` columns given
    −(their rerank score) − a constant that puts them before every other item. The rerank score is
    ``fine``, or z(fine) + w·z(−first stage) over the row's top-N when ``first_stage_weight`` w > 0
    (see the module docstring)."""
    w = _check_weight(first_stage_weight)
    first_stage = np.asarray(first_stage, dtype=np.float64)
    out = first_stage.copy()
    if top.shape[1] == 0:
        return out
    shift = float(np.abs(first_stage).max()) + 1e6
    for r in range(top.shape[0]):
        score = np.asarray(fine[r], dtype=np.float64)
        if w:
            score = _standardised(score) + w * _standardised(-first_stage[r, top[r]])
        out[r, top[r]] = -score - shift - float(np.abs(score).max())  # before every other item, whatever the scale
    return out


def reranked_distances(model, tensors, q_idx, d_idx, first_stage: np.ndarray, direction: str, top_n: int,
                       device="cpu", batch_size: int = 256, first_stage_weight: float = 0.0) -> np.ndarray:
    """(Q, D) distances (lower = better): the top-``top_n`` of each row of ``first_stage`` re-sorted
    by the fine-grained score (fused with the first stage's when ``first_stage_weight`` > 0) and
    put before every other item: :func:`top_fine_scores` then :func:`fused_distances`."""
    _check_weight(first_stage_weight)
    top, fine = top_fine_scores(model, tensors, q_idx, d_idx, first_stage, direction, top_n, device=device,
                                batch_size=batch_size)
    return fused_distances(first_stage, top, fine, first_stage_weight)


def evaluate_reranked(model, rd, cfg, *, top_n: int, split: str = "test", metrics=None, device="cpu",
                      first_stage_weight: float = 0.0, database: str = "retrieval") -> dict:
    """Like :func:`crossmedia.eval.evaluate` (label-based measures), with the fine-grained rerank
    of each query's first-stage top-``top_n`` (fused with the first stage's score by
    ``first_stage_weight``, see the module docstring). ``split="val"`` scores the model-selection
    folds of ``train.val_rule`` (:meth:`~crossmedia.data.protocol.Protocol.validation_folds`),
    averaged as every validation result (:func:`~crossmedia.eval.evaluator.mean_over_folds`) — for
    choosing the weight without the test queries. ``database`` (test split): which retrieval items
    are ranked, as in :func:`~crossmedia.eval.evaluate`."""
    return evaluate_reranked_weights(model, rd, cfg, top_n=top_n, split=split, metrics=metrics, device=device,
                                     first_stage_weights=[first_stage_weight],
                                     database=database)[float(first_stage_weight)]


def evaluate_reranked_weights(model, rd, cfg, *, top_n: int, first_stage_weights, split: str = "test",
                              metrics=None, device="cpu", database: str = "retrieval") -> dict:
    """:func:`evaluate_reranked` for several first-stage weights at the cost of one: the fine-grained
    scores of the top-N are computed once and fused per weight. Returns {weight: result}; each
    result's wall time covers all the weights."""
    if not model.supports_fine_grained:
        raise UserError(f"model {model.model_name}: has no fine-grained score to rerank with")
    weights = [_check_weight(w) for w in first_stage_weights]
    if not weights:
        raise ValueError("first_stage_weights: expected at least one weight")
    ec = cfg["eval"]
    metrics = list(metrics or ec["metrics"])
    check_database(split, database)
    if split == "val":
        folds = [(q, d, "val", "val") for q, d in rd.protocol.validation_folds(str(cfg["train"]["val_rule"]))]
    else:
        folds = [split_indices(rd.protocol, split, database)]
    Y = rd.dataset.labels
    per_fold = {w: [] for w in weights}
    t0 = time.perf_counter()
    for q_idx, d_idx, _qn, _dn in folds:
        img_q, txt_q = encode_items(model, rd.tensors, q_idx, device=device, desc=f"{split} queries")
        img_d, txt_d = encode_items(model, rd.tensors, d_idx, device=device, desc=f"{split} database")
        res = {w: {} for w in weights}
        for direction, q, d in (("image->text", img_q, txt_d), ("text->image", txt_q, img_d)):
            codec = model.codec()
            first = np.asarray(codec.scorer(q, codec.encode(d)).distances(0, len(q_idx)), dtype=np.float64)
            top, fine = top_fine_scores(model, rd.tensors, q_idx, d_idx, first, direction, top_n, device=device)
            for w in weights:
                D = fused_distances(first, top, fine, w)
                res[w][direction] = evaluate_ranking(PrecomputedScorer(D), Y[q_idx], Y[d_idx], metrics,
                                                     tie=ec["tie"], empty_query=ec["empty_query"],
                                                     seed=int(cfg["train"]["seed"]), chunk_size=int(ec["chunk_size"]))
        for w in weights:
            per_fold[w].append(res[w])
    wall = round(time.perf_counter() - t0, 3)
    q_idx, d_idx, q_name, d_name = folds[0]
    out = {}
    for w in weights:
        how = "fine-grained score" if not w else \
            f"standardised fine-grained score + {w:g} × standardised first-stage score"
        out[w] = {"split": split, "queries": {"split": q_name, "count": int(sum(len(f[0]) for f in folds))},
                  "database": {"split": d_name, "count": int(len(d_idx)),
                               **({"view": database} if split == "test" else {})}, "relevance": RELEVANCE_RULE,
                  "ranking": {**model.codec().spec(), "rerank": f"top-{top_n} of the first stage re-sorted by the "
                                                                f"model's {how}",
                              "first_stage_weight": w},
                  "results": mean_over_folds(per_fold[w], [len(f[0]) for f in folds]),
                  "wall_time_s": {"rank_rerank_and_score": wall}}
    return out
