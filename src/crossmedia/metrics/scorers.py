"""Scorers: objects that produce distances (lower = better) between a chunk of queries and the
whole database, so that measures can stream over query chunks.

The evaluation engine accepts :class:`Scorer` instances only; their interface is declared on the
base class (``n_queries``, ``n_db``, ``name``, ``discrete``, ``n_bits``, ``max_distance``,
``device``, :meth:`Scorer.distances`, :meth:`Scorer.native_distances`). numpy inputs give numpy
outputs, torch inputs give torch outputs; CUDA tensors are scored on their device. A distance
function of one's own is wrapped in :class:`FunctionScorer`.
"""

from __future__ import annotations

import numpy as np

from ._backend import is_torch, on_device, to_numpy, torch_module
from .ranking import binarize, pack_bits, packed_words, popcount_xor


class Scorer:
    """Base class of every scorer the metrics take. What a scorer promises:

    * ``n_queries``, ``n_db``: the query and database sizes;
    * ``name``: a short label recorded with the results;
    * ``discrete``: distances are small non-negative integers (e.g. Hamming), so ranking may use
      counting sorts and per-query histograms;
    * ``n_bits``: the code length of a Hamming scorer, else None;
    * ``max_distance``: an upper bound of a discrete scorer's distances, else None;
    * :attr:`distance_bound`: the bound the metrics use — ``max_distance``, else ``n_bits``;
    * ``device``: the CUDA device the distances are computed on, or None (CPU);
    * :meth:`distances` and :meth:`native_distances`.

    Subclasses implement ``_chunk`` (numpy on CPU, torch on a device)."""

    name = "scorer"
    discrete = False
    n_bits: int | None = None
    max_distance: int | None = None
    device = None
    n_queries: int
    n_db: int
    _torch_out = False  # inputs were torch tensors: return tensors from distances()

    def _check_range(self, start: int, stop: int) -> tuple[int, int]:
        start, stop = int(start), int(stop)
        if not 0 <= start <= stop <= self.n_queries:
            raise IndexError(f"query range {start}:{stop} outside 0:{self.n_queries}")
        return start, stop

    @property
    def distance_bound(self) -> int | None:
        """The largest distance a discrete scorer gives: ``max_distance`` when set, else ``n_bits``
        (a Hamming distance is at most the code length); None when neither is known."""
        bound = self.n_bits if self.max_distance is None else self.max_distance
        return None if bound is None else int(bound)

    def native_distances(self, start: int, stop: int):
        """Distances of queries ``start:stop`` in the scorer's own array type and dtype (numpy on
        the CPU, a tensor on its device; a discrete scorer's in any integer dtype): what the
        evaluation engine ranks, without the conversions :meth:`distances` makes."""
        return self._chunk(*self._check_range(start, stop))

    def distances(self, start: int, stop: int):
        """Distances of queries ``start:stop`` to every database item, lower = better (int32 for
        Hamming; tensors when the inputs were tensors)."""
        out = self.native_distances(start, stop)
        if self.discrete and self.n_bits is not None:
            out = out.to(torch_module().int32) if is_torch(out) else out.astype(np.int32)
        if self._torch_out and not is_torch(out):
            return torch_module().from_numpy(np.ascontiguousarray(out))
        return out

    def _chunk(self, start: int, stop: int):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_queries={self.n_queries}, n_db={self.n_db})"


class FunctionScorer(Scorer):
    """Distances from a function ``fn(start, stop) -> (stop - start, n_db)`` array or tensor
    (lower = better), e.g. a model's own score negated. ``discrete=True`` declares small
    non-negative integer distances, bounded by ``max_distance`` when given."""

    def __init__(self, fn, n_queries: int, n_db: int, *, discrete: bool = False,
                 max_distance: int | None = None, name: str = "function"):
        if not callable(fn):
            raise TypeError(f"FunctionScorer: fn must be callable, got {type(fn).__name__}")
        self._fn, self.name = fn, str(name)
        self.n_queries, self.n_db = int(n_queries), int(n_db)
        if self.n_queries < 0 or self.n_db < 0:
            raise ValueError(f"FunctionScorer: sizes must be >= 0, got {n_queries} x {n_db}")
        self.discrete = bool(discrete)
        if max_distance is not None and not self.discrete:
            raise ValueError("FunctionScorer: max_distance needs discrete=True")
        self.max_distance = None if max_distance is None else int(max_distance)

    def _chunk(self, start, stop):
        return self._fn(start, stop)


def check_scorer(scorer) -> Scorer:
    """``scorer`` itself when it is a :class:`Scorer`; else a TypeError naming what was given."""
    if not isinstance(scorer, Scorer):
        raise TypeError(f"scorer must be a crossmedia.metrics Scorer (wrap a distance function in "
                        f"FunctionScorer), got {type(scorer).__name__}")
    return scorer


def _device_of(*xs):
    for x in xs:
        if on_device(x):
            return x.device
    return None


def _float_np(x):
    a = to_numpy(x)
    return a if a.dtype in (np.float32, np.float64) else a.astype(np.float32)


class HammingScorer(Scorer):
    """Hamming distance between binary codes given as ±1 (or real, binarised ``x >= 0 -> +1``)
    or, with ``packed=True``, as uint8 packed bits (see :func:`pack_bits`). On CPU the codes are
    packed into uint64 words and compared with XOR + popcount; on CUDA via ``(b - q·d)/2``."""

    name = "hamming"
    discrete = True

    def __init__(self, query_codes, db_codes, *, packed: bool = False, n_bits: int | None = None):
        self._torch_out = is_torch(query_codes) or is_torch(db_codes)
        self.device = _device_of(query_codes, db_codes)
        if query_codes.ndim != 2 or db_codes.ndim != 2:
            raise ValueError("HammingScorer: codes must be 2-D (items x bits)")
        if query_codes.shape[1] != db_codes.shape[1]:
            raise ValueError(f"HammingScorer: code widths differ ({query_codes.shape[1]} vs {db_codes.shape[1]})")
        width = int(query_codes.shape[1])
        self.n_queries, self.n_db = int(query_codes.shape[0]), int(db_codes.shape[0])
        if packed:
            self.n_bits = int(n_bits) if n_bits is not None else 8 * width
            if not 0 < self.n_bits <= 8 * width:
                raise ValueError(f"HammingScorer: n_bits={self.n_bits} does not fit {width} packed bytes")
        else:
            self.n_bits = width
        self.max_distance = self.n_bits
        if self.device is not None:
            torch = torch_module()
            if packed:
                q = self._unpack_torch(torch.as_tensor(query_codes, device=self.device))
                d = self._unpack_torch(torch.as_tensor(db_codes, device=self.device))
            else:
                q = binarize(torch.as_tensor(query_codes, device=self.device)).to(torch.float32)
                d = binarize(torch.as_tensor(db_codes, device=self.device)).to(torch.float32)
            self._q, self._d = q, d
        else:
            if packed:  # clear any padding bits beyond n_bits
                pq, pd = (np.packbits(np.unpackbits(to_numpy(p), axis=1, count=self.n_bits, bitorder="little"),
                                      axis=1, bitorder="little") for p in (query_codes, db_codes))
            else:
                pq, pd = pack_bits(to_numpy(query_codes)), pack_bits(to_numpy(db_codes))
            self._wq, self._wdT = packed_words(pq), np.ascontiguousarray(packed_words(pd).T)

    def _unpack_torch(self, P):
        torch = torch_module()
        if P.dtype != torch.uint8:
            raise ValueError("HammingScorer(packed=True): packed codes must be uint8")
        shifts = torch.arange(8, device=P.device, dtype=torch.uint8)
        bits = ((P[:, :, None] >> shifts) & 1).reshape(P.shape[0], -1)[:, : self.n_bits]
        return bits.to(torch.float32) * 2 - 1

    def _chunk(self, start, stop):
        if self.device is not None:
            torch = torch_module()
            s = self._q[start:stop] @ self._d.T
            return torch.round((self.n_bits - s) * 0.5).to(torch.int32)
        return popcount_xor(self._wq[start:stop], self._wdT, self.n_bits)


class InnerProductScorer(Scorer):
    """Real-valued embeddings ranked by inner product (or cosine with ``cosine=True``);
    distance = -score."""

    def __init__(self, query, database, *, cosine: bool = False):
        self._torch_out = is_torch(query) or is_torch(database)
        self.device = _device_of(query, database)
        self.name = "cosine" if cosine else "inner_product"
        if query.ndim != 2 or database.ndim != 2 or query.shape[1] != database.shape[1]:
            raise ValueError(f"InnerProductScorer: need 2-D inputs of equal width, got {tuple(query.shape)} and {tuple(database.shape)}")
        self.n_queries, self.n_db = int(query.shape[0]), int(database.shape[0])
        if self.device is not None:
            torch = torch_module()
            q = torch.as_tensor(query, device=self.device)
            d = torch.as_tensor(database, device=self.device)
            if not q.is_floating_point():
                q, d = q.float(), d.float()
            if cosine:
                q = q / q.norm(dim=1, keepdim=True).clamp_min(1e-12)
                d = d / d.norm(dim=1, keepdim=True).clamp_min(1e-12)
        else:
            q, d = _float_np(query), _float_np(database)
            if q.dtype != d.dtype:
                q, d = q.astype(np.float64), d.astype(np.float64)
            if cosine:
                q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
                d = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
        self._q, self._d = q, d

    def _chunk(self, start, stop):
        return -(self._q[start:stop] @ self._d.T)


class _TableScorer(Scorer):
    """Shared gather-sum: score[q, n] = sum_m T[q, m, codes[n, m]] (m ascending)."""

    def _init_codes(self, codebooks, codes, device):
        if codebooks.ndim != 3:
            raise ValueError(f"codebooks must be (M, K, D), got shape {tuple(codebooks.shape)}")
        if codes.ndim != 2 or codes.shape[1] != codebooks.shape[0]:
            raise ValueError(f"codes must be (N, M={codebooks.shape[0]}), got shape {tuple(codes.shape)}")
        if device is not None:
            torch = torch_module()
            cb = torch.as_tensor(codebooks, device=device)
            cb = cb if cb.is_floating_point() else cb.float()
            if not bool(torch.isfinite(cb).all()):
                raise ValueError("codebooks contain NaN or infinite values")
            cd = torch.as_tensor(codes, device=device).long()
            if cd.numel() and (int(cd.min()) < 0 or int(cd.max()) >= cb.shape[1]):
                raise ValueError(f"codes must lie in 0..{cb.shape[1] - 1}")
            return cb, cd
        cb = _float_np(codebooks)
        if not np.isfinite(cb).all():
            raise ValueError("codebooks contain NaN or infinite values")
        cd = to_numpy(codes).astype(np.int64)
        if cd.size and (cd.min() < 0 or cd.max() >= cb.shape[1]):
            raise ValueError(f"codes must lie in 0..{cb.shape[1] - 1}")
        return cb, cd

    def _gather_sum(self, T):
        codes = self._codes
        if is_torch(T):
            out = T[:, 0, :].index_select(1, codes[:, 0])
            for m in range(1, codes.shape[1]):
                out = out + T[:, m, :].index_select(1, codes[:, m])
            return -out
        out = np.take(T[:, 0, :], codes[:, 0], axis=1)
        for m in range(1, codes.shape[1]):
            out += np.take(T[:, m, :], codes[:, m], axis=1)
        return np.negative(out, out=out)


class AQDScorer(_TableScorer):
    """Asymmetric quantizer distance: score = <q, x̂_n>, x̂_n = sum_m codebooks[m, codes[n, m]];
    computed from a per-query lookup table T[q, m, k] = <q, codebooks[m, k]>. distance = -score."""

    name = "aqd"

    def __init__(self, query, codebooks, codes):
        self._torch_out = is_torch(query) or is_torch(codebooks) or is_torch(codes)
        self.device = _device_of(query, codebooks, codes)
        self._cb, self._codes = self._init_codes(codebooks, codes, self.device)
        if query.ndim != 2 or query.shape[1] != self._cb.shape[2]:
            raise ValueError(f"AQDScorer: queries must be (Q, D={self._cb.shape[2]}), got {tuple(query.shape)}")
        if self.device is not None:
            q = torch_module().as_tensor(query, device=self.device)
            self._q = q.to(self._cb.dtype)
        else:
            self._q = _float_np(query).astype(self._cb.dtype, copy=False)
        self.n_queries, self.n_db = int(query.shape[0]), int(self._codes.shape[0])

    def _chunk(self, start, stop):
        q = self._q[start:stop]
        if self.device is not None:
            T = torch_module().einsum("qd,mkd->qmk", q, self._cb)
        else:
            T = np.einsum("qd,mkd->qmk", q, self._cb)
        return self._gather_sum(T)


class SQDScorer(_TableScorer):
    """Symmetric quantizer distance: score = <q̂, x̂_n> with both sides reconstructed, from
    per-codebook codeword·codeword tables G[m, k, m', k'] = <C_m,k, C_m',k'>. distance = -score."""

    name = "sqd"

    def __init__(self, query_codes, codebooks, db_codes):
        self._torch_out = is_torch(query_codes) or is_torch(codebooks) or is_torch(db_codes)
        self.device = _device_of(query_codes, codebooks, db_codes)
        self._cb, self._codes = self._init_codes(codebooks, db_codes, self.device)
        _, self._qcodes = self._init_codes(codebooks, query_codes, self.device)
        if self.device is not None:
            self._G = torch_module().einsum("mkd,nld->mknl", self._cb, self._cb)
        else:
            self._G = np.einsum("mkd,nld->mknl", self._cb, self._cb)
        self.n_queries, self.n_db = int(self._qcodes.shape[0]), int(self._codes.shape[0])

    def _chunk(self, start, stop):
        qc = self._qcodes[start:stop]
        T = self._G[0][qc[:, 0]]  # (c, M, K): rows of table 0 selected by the query's code
        for m in range(1, qc.shape[1]):
            T = T + self._G[m][qc[:, m]]
        return self._gather_sum(T)


class PrecomputedScorer(Scorer):
    """A given (Q, N) distance matrix (lower = better; negate similarities). Integer matrices
    with non-negative values are treated as discrete (``max_distance`` = their maximum)."""

    name = "precomputed"

    def __init__(self, distance_matrix, *, max_distance: int | None = None):
        self._torch_out = is_torch(distance_matrix)
        self.device = _device_of(distance_matrix)
        D = distance_matrix if self.device is not None else to_numpy(distance_matrix)
        if D.ndim != 2:
            raise ValueError(f"PrecomputedScorer: expected a 2-D matrix, got shape {tuple(D.shape)}")
        self._D = D
        self.n_queries, self.n_db = int(D.shape[0]), int(D.shape[1])
        integer = (not D.is_floating_point() and D.dtype != torch_module().bool) if is_torch(D) else D.dtype.kind in "iu"
        size = D.numel() if is_torch(D) else D.size
        if integer and size:
            lo, hi = int(D.min()), int(D.max())
            if lo >= 0 and hi < 65536:
                self.discrete = True
                self.max_distance = int(max_distance) if max_distance is not None else hi
                if self.max_distance < hi:
                    raise ValueError(f"PrecomputedScorer: max_distance={max_distance} < largest distance {hi}")

    def _chunk(self, start, stop):
        return self._D[start:stop]
