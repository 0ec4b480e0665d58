"""Tie policies for ranking by distance, and the tie-aware expectations they need.

- ``index``: stable sort by (distance, database index) — the default, as in most code.
- ``random``: a uniformly random order within each tie group, drawn from a generator seeded
  with ``(seed, global query index)``, so the value does not depend on chunking. Only where
  the relevant items land matters, so each group with n items, r relevant, draws a uniform
  r-subset of its n positions; with very many mixed groups (float distances), a random
  permutation of the database breaks the ties instead.
- ``expected``: the exact expectation over all orderings within tie groups (tie-aware AP,
  He et al., "Hashing as Tie-Aware Learning to Rank", CVPR 2018), in closed form from
  per-group counts.

Derivation used throughout. A tie group of n items, r of them relevant, follows a items of
which c are relevant. Within the group the order is uniform, so for its i-th position
E[rel] = r/n and E[rel_i rel_j] = r(r-1)/(n(n-1)) (i != j). The expected AP numerator of its
first m positions is therefore

    sum_{i=1..m} [ (r/n)(c+1) + (i-1) r(r-1)/(n(n-1)) ] / (a+i)
      = (r/n)(c+1) S1 + r(r-1)/(n(n-1)) S2,
    S1 = sum_{i=1..m} 1/(a+i),   S2 = sum_{i=1..m} (i-1)/(a+i) = m - (a+1) S1.
"""

from __future__ import annotations

import functools
import math

import numpy as np

TIE_POLICIES = ("index", "random", "expected")

_X0 = 100  # below this, harmonic sums come from an exact table; above, an asymptotic series


@functools.lru_cache(maxsize=1)
def _segment_table() -> np.ndarray:
    """T[lo, hi] = sum_{j=lo}^{hi-1} 1/j for 1 <= lo <= hi <= _X0, each entry correctly rounded
    (fsum). Differences of prefix sums H[hi-1] - H[lo-1] would lose relative accuracy on short
    segments (1/44 as H(44) - H(43) is 1e-14 off); built on first use (about 0.1 s)."""
    t = np.zeros((_X0 + 1, _X0 + 1))
    for lo in range(1, _X0 + 1):
        terms = [1.0 / j for j in range(lo, _X0)]
        for hi in range(lo + 1, _X0 + 1):
            t[lo, hi] = math.fsum(terms[: hi - lo])
    return t


def check_tie(tie: str) -> str:
    if tie not in TIE_POLICIES:
        raise ValueError(f"tie={tie!r}: expected one of {', '.join(TIE_POLICIES)}")
    return tie


MAX_MIXED_GROUPS = 256  # beyond this many groups with 0 < r < n: permutation instead


def query_rng(seed: int, query_index: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(query_index)])


def random_positions(n: np.ndarray, r: np.ndarray, seed: int, query_index: int):
    """Sorted 0-based positions of the relevant items after a uniformly random order within
    each tie group (groups in rank order, n items / r relevant each); None when there are
    more than MAX_MIXED_GROUPS groups holding both relevant and irrelevant items."""
    n, r = np.asarray(n, dtype=np.int64), np.asarray(r, dtype=np.int64)
    mixed = np.flatnonzero((r > 0) & (r < n))
    if len(mixed) > MAX_MIXED_GROUPS:
        return None
    a, c = np.cumsum(n) - n, np.cumsum(r) - r
    out = np.empty(int(r.sum()), dtype=np.int64)
    full = (r == n) & (r > 0)
    if full.any():  # every item relevant: positions a .. a+n-1
        rf = r[full]
        within = np.arange(int(rf.sum())) - np.repeat(np.cumsum(rf) - rf, rf)
        out[np.repeat(c[full], rf) + within] = np.repeat(a[full], rf) + within
    if len(mixed):
        rng = query_rng(seed, query_index)
        for g in mixed:
            pick = rng.choice(int(n[g]), size=int(r[g]), replace=False, shuffle=False)
            out[c[g] : c[g] + r[g]] = a[g] + np.sort(pick)
    return out


def query_permutation(seed: int, query_index: int, n: int) -> np.ndarray:
    """The random tie-breaking order of query ``query_index``: a permutation of range(n) that
    depends only on (seed, global query index)."""
    return query_rng(seed, query_index).permutation(n)


def _psi_diff(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """psi(x+m) - psi(x) for x >= 100 from the asymptotic series, written in differences so
    that it keeps full relative accuracy for small m/x (truncation error < 1e-18)."""
    y = x + m
    ix2, iy2 = 1.0 / (x * x), 1.0 / (y * y)
    d1 = m / (x * y)  # 1/x - 1/y
    d2 = d1 * (x + y) / (x * y)  # 1/x^2 - 1/y^2
    return (np.log1p(m / x) + d1 / 2 + d2 / 12 - d2 * (ix2 + iy2) / 120
            + d2 * (ix2 * ix2 + ix2 * iy2 + iy2 * iy2) / 252)


def harmonic_segment(x, m) -> np.ndarray:
    """sum_{j=x}^{x+m-1} 1/j for integers x >= 1, m >= 0 (vectorised)."""
    x, m = np.broadcast_arrays(np.asarray(x, dtype=np.int64), np.asarray(m, dtype=np.int64))
    y = x + m
    lo, hi = np.minimum(x, _X0), np.minimum(y, _X0)
    small = np.where(hi > lo, _segment_table()[lo, hi], 0.0)
    xs = np.maximum(x, _X0)
    mm = np.maximum(y - xs, 0)
    large = np.where(mm > 0, _psi_diff(xs.astype(np.float64), mm.astype(np.float64)), 0.0)
    return small + large


def segment_sums(a, m):
    """S1 = sum_{i=1..m} 1/(a+i) and S2 = sum_{i=1..m} (i-1)/(a+i)."""
    a, m = np.asarray(a, dtype=np.int64), np.asarray(m, dtype=np.int64)
    s1 = np.where(m == 1, 1.0 / (a + 1), harmonic_segment(a + 1, m))
    return s1, np.maximum(m - (a + 1) * s1, 0.0)


def group_ap_numerator(a, c, n, r, m) -> np.ndarray:
    """Expected AP-numerator contribution of the first m positions of each tie group (see the
    module docstring). All arguments are arrays of equal length; n >= 1, 0 <= m <= n."""
    a, c, n, r, m = (np.asarray(v, dtype=np.int64) for v in (a, c, n, r, m))
    s1, s2 = segment_sums(a, m)
    pair = (r * (r - 1)) / np.maximum(n * (n - 1), 1)
    return (r / n) * (c + 1) * s1 + pair * s2


def hypergeom_pmf(n: int, r: int, m: int):
    """Support and pmf of the number of relevant items among the first m of a uniformly
    shuffled group of n items with r relevant."""
    from scipy.stats import hypergeom  # noqa: PLC0415

    xs = np.arange(max(0, m - (n - r)), min(m, r) + 1)
    return xs, hypergeom.pmf(xs, n, r, m)


def prob_first_within(n: int, r: int, j):
    """P(min position of r relevant items in a shuffled group of n is <= j), j array."""
    from scipy.special import gammaln  # noqa: PLC0415

    j = np.asarray(j, dtype=np.int64)
    jj = np.clip(j, 0, n)
    ok = (n - jj) >= r  # C(n - j, r) > 0
    lnq = np.where(ok, gammaln(n - jj + 1.0) - gammaln(np.maximum(n - jj - r, 0) + 1.0)
                   - gammaln(n + 1.0) + gammaln(n - r + 1.0), -np.inf)
    return np.where(j <= 0, 0.0, 1.0 - np.exp(lnq))
