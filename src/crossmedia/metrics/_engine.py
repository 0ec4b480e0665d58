"""Streaming evaluation: score query chunks, rank them, hand per-query views to measures.

Each chunk (at most ``chunk_size`` queries) is scored, its relevance computed, and every query
turned into a view (:mod:`._views`): tie policy ``index`` gives the sorted positions of the
relevant items (numpy's stable radix argsort when distances are small integers); ``expected``
and ``random`` start from the tie groups (a per-query histogram of distance x relevance when
distances are discrete, else a sort), ``random`` then draws the relevant items' places inside
each group. Work on a query never depends on the other queries of its chunk, so results do not
depend on ``chunk_size``. CPU chunks run on a small thread pool (numpy releases the GIL in the
heavy kernels); chunks scored on a CUDA device are ranked there and only compact results come
back. Measures receive queries in order, so their floating-point sums are chunk independent.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._backend import is_torch, n_threads, torch_module
from ._views import ExactRanking, TiedRanking
from .scorers import check_scorer
from .ties import check_tie, query_permutation, random_positions

EMPTY_QUERY = ("zero", "skip")
_TARGET_ELEMENTS = 1 << 22  # default chunk: about 4M query x item pairs
_MAX_ELEMENTS = 1 << 23  # any chunk is split further beyond 8M pairs (bounded memory)


def default_chunk_size(n_db: int) -> int:
    return int(max(1, min(256, _TARGET_ELEMENTS // max(1, n_db))))


def effective_chunk_size(chunk_size, n_db: int) -> int:
    """``chunk_size`` (None = adaptive) capped so that a chunk holds at most ~8M pairs;
    results do not depend on it."""
    if chunk_size is None:
        return default_chunk_size(n_db)
    chunk_size = int(chunk_size)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    return max(1, min(chunk_size, _MAX_ELEMENTS // max(1, n_db)))


def check_empty_query(empty_query: str) -> str:
    if empty_query not in EMPTY_QUERY:
        raise ValueError(f"empty_query={empty_query!r}: expected 'zero' or 'skip'")
    return empty_query


class _Context:
    def __init__(self, scorer, oracle, measures, tie, seed):
        self.scorer, self.oracle, self.measures = scorer, oracle, measures
        self.tie, self.seed = tie, int(seed)
        self.n_db = int(scorer.n_db)
        self.need_rank = any(m.needs_rank for m in measures)
        self.need_hist = any(m.needs_hist for m in measures)
        self.discrete = bool(scorer.discrete)
        self.max_distance = scorer.distance_bound
        self.fetch = scorer.native_distances


def _compact(D: np.ndarray):
    """Small non-negative integers as uint8/uint16 (numpy then sorts them by radix)."""
    if D.dtype in (np.uint8, np.uint16):
        return D
    if D.dtype.kind not in "iu" or D.size == 0:
        return None
    lo, hi = int(D.min()), int(D.max())
    if lo < 0 or hi >= 65536:
        return None
    return D.astype(np.uint8 if hi < 256 else np.uint16)


def _hist_np(D: np.ndarray, rel: np.ndarray, max_distance) -> np.ndarray:
    """Per-query histogram (c, b+1, 2) of distance x relevance ([..., 1] = relevant)."""
    c, n = D.shape
    hi = int(D.max()) if D.size else 0
    b = hi if max_distance is None else max_distance
    if hi > b:
        raise ValueError(f"distance {hi} exceeds the scorer's max_distance {b}")
    out = np.empty((c, b + 1, 2), dtype=np.int64)
    buf = np.empty(n, dtype=np.intp)
    for i in range(c):  # key = 2 d + rel, one reused buffer per chunk
        np.left_shift(D[i], 1, out=buf, dtype=np.intp)
        np.bitwise_or(buf, rel[i], out=buf)
        out[i] = np.bincount(buf, minlength=2 * (b + 1)).reshape(b + 1, 2)
    return out


def _positions_np(d: np.ndarray, rel: np.ndarray, tie: str, seed: int, q: int) -> np.ndarray:
    if tie == "index":
        order = np.argsort(d, kind="stable")
    else:
        perm = query_permutation(seed, q, d.shape[0])
        order = perm[np.argsort(d[perm], kind="stable")]
    return np.flatnonzero(np.take(rel, order))


def _random_view(groups: TiedRanking, d, rel, ctx, q: int) -> ExactRanking:
    """tie="random": sample within the tie groups; permutation fallback for many mixed groups
    (``d``/``rel`` numpy rows, or None on the device path where the caller handles it)."""
    pos = random_positions(groups.n, groups.r, ctx.seed, q)
    if pos is None:
        if d is None:
            return None
        pos = _positions_np(d, rel, "random", ctx.seed, q)
    return ExactRanking(pos, ctx.n_db)


def _tied_from_sorted(sd: np.ndarray, rs: np.ndarray) -> TiedRanking:
    n = sd.shape[0]
    if n == 0:
        return TiedRanking(np.zeros(0, np.int64), np.zeros(0, np.int64))
    starts = np.flatnonzero(np.concatenate(([True], sd[1:] != sd[:-1])))
    sizes = np.diff(np.append(starts, n))
    return TiedRanking(sizes, np.add.reduceat(rs.astype(np.int64), starts))


def _check_shape(D, c, n):
    if tuple(D.shape) != (c, n):
        raise ValueError(f"scorer returned distances of shape {tuple(D.shape)}, expected {(c, n)}")


def _work_np(ctx: _Context, s: int, e: int, D) -> tuple:
    D = np.asarray(D)
    _check_shape(D, e - s, ctx.n_db)
    rel = np.asarray(ctx.oracle.chunk(s, e), dtype=bool)
    R = np.count_nonzero(rel, axis=1)
    Dc = _compact(D) if ctx.discrete else None
    if Dc is None and D.dtype.kind == "f" and np.isnan(D).any():
        raise ValueError("distances contain NaN")
    disc = Dc is not None
    if disc:
        D = Dc
    hist = None
    if ctx.need_hist or (ctx.need_rank and ctx.tie != "index" and disc):
        if ctx.need_hist and not disc:
            raise ValueError("this measure needs a discrete scorer (small integer distances, e.g. Hamming)")
        hist = _hist_np(D, rel, ctx.max_distance)
    recs = []
    for i in range(e - s):
        view = None
        if ctx.need_rank:
            if ctx.tie == "index":
                view = ExactRanking(_positions_np(D[i], rel[i], "index", ctx.seed, s + i), ctx.n_db)
            else:
                if disc:
                    groups = TiedRanking.from_hist(hist[i])
                else:
                    order = np.argsort(D[i], kind="stable")
                    groups = _tied_from_sorted(D[i][order], rel[i][order])
                view = groups if ctx.tie == "expected" else _random_view(groups, D[i], rel[i], ctx, s + i)
        h = hist[i] if hist is not None else None
        recs.append(tuple(m.query(view, h, int(R[i])) for m in ctx.measures))
    return s, R, recs


def _work_torch(ctx: _Context, s: int, e: int, D) -> tuple:
    """Same as :func:`_work_np` with sorting/histograms on the tensor's device."""
    torch = torch_module()
    _check_shape(D, e - s, ctx.n_db)
    c, n, dev = e - s, ctx.n_db, D.device
    rel = ctx.oracle.chunk_torch(s, e, dev)
    R = rel.sum(1).cpu().numpy()
    disc = ctx.discrete and not D.is_floating_point() and D.dtype != torch.bool and D.numel() > 0
    disc = disc and int(D.min()) >= 0 and int(D.max()) < 65536
    if D.is_floating_point() and bool(torch.isnan(D).any()):
        raise ValueError("distances contain NaN")
    hist = None
    if ctx.need_hist or (ctx.need_rank and ctx.tie != "index" and disc):
        if ctx.need_hist and not disc:
            raise ValueError("this measure needs a discrete scorer (small integer distances, e.g. Hamming)")
        hi = int(D.max())
        b = hi if ctx.max_distance is None else ctx.max_distance
        if hi > b:
            raise ValueError(f"distance {hi} exceeds the scorer's max_distance {b}")
        keys = (torch.arange(c, device=dev)[:, None] * (b + 1) + D.long()) * 2 + rel.long()
        hist = torch.bincount(keys.reshape(-1), minlength=c * (b + 1) * 2).reshape(c, b + 1, 2).cpu().numpy()
    views = [None] * c
    if ctx.need_rank and ctx.tie != "index":
        if disc:
            groups = [TiedRanking.from_hist(hist[i]) for i in range(c)]
        else:
            sd, si = torch.sort(D, dim=1, stable=True)
            sd, rs = sd.cpu().numpy(), rel.gather(1, si).cpu().numpy()
            groups = [_tied_from_sorted(sd[i], rs[i]) for i in range(c)]
        views = groups if ctx.tie == "expected" else [_random_view(g, None, None, ctx, s + i) for i, g in enumerate(groups)]
    todo = [i for i in range(c) if views[i] is None] if ctx.need_rank else []
    if todo:  # index policy, or random with many mixed tie groups: sort on the device
        rows = torch.as_tensor(todo, device=dev)
        Dt, relt = D.index_select(0, rows), rel.index_select(0, rows)
        if ctx.tie == "index":
            order = torch.sort(Dt, dim=1, stable=True).indices
        else:
            perm = torch.from_numpy(np.stack([query_permutation(ctx.seed, s + i, n) for i in todo])).to(dev)
            order = perm.gather(1, torch.sort(Dt.gather(1, perm), dim=1, stable=True).indices)
        nz = relt.gather(1, order).nonzero().cpu().numpy()
        counts = np.bincount(nz[:, 0], minlength=len(todo))
        parts = np.split(nz[:, 1], np.cumsum(counts)[:-1])
        for i, p in zip(todo, parts):
            views[i] = ExactRanking(p, n)
    recs = []
    for i in range(c):
        h = hist[i] if hist is not None else None
        recs.append(tuple(m.query(views[i], h, int(R[i])) for m in ctx.measures))
    return s, R, recs


def _work(ctx: _Context, s: int, e: int) -> tuple:
    D = ctx.fetch(s, e)
    if is_torch(D):
        return _work_torch(ctx, s, e, D)
    return _work_np(ctx, s, e, D)


def _iter_chunks(ctx: _Context, chunk_size: int):
    Q = int(ctx.scorer.n_queries)
    bounds = [(s, min(s + chunk_size, Q)) for s in range(0, Q, chunk_size)]
    threads = n_threads()
    if threads <= 1 or len(bounds) <= 1 or ctx.scorer.device is not None:
        for s, e in bounds:
            yield _work(ctx, s, e)
        return
    pool = ThreadPoolExecutor(max_workers=threads)
    pending: deque = deque()
    try:
        for s, e in bounds:
            pending.append(pool.submit(_work, ctx, s, e))
            if len(pending) > threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for f in pending:
            f.cancel()
        pool.shutdown(wait=True)


def run_measures(measures, scorer, oracle, *, tie: str = "index", seed: int = 0, chunk_size=None):
    """Evaluate ``measures`` (objects with start/query/add/finish) in one pass over the chunks."""
    check_tie(tie)
    check_scorer(scorer)
    if int(oracle.n_queries) != int(scorer.n_queries) or int(oracle.n_db) != int(scorer.n_db):
        raise ValueError(
            f"relevance is {oracle.n_queries} x {oracle.n_db} but the scorer ranks "
            f"{scorer.n_queries} queries against {scorer.n_db} items")
    if int(scorer.n_db) == 0:
        raise ValueError("empty database: nothing to rank")
    chunk_size = effective_chunk_size(chunk_size, int(scorer.n_db))
    ctx = _Context(scorer, oracle, measures, tie, seed)
    for m in measures:
        m.start(int(scorer.n_queries), int(scorer.n_db))
    for s, R, recs in _iter_chunks(ctx, chunk_size):
        for i, rec in enumerate(recs):
            r = int(R[i])
            for m, x in zip(measures, rec):
                m.add(s + i, x, r)
    return [m.finish() for m in measures]
