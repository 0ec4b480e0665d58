"""Retrieval measures over a ranking by distance (METRICS.md). Each streams over query chunks
and returns a :class:`MetricResult` that records its conventions.

- mAP@all (DCMH protocol): AP(q) = (1/R_q) sum_k P_q(k) rel_q(k) over the whole ranking.
- mAP@K (hashing convention): divided by the relevant items retrieved in the top K
  (``normalize="retrieved"``); also ``"min_k_r"`` (÷min(K, R_q)) and ``"r"`` (÷R_q).
- MAP@R (Musgrave et al., "A Metric Learning Reality Check", ECCV 2020): K = R_q per query,
  divided by R_q. Not the quantization papers' "MAP@R" with fixed R, which is mAP@K.
- P@K, precision@N curves, PR at N (top-N), PR by Hamming radius (micro and macro).

Queries without relevant items (R_q = 0) count as 0 (``empty_query="zero"``, default) or are
left out (``"skip"``); their number is always reported. Tie policies: see :mod:`.ties`.
"""

from __future__ import annotations

import numpy as np

from ._engine import check_empty_query, run_measures
from ._views import NORMALIZE, TiedRanking
from .relevance import LabelRelevance
from .scorers import FunctionScorer, check_scorer
from .spec import MetricResult

REL_RULE = "share>=1 label"


def check_normalize(normalize: str) -> str:
    if normalize not in NORMALIZE:
        raise ValueError(f"normalize={normalize!r}: expected one of {', '.join(NORMALIZE)}")
    return normalize


def check_k(k, what: str = "k"):
    if k is None:
        return None
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"{what} must be a positive integer or None (= all), got {k!r}")
    return int(k)


class _Measure:
    """Protocol used by the engine: start(Q, N); query(view, hist, R) -> record (in a worker
    thread); add(q, record, R) (main thread, query order); finish() -> MetricResult."""

    needs_rank = True
    needs_hist = False

    def __init__(self, name: str, spec: dict, empty_query: str):
        self.name, self.spec = name, {"name": name, **spec}
        self.empty_query = check_empty_query(empty_query)
        self.spec["empty_query"] = empty_query

    def start(self, Q: int, N: int):
        self.Q, self.N = Q, N
        self.empty = np.zeros(Q, dtype=bool)

    def _result(self, value, n_averaged, per_query=None):
        return MetricResult(self.name, value, self.Q, int(self.empty.sum()), self.spec,
                            n_averaged=int(n_averaged), n_db=self.N, per_query=per_query)


class _Scalar(_Measure):
    """A per-query number averaged over queries."""

    def start(self, Q, N):
        super().start(Q, N)
        self.values = np.zeros(Q, dtype=np.float64)

    def add(self, q, rec, R):
        self.values[q] = rec
        self.empty[q] = R == 0

    def finish(self):
        keep = ~self.empty if self.empty_query == "skip" else np.ones(self.Q, dtype=bool)
        value = float(self.values[keep].mean()) if keep.any() else float("nan")
        return self._result(value, keep.sum(), per_query=self.values.copy())


class _AP(_Scalar):
    def __init__(self, name, k, normalize, spec, empty_query):
        super().__init__(name, spec, empty_query)
        self.k, self.normalize = k, normalize

    def query(self, view, hist, R):
        return view.ap(self.k, self.normalize) if R else 0.0


class _MAPR(_Scalar):
    def query(self, view, hist, R):
        return view.map_at_r() if R else 0.0


class _PK(_Scalar):
    def __init__(self, name, k, spec, empty_query):
        super().__init__(name, spec, empty_query)
        self.k = k

    def query(self, view, hist, R):
        return view.count_top(self.k) / self.k


def default_n_grid(n_db: int, points: int = 200) -> np.ndarray:
    """N grid for top-N curves: every N up to 1000 items (or |D|), else about ``points``
    log-spaced values plus round hundreds up to 1000, always including N = |D|."""
    if n_db <= 1000:
        return np.arange(1, n_db + 1)
    g = np.unique(np.concatenate([
        np.round(np.geomspace(1, n_db, points)).astype(np.int64),
        np.arange(100, 1001, 100), [n_db]]))
    return g[(g >= 1) & (g <= n_db)]


def _resolve_ns(ns, n_db: int):
    if ns is None:
        return default_n_grid(n_db), False
    if isinstance(ns, str):
        if ns != "all":
            raise ValueError(f"ns={ns!r}: expected None (default grid), 'all' or a list of positive integers")
        return np.arange(1, n_db + 1), True
    arr = np.asarray(ns, dtype=np.int64).ravel()
    if arr.size == 0 or arr.min() < 1:
        raise ValueError("ns must be positive integers")
    full = arr.size == n_db and np.array_equal(arr, np.arange(1, n_db + 1))
    return arr, full


class _TopNCurve(_Measure):
    """Precision (and recall) at N, macro-averaged; sums accumulate in query order."""

    def __init__(self, name, ns, with_recall, spec, empty_query):
        super().__init__(name, spec, empty_query)
        self.ns_arg, self.with_recall = ns, with_recall

    def start(self, Q, N):
        super().start(Q, N)
        self.ns, self.full = _resolve_ns(self.ns_arg, N)
        self.sum_count = np.zeros(len(self.ns))
        self.sum_recall = np.zeros(len(self.ns))
        self.used = 0

    def query(self, view, hist, R):
        return view.count_top_all() if self.full else view.count_top_many(self.ns)

    def add(self, q, counts, R):
        self.empty[q] = R == 0
        if R == 0 and self.empty_query == "skip":
            return
        self.used += 1
        self.sum_count += counts
        if self.with_recall and R:
            self.sum_recall += counts / R

    def finish(self):
        u = max(self.used, 1)
        prec = self.sum_count / self.ns / u if self.used else np.full(len(self.ns), np.nan)
        value = {"n": self.ns, "precision": prec}
        if self.with_recall:
            value["recall"] = self.sum_recall / u if self.used else np.full(len(self.ns), np.nan)
        return self._result(value, self.used)


class _PRRadius(_Measure):
    """Precision/recall of the Hamming ball H <= r, r = 0..b, from per-query histograms."""

    needs_rank = False
    needs_hist = True

    def __init__(self, name, n_bits, spec, empty_query):
        super().__init__(name, spec, empty_query)
        self.n_bits = n_bits

    def start(self, Q, N):
        super().start(Q, N)
        self.hist = np.zeros((Q, self.n_bits + 1, 2), dtype=np.int64)

    def query(self, view, hist, R):
        return hist

    def add(self, q, hist, R):
        self.hist[q] = hist
        self.empty[q] = R == 0

    def finish(self):
        keep = ~self.empty if self.empty_query == "skip" else np.ones(self.Q, dtype=bool)
        h = self.hist[keep]
        retrieved = np.cumsum(h.sum(2), axis=1)  # (q, r): items with H <= r
        hits = np.cumsum(h[:, :, 1], axis=1)
        R = h[:, :, 1].sum(1)
        with np.errstate(divide="ignore", invalid="ignore"):
            micro_p = np.where(retrieved.sum(0) > 0, hits.sum(0) / retrieved.sum(0), 0.0)
            micro_r = hits.sum(0) / R.sum() if R.sum() else np.zeros(h.shape[1])
            macro_p = np.where(retrieved > 0, hits / np.maximum(retrieved, 1), 0.0)
            macro_r = np.where(R[:, None] > 0, hits / np.maximum(R[:, None], 1), 0.0)
        n = int(keep.sum())
        nan = np.full(self.n_bits + 1, np.nan)
        value = {
            "radius": np.arange(self.n_bits + 1),
            "micro": {"precision": micro_p if n else nan, "recall": micro_r if n else nan},
            "macro": {"precision": macro_p.mean(0) if n else nan, "recall": macro_r.mean(0) if n else nan},
        }
        return self._result(value, n)


# --- construction helpers shared with api.py -----------------------------------------------

def _spec(measure, convention, tie, seed, k=None, normalize=None, rule=REL_RULE):
    return {"measure": measure, "convention": convention, "relevance": rule, "tie": tie,
            "k": k, "normalize": normalize, "seed": seed}


def make_ap(name, k, normalize, tie, seed, empty_query):
    k = check_k(k)
    normalize = check_normalize(normalize)
    if k is None:
        spec = _spec("mAP@all", "DCMH protocol: AP over the whole ranking, divided by R_q", tie, seed, None, "r")
        return _AP(name, None, "r", spec, empty_query)
    conv = {"retrieved": "hashing convention: divided by relevant items retrieved in the top K",
            "min_k_r": "divided by min(K, R_q)", "r": "divided by R_q"}[normalize]
    return _AP(name, k, normalize, _spec(f"mAP@{k}", conv, tie, seed, k, normalize), empty_query)


def make_map_r(name, tie, seed, empty_query):
    spec = _spec("MAP@R", "Musgrave et al. 2020: K = R_q per query, divided by R_q", tie, seed, "R_q", "r")
    return _MAPR(name, spec, empty_query)


def make_pk(name, k, tie, seed, empty_query):
    k = check_k(k)
    if k is None:
        raise ValueError("precision_at_k needs a positive integer k")
    return _PK(name, k, _spec(f"P@{k}", "(1/K) sum_{k<=K} rel_q(k), averaged over queries", tie, seed, k), empty_query)


def make_curve(name, ns, with_recall, tie, seed, empty_query):
    measure = "PR@N (top-N)" if with_recall else "precision@N curve"
    spec = _spec(measure, "macro average over queries of precision (and recall) of the top N", tie, seed)
    spec["ns"] = "all" if isinstance(ns, str) else ("default grid" if ns is None else "given")
    return _TopNCurve(name, ns, with_recall, spec, empty_query)


def make_pr_radius(name, scorer, empty_query):
    check_scorer(scorer)
    n_bits = scorer.distance_bound
    if not scorer.discrete or n_bits is None:
        raise ValueError("pr_hamming_radius needs a Hamming-like (discrete) scorer with a distance bound (n_bits or max_distance)")
    spec = _spec("PR by Hamming radius", "retrieved = {d: H(q,d) <= r}, r = 0..b; micro pools all pairs, "
                 "macro averages per query (precision 0 when nothing is retrieved)", "n/a", None)
    return _PRRadius(name, int(n_bits), spec, empty_query)


def _labels(Yq, Yd):
    return LabelRelevance(Yq, Yd)


# --- public measures -------------------------------------------------------------------------

def mean_average_precision(scorer, Yq, Yd, *, k=None, normalize="retrieved", tie="index",
                           empty_query="zero", seed=0, chunk_size=None) -> MetricResult:
    """mAP@all (k=None, DCMH protocol: ÷R_q) or mAP@K with ``normalize`` = ``"retrieved"``
    (hashing convention), ``"min_k_r"`` or ``"r"``. ``tie``: index | random | expected."""
    name = "map_all" if k is None else f"map@{k}"
    m = make_ap(name, k, normalize, tie, seed, empty_query)
    return run_measures([m], scorer, _labels(Yq, Yd), tie=tie, seed=seed, chunk_size=chunk_size)[0]


def map_at_r(scorer, Yq, Yd, *, tie="index", empty_query="zero", seed=0, chunk_size=None) -> MetricResult:
    """MAP@R (Musgrave et al. 2020): R = R_q per query, (1/R_q) sum_{k<=R_q} P(k) rel(k)."""
    m = make_map_r("map@r", tie, seed, empty_query)
    return run_measures([m], scorer, _labels(Yq, Yd), tie=tie, seed=seed, chunk_size=chunk_size)[0]


def precision_at_k(scorer, Yq, Yd, k, *, tie="index", empty_query="zero", seed=0, chunk_size=None) -> MetricResult:
    """P@K = (1/K) sum_{k<=K} rel_q(k), averaged over queries."""
    m = make_pk(f"p@{k}", k, tie, seed, empty_query)
    return run_measures([m], scorer, _labels(Yq, Yd), tie=tie, seed=seed, chunk_size=chunk_size)[0]


def precision_at_n_curve(scorer, Yq, Yd, *, ns=None, tie="index", empty_query="zero", seed=0,
                         chunk_size=None) -> MetricResult:
    """Precision of the top N for N in ``ns`` (None: :func:`default_n_grid`; "all": 1..|D|).
    ``value = {"n": ns, "precision": array}``."""
    m = make_curve("p@n", ns, False, tie, seed, empty_query)
    return run_measures([m], scorer, _labels(Yq, Yd), tie=tie, seed=seed, chunk_size=chunk_size)[0]


def pr_top_n(scorer, Yq, Yd, *, ns=None, tie="index", empty_query="zero", seed=0, chunk_size=None) -> MetricResult:
    """Precision and recall of the top N (macro average). ``value = {"n", "precision", "recall"}``;
    a query without relevant items has recall 0 under ``empty_query="zero"``."""
    m = make_curve("pr_topn", ns, True, tie, seed, empty_query)
    return run_measures([m], scorer, _labels(Yq, Yd), tie=tie, seed=seed, chunk_size=chunk_size)[0]


def pr_hamming_radius(scorer, Yq, Yd, *, empty_query="zero", chunk_size=None) -> MetricResult:
    """Precision/recall of the Hamming ball H <= r for r = 0..b (r = b retrieves everything),
    micro (pooled over all pairs) and macro (per query, then averaged); computed from
    per-query (distance x relevance) histograms, O(Q·b) memory. Ties do not matter here."""
    m = make_pr_radius("pr_radius", scorer, empty_query)
    return run_measures([m], scorer, _labels(Yq, Yd), tie="index", chunk_size=chunk_size)[0]


class _RelevantCount(_Scalar):
    needs_rank = False

    def query(self, view, hist, R):
        if R == 0:
            return 0.0
        return TiedRanking(np.array([self.N]), np.array([R])).ap(None, "r")


def random_ranking_map(Yq, Yd, empty_query="zero", *, chunk_size=None) -> MetricResult:
    """Expected mAP@all of a uniformly random ranking (all distances equal, tie="expected"):
    per query H_N/N + (R-1)/(N-1)·(1 - H_N/N). A floor to read results against."""
    oracle = LabelRelevance(Yq, Yd)
    spec = _spec("mAP@all of a random ranking", "expected AP with every item tied (He et al. 2018)",
                 "expected", None, None, "r")
    m = _RelevantCount("random_map_all", spec, empty_query)

    null = FunctionScorer(lambda s, e: np.zeros((e - s, oracle.n_db), dtype=np.uint8),
                          oracle.n_queries, oracle.n_db, name="none")
    return run_measures([m], null, oracle, tie="index", chunk_size=chunk_size)[0]
