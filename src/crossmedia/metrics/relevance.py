"""Relevance: rel(q, d) = 1 iff the query and the item share at least one label,
``(Yq @ Yd.T) > 0`` (DCMH protocol; label equality for single-label sets).

Labels may be multi-hot (bool/int/float, 2-D, every entry 0 or 1: anything else, NaN included,
is a ValueError) or 1-D integer class vectors. The caller's arrays are never modified. Labels are
turned into bit masks so a chunk of relevance is an AND of uint64 words; this equals
``(Yq @ Yd.T) > 0``.
"""

from __future__ import annotations

import numpy as np

from ._backend import is_torch, to_numpy, torch_module

RULE = "share>=1 label ((Yq @ Yd.T) > 0)"


def _labels_np(Y, what: str) -> np.ndarray:
    a = to_numpy(Y)
    if a.ndim not in (1, 2):
        raise ValueError(f"{what}: labels must be 1-D class ids or 2-D multi-hot, got shape {a.shape}")
    return a


def _class_ids(a: np.ndarray, what: str) -> np.ndarray:
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
            raise ValueError(f"{what}: 1-D labels must be integer class ids")
    elif a.dtype.kind not in "iub":
        raise ValueError(f"{what}: 1-D labels must be integer class ids, got {a.dtype}")
    ids = a.astype(np.int64)
    if ids.size and ids.min() < 0:
        raise ValueError(f"{what}: class ids must be >= 0")
    return ids


def _check_multi_hot(a: np.ndarray, what: str) -> None:
    if a.dtype == bool:
        return
    bad = ~((a == 0) | (a == 1))  # NaN compares unequal to both
    if bad.any():
        r, c = (int(v[0]) for v in np.nonzero(bad))
        raise ValueError(f"{what}: multi-hot labels must be 0 or 1, found {a[r, c]!r} at row {r}, column {c}")


def _one_hot(ids: np.ndarray, n_classes: int) -> np.ndarray:
    if ids.size and ids.max() >= n_classes:
        raise ValueError(f"class id {int(ids.max())} out of range for {n_classes} label columns")
    out = np.zeros((ids.shape[0], n_classes), dtype=bool)
    out[np.arange(ids.shape[0]), ids] = True
    return out


def _bitmask(Y: np.ndarray, n_classes: int) -> np.ndarray:
    """(N, C) labels -> (N, W) words with bit c set iff Y[:, c] > 0; the narrowest signed
    word type that holds C bits (int16/int32/int64; several int64 words beyond 64)."""
    pos = Y > 0 if Y.dtype != bool else Y
    n, c = pos.shape
    width = 16 if n_classes <= 16 else 32 if n_classes <= 32 else 64
    nw = max(1, (c + width - 1) // width)
    bits = np.zeros((n, nw * width), dtype=bool)
    bits[:, :c] = pos
    dt = {16: np.int16, 32: np.int32, 64: np.int64}[width]
    return np.packbits(bits, axis=1, bitorder="little").view(dt).reshape(n, nw)


class LabelRelevance:
    """Relevance oracle for label sets; ``chunk(start, stop)`` gives bool (stop-start, N)."""

    rule = RULE

    def __init__(self, Yq, Yd):
        q, d = _labels_np(Yq, "Yq"), _labels_np(Yd, "Yd")
        self.n_queries, self.n_db = int(q.shape[0]), int(d.shape[0])
        self._dev_cache: dict = {}
        if q.ndim == 1 and d.ndim == 1:
            self._mode = "ids"
            self._q, self._d = _class_ids(q, "Yq"), _class_ids(d, "Yd")
            return
        if q.ndim == 1:
            q = _one_hot(_class_ids(q, "Yq"), d.shape[1])
        if d.ndim == 1:
            d = _one_hot(_class_ids(d, "Yd"), q.shape[1])
        if q.shape[1] != d.shape[1]:
            raise ValueError(f"label widths differ: Yq has {q.shape[1]} columns, Yd {d.shape[1]}")
        if q.dtype.kind not in "biuf" or d.dtype.kind not in "biuf":
            raise ValueError(f"labels must be bool/int/float, got {q.dtype} and {d.dtype}")
        _check_multi_hot(q, "Yq")
        _check_multi_hot(d, "Yd")
        self._mode = "mask"
        self._q, self._d = _bitmask(q, q.shape[1]), _bitmask(d, q.shape[1])
        self._dT = np.ascontiguousarray(self._d.T)

    def chunk(self, start: int, stop: int) -> np.ndarray:
        q = self._q[start:stop]
        if self._mode == "ids":
            return q[:, None] == self._d[None, :]
        if self._mode == "dot":
            return (q @ self._d.T) > 0
        # row by row with one reused buffer (stays in cache)
        out = np.empty((q.shape[0], self.n_db), dtype=bool)
        buf = np.empty(self.n_db, dtype=self._dT.dtype)
        for i in range(q.shape[0]):
            np.bitwise_and(self._dT[0], q[i, 0], out=buf)
            np.not_equal(buf, 0, out=out[i])
            for w in range(1, q.shape[1]):
                out[i] |= np.bitwise_and(self._dT[w], q[i, w], out=buf) != 0
        return out

    def chunk_torch(self, start: int, stop: int, device):
        torch = torch_module()
        key = str(device)
        if key not in self._dev_cache:
            self._dev_cache[key] = (torch.from_numpy(self._q).to(device), torch.from_numpy(self._d).to(device))
        tq, td = self._dev_cache[key]
        q = tq[start:stop]
        if self._mode == "ids":
            return q[:, None] == td[None, :]
        if self._mode == "dot":
            return (q @ td.T) > 0
        out = (q[:, None, 0] & td[None, :, 0]) != 0
        for w in range(1, q.shape[1]):
            out |= (q[:, None, w] & td[None, :, w]) != 0
        return out


class MatrixRelevance:
    """Relevance given explicitly as a (Q, N) positives matrix (e.g. captions of an image)."""

    rule = "explicit positives matrix"

    def __init__(self, positives):
        self._torch_in = is_torch(positives)
        self._P = positives if self._torch_in else np.asarray(positives)
        if self._P.ndim != 2:
            raise ValueError(f"positives must be a 2-D (queries x database) matrix, got shape {tuple(self._P.shape)}")
        self.n_queries, self.n_db = int(self._P.shape[0]), int(self._P.shape[1])

    def chunk(self, start, stop) -> np.ndarray:
        return to_numpy(self._P[start:stop]) != 0

    def chunk_torch(self, start, stop, device):
        torch = torch_module()
        p = self._P[start:stop]
        p = p.to(device) if self._torch_in else torch.from_numpy(np.ascontiguousarray(p)).to(device)
        return p != 0


def relevance(Yq, Yd):
    """Full (Q, N) bool relevance ``(Yq @ Yd.T) > 0`` (share >= 1 label), computed on copies.
    Returns a torch tensor (on Yq's device) when Yq is a tensor, else a numpy array."""
    oracle = LabelRelevance(Yq, Yd)
    out = oracle.chunk(0, oracle.n_queries)
    if is_torch(Yq):
        return torch_module().from_numpy(np.ascontiguousarray(out)).to(Yq.device)
    return out
