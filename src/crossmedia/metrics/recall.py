"""Recall@K for caption retrieval (Flickr30K, COCO; the VSE/Karpathy-split convention).

Relevance comes from an explicit positives matrix (an image has several captions). I→T counts
an image as a hit at K if any of its captions ranks <= K; T→I counts a caption if its image
ranks <= K. R@K is in percent; rsum = R@1+R@5+R@10 both ways (max 600); medr = floor of the
median and meanr = mean of the 1-based rank of the best-ranked positive. COCO 1K = mean over
5 folds of 1,000 images of the 5K test set; COCO 5K = all 5,000 images.
"""

from __future__ import annotations

import numpy as np

from ._backend import is_torch, torch_module
from ._engine import run_measures
from .measures import _Measure, _spec
from .relevance import MatrixRelevance
from .scorers import InnerProductScorer
from .spec import MetricResult

COCO_IMAGES = 5000
COCO_FOLDS = 5


class _Recall(_Measure):
    def __init__(self, name, ks, spec, empty_query):
        super().__init__(name, spec, empty_query)
        self.ks = np.asarray(ks, dtype=np.int64)

    def start(self, Q, N):
        super().start(Q, N)
        self.hits = np.zeros((Q, len(self.ks)))
        self.ranks = np.full(Q, np.nan)

    def query(self, view, hist, R):
        if R == 0:
            return np.zeros(len(self.ks)), float("nan")
        return view.hits(self.ks), view.first_rank()

    def add(self, q, rec, R):
        self.hits[q], self.ranks[q] = rec
        self.empty[q] = R == 0

    def finish(self):
        keep = ~self.empty if self.empty_query == "skip" else np.ones(self.Q, dtype=bool)
        value = {}
        for j, k in enumerate(self.ks):
            value[f"R@{int(k)}"] = float(100.0 * self.hits[keep, j].mean()) if keep.any() else float("nan")
        ranks = self.ranks[~self.empty]
        value["medr"] = float(np.floor(np.median(ranks))) if ranks.size else float("nan")
        value["meanr"] = float(ranks.mean()) if ranks.size else float("nan")
        return self._result(value, keep.sum(), per_query=self.ranks.copy())


def recall_at_k(scorer, positives, ks=(1, 5, 10), *, tie="index", empty_query="zero", seed=0,
                chunk_size=None) -> MetricResult:
    """R@K (percent) for each K in ``ks``, plus medr/meanr, with relevance given by the (Q, N)
    ``positives`` matrix. ``per_query`` holds the 1-based rank of each query's best positive
    (expected rank under tie="expected"; R@K is then the expected hit rate)."""
    ks = tuple(int(k) for k in ks)
    if not ks or min(ks) < 1:
        raise ValueError(f"ks must be positive integers, got {ks}")
    spec = _spec("Recall@K", "hit if any positive ranks <= K (percent); medr/meanr of 1-based best rank",
                 tie, seed, list(ks), None, rule=MatrixRelevance.rule)
    m = _Recall("recall@k", ks, spec, empty_query)
    return run_measures([m], scorer, MatrixRelevance(positives), tie=tie, seed=seed, chunk_size=chunk_size)[0]


def _value(x) -> dict:
    if isinstance(x, MetricResult):
        return x.value
    return x["value"] if isinstance(x, dict) and "value" in x else x


def rsum(i2t, t2i) -> float:
    """R@1 + R@5 + R@10 of both directions (max 600); accepts results or their dicts."""
    a, b = _value(i2t), _value(t2i)
    return float(sum(a[f"R@{k}"] + b[f"R@{k}"] for k in (1, 5, 10)))


def _take(x, idx):
    if is_torch(x):
        return x[torch_module().as_tensor(idx, device=x.device)]
    return np.asarray(x)[idx]


def _positives_np(positives):
    return positives.detach().cpu().numpy() if is_torch(positives) else np.asarray(positives)


def coco_1k_5k(images, captions, *, positives=None, scorer=None, ks=(1, 5, 10), folds=("1k", "5k"),
               tie="index", seed=0, chunk_size=None) -> dict:
    """COCO 1K (mean over 5 folds of 1,000 images) and/or 5K (all 5,000 images) R@K, medr,
    meanr and rsum, both directions.

    ``images`` (5000, ...) and ``captions`` (n_captions, ...) are what ``scorer(query, database)``
    ranks (default :class:`InnerProductScorer`). ``positives`` (5000, n_captions) bool; default:
    5 captions per image, image i <-> captions 5i..5i+4. Refuses (ValueError) unless there are
    exactly 5,000 images.
    """
    n_img, n_cap = int(images.shape[0]), int(captions.shape[0])
    if n_img != COCO_IMAGES:
        raise ValueError(f"COCO 1K/5K needs the {COCO_IMAGES:,} test images, got {n_img:,}")
    bad = set(folds) - {"1k", "5k"}
    if bad:
        raise ValueError(f"folds: expected '1k' and/or '5k', got {sorted(bad)}")
    factory = scorer or (lambda q, d: InnerProductScorer(q, d))
    if positives is None:
        if n_cap != 5 * n_img:
            raise ValueError(f"default positives need 5 captions per image ({5 * n_img}), got {n_cap}; pass positives=")
        owner = np.arange(n_cap) // 5
    else:
        P = _positives_np(positives).astype(bool)
        if P.shape != (n_img, n_cap):
            raise ValueError(f"positives must be ({n_img}, {n_cap}), got {P.shape}")
        owner = None

    def run(img_idx):
        if owner is not None:
            cap_idx = np.flatnonzero(np.isin(owner, img_idx))
            Pf = owner[cap_idx][None, :] == img_idx[:, None]
        else:
            cap_idx = np.flatnonzero(P[img_idx].any(0))
            Pf = P[np.ix_(img_idx, cap_idx)]
        im, cp = _take(images, img_idx), _take(captions, cap_idx)
        i2t = recall_at_k(factory(im, cp), Pf, ks, tie=tie, seed=seed, chunk_size=chunk_size)
        t2i = recall_at_k(factory(cp, im), Pf.T.copy(), ks, tie=tie, seed=seed, chunk_size=chunk_size)
        out = {"i2t": i2t.value, "t2i": t2i.value, "n_images": len(img_idx), "n_captions": len(cap_idx)}
        if {1, 5, 10} <= set(ks):
            out["rsum"] = rsum(i2t, t2i)
        return out

    res = {"spec": {"protocol": "COCO 1K = mean over 5 folds of 1,000 images; 5K = all 5,000",
                    "relevance": "image <-> its ground-truth captions", "tie": tie, "ks": list(ks)}}
    if "5k" in folds:
        res["5k"] = run(np.arange(n_img))
    if "1k" in folds:
        per = [run(np.arange(f * 1000, (f + 1) * 1000)) for f in range(COCO_FOLDS)]
        mean = {d: {key: float(np.mean([p[d][key] for p in per])) for key in per[0][d]} for d in ("i2t", "t2i")}
        if "rsum" in per[0]:
            mean["rsum"] = float(np.mean([p["rsum"] for p in per]))
        mean["folds"] = per
        res["1k"] = mean
    return res
