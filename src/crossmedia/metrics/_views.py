"""Per-query views of a ranking, the common input of every measure.

``ExactRanking``: one concrete order (tie policy ``index`` or ``random``), kept as the sorted
0-based positions of the relevant items. ``TiedRanking``: tie groups in rank order with their
sizes n and relevant counts r (tie policy ``expected``); measures are exact expectations over
the orderings within groups (He et al., CVPR 2018; see :mod:`.ties`).
"""

from __future__ import annotations

import numpy as np

from .ties import group_ap_numerator, hypergeom_pmf, prob_first_within, segment_sums

NORMALIZE = ("retrieved", "min_k_r", "r")
_RANKS = np.arange(1, 1025, dtype=np.float64)  # 1, 2, 3, ... grown on demand (read-only)


def _ranks(n: int) -> np.ndarray:
    global _RANKS
    r = _RANKS
    if r.shape[0] < n:
        r = np.arange(1, max(n, 2 * r.shape[0]) + 1, dtype=np.float64)
        _RANKS = r
    return r[:n]


class ExactRanking:
    __slots__ = ("pos", "n_db", "R", "_prec")

    def __init__(self, pos: np.ndarray, n_db: int):
        self.pos = np.asarray(pos, dtype=np.int64)
        self.n_db = int(n_db)
        self.R = int(self.pos.shape[0])
        self._prec = None

    @property
    def prec(self) -> np.ndarray:
        """P(k) at each relevant position k, in rank order."""
        if self._prec is None:
            self._prec = _ranks(self.R) / (self.pos + 1.0)
        return self._prec

    def count_top(self, k) -> float:
        """Number of relevant items in the top k (k None = all)."""
        return float(self.R if k is None else np.searchsorted(self.pos, k))

    def count_top_many(self, ks: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.pos, ks).astype(np.float64)

    def count_top_all(self) -> np.ndarray:
        """Relevant in the top N for N = 1..n_db."""
        return np.cumsum(np.bincount(self.pos, minlength=self.n_db)).astype(np.float64)

    def ap_numerator(self, k) -> float:
        m = self.R if k is None else int(np.searchsorted(self.pos, k))
        return float(self.prec[:m].sum())

    def ap(self, k, normalize: str) -> float:
        if self.R == 0:
            return 0.0
        if k is None:
            return float(self.prec.sum()) / self.R
        num = self.ap_numerator(k)
        if normalize == "retrieved":
            m = int(np.searchsorted(self.pos, k))
            return num / m if m else 0.0
        return num / (min(k, self.R) if normalize == "min_k_r" else self.R)

    def map_at_r(self) -> float:
        return self.ap_numerator(self.R) / self.R if self.R else 0.0

    def first_rank(self) -> float:
        """1-based rank of the best-ranked relevant item."""
        return float(self.pos[0] + 1) if self.R else float("nan")

    def hits(self, ks: np.ndarray) -> np.ndarray:
        return (self.pos[0] < ks).astype(np.float64) if self.R else np.zeros(len(ks))


class TiedRanking:
    __slots__ = ("n", "r", "a", "c", "ends", "R", "n_db")

    def __init__(self, n: np.ndarray, r: np.ndarray):
        n, r = np.asarray(n, dtype=np.int64), np.asarray(r, dtype=np.int64)
        keep = n > 0
        self.n, self.r = n[keep], r[keep]
        self.ends = np.cumsum(self.n)
        self.a = self.ends - self.n
        self.c = np.cumsum(self.r) - self.r
        self.R = int(self.r.sum())
        self.n_db = int(self.ends[-1]) if len(self.ends) else 0

    @classmethod
    def from_hist(cls, hist: np.ndarray) -> "TiedRanking":
        """From a (n_distances, 2) histogram: [:, 0] irrelevant, [:, 1] relevant counts."""
        return cls(hist[:, 0] + hist[:, 1], hist[:, 1])

    def count_top_many(self, ks) -> np.ndarray:
        ks = np.asarray(ks, dtype=np.int64)
        g = np.searchsorted(self.ends, ks, side="right")
        gc = np.minimum(g, len(self.n) - 1)
        part = self.c[gc] + np.clip(ks - self.a[gc], 0, None) * self.r[gc] / self.n[gc]
        return np.where(g >= len(self.n), float(self.R), part)

    def count_top(self, k) -> float:
        return float(self.R) if k is None else float(self.count_top_many(np.array([k]))[0])

    def count_top_all(self) -> np.ndarray:
        return self.count_top_many(np.arange(1, self.n_db + 1))

    def ap_numerator(self, k) -> float:
        m = self.n if k is None else np.clip(int(k) - self.a, 0, self.n)
        return float(group_ap_numerator(self.a, self.c, self.n, self.r, m).sum())

    def ap(self, k, normalize: str) -> float:
        if self.R == 0:
            return 0.0
        if k is None:
            return self.ap_numerator(None) / self.R
        if normalize == "retrieved":
            return self._ap_retrieved(int(k))
        return self.ap_numerator(k) / (min(k, self.R) if normalize == "min_k_r" else self.R)

    def _ap_retrieved(self, k: int) -> float:
        """E[num/den] where den = relevant items in the top k. Only the group straddling k
        makes den random (hypergeometric); the earlier groups' numerator is independent."""
        g = int(np.searchsorted(self.ends, k, side="right"))
        if g >= len(self.n) or k == self.a[g]:
            den = self.count_top(k)
            return self.ap_numerator(k) / den if den else 0.0
        a, c, n, r = int(self.a[g]), int(self.c[g]), int(self.n[g]), int(self.r[g])
        m = k - a
        before = self.ap_numerator(a)
        xs, p = hypergeom_pmf(n, r, m)
        # E[straddling group's numerator | x relevant in its first m positions]
        s1, s2 = segment_sums(a, m)
        part = (xs / m) * (c + 1) * s1 + (xs * (xs - 1)) / max(m * (m - 1), 1) * s2
        den = c + xs
        ok = den > 0
        return float(np.sum(p[ok] * (before + part[ok]) / den[ok]))

    def map_at_r(self) -> float:
        return self.ap_numerator(self.R) / self.R if self.R else 0.0

    def _first_group(self) -> int:
        return int(np.argmax(self.r > 0))

    def first_rank(self) -> float:
        """Expected 1-based rank of the best-ranked relevant item: a + (n+1)/(r+1)."""
        if self.R == 0:
            return float("nan")
        g = self._first_group()
        return float(self.a[g] + (self.n[g] + 1) / (self.r[g] + 1))

    def hits(self, ks: np.ndarray) -> np.ndarray:
        """P(best-ranked relevant item within the top k) for each k."""
        if self.R == 0:
            return np.zeros(len(ks))
        g = self._first_group()
        return prob_first_within(int(self.n[g]), int(self.r[g]), np.asarray(ks) - self.a[g])
