"""Our lookup-table AQD scan over composite / additive quantization codes.

Score of a database item coded b = (b_1..b_M) for a continuous query q: the asymmetric inner
product ⟨q, Σ_m C_m[b_m]⟩ = Σ_m T_m[b_m], T_m[k] = ⟨q, C_m[k]⟩ (CDQ, Cao et al. AAAI 2017; the
AQD of product/additive quantization, Jégou et al. TPAMI 2011). The scan is memory bound, so
codebooks are paired: for K ≤ 256 two byte codes form one 16-bit code and the table of the pair
T_{m,m'}[a + 256 b] = T_m[a] + T_{m'}[b] (65,536 floats, cache resident) halves the lookups.

Backends: ``numpy`` (CPU; chunked, preallocated, one query at a time) and ``torch`` (CPU or
CUDA; batched queries, chunked over the database, top-k selected on the device). The device
engines with the fused Triton scan are in :mod:`.torch_scan`.
"""

from __future__ import annotations

import numpy as np

from .base import Engine, _as_queries, in_query_blocks, merge_top_k, top_k

__all__ = ["AQDEngine"]


class AQDEngine(Engine):
    name = "aqd"

    def __init__(self, codebooks: np.ndarray, codes: np.ndarray, backend: str = "numpy", device: str = "cpu",
                 chunk: int = 1 << 18, threads: int = 1):
        cb = np.ascontiguousarray(codebooks, dtype=np.float32)
        codes = np.asarray(codes)
        if cb.ndim != 3 or codes.ndim != 2 or codes.shape[1] != cb.shape[0]:
            raise ValueError(f"AQDEngine: codebooks (M, K, D) and codes (N, M) expected, got {cb.shape} and {codes.shape}")
        if backend not in ("numpy", "torch"):
            raise ValueError(f"AQDEngine backend: expected 'numpy' or 'torch', got {backend!r}")
        self.codebooks = cb
        self.M, self.K, self.dim = cb.shape
        self.backend, self.device, self.chunk = backend, device, int(chunk)
        self._n = codes.shape[0]
        self.bytes_per_item = float(codes.shape[1] * (1 if self.K <= 256 else 4))
        self._paired = self.K <= 256 and self.M % 2 == 0
        if self._paired:
            # (M/2, N) uint16: low byte = code of codebook 2p, high byte = code of codebook 2p+1
            c8 = np.ascontiguousarray(codes, dtype=np.uint8)
            self._codes_t = np.ascontiguousarray(c8.view("<u2").T)
        else:
            self._codes_t = np.ascontiguousarray(codes.T.astype(np.int32 if self.K > 256 else np.uint8))
        self._torch_codes = None
        self.threads = max(1, int(threads))  # numpy backend: database split over this many threads
        self._pool = None

    @property
    def ntotal(self) -> int:
        return self._n

    def tables(self, q: np.ndarray) -> np.ndarray:
        """Lookup tables: (Q, M/2, K²) pair tables when paired, else (Q, M, K)."""
        t = in_query_blocks(np.asarray(q, np.float32), lambda b: np.einsum("qd,mkd->qmk", b, self.codebooks))
        if not self._paired:
            return t
        lo, hi = t[:, 0::2, :], t[:, 1::2, :]
        return (lo[:, :, None, :] + hi[:, :, :, None]).reshape(q.shape[0], self.M // 2, self.K * self.K)

    def scores(self, queries: np.ndarray) -> np.ndarray:
        q = _as_queries(queries)
        if self.backend == "torch":
            return self._scores_torch(q).cpu().numpy()
        out = np.empty((q.shape[0], self._n), dtype=np.float32)
        tabs = self.tables(q)
        for i in range(q.shape[0]):
            self._scan_numpy(tabs[i], 0, self._n, out[i])
        return out

    def _scan_numpy(self, tab: np.ndarray, lo: int, hi: int, out: np.ndarray) -> None:
        tmp = np.empty(min(self.chunk, hi - lo), dtype=np.float32)
        for s in range(lo, hi, self.chunk):
            e = min(s + self.chunk, hi)
            o = out[s - lo : e - lo]
            np.take(tab[0], self._codes_t[0, s:e], out=o)
            for m in range(1, tab.shape[0]):
                np.take(tab[m], self._codes_t[m, s:e], out=tmp[: e - s])
                o += tmp[: e - s]

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = _as_queries(queries)
        if self.backend == "torch":
            return self._search_torch(q, k)
        out_s = np.full((q.shape[0], k), -np.inf, dtype=np.float32)
        out_r = np.full((q.shape[0], k), -1, dtype=np.int64)
        tabs = self.tables(q)
        buf = np.empty(self._n, dtype=np.float32)
        bounds = np.linspace(0, self._n, self.threads + 1).astype(np.int64)

        def part(i, j):
            lo, hi = int(bounds[j]), int(bounds[j + 1])
            self._scan_numpy(tabs[i], lo, hi, buf[lo:hi])
            return top_k(buf[lo:hi], k, offset=lo)

        for i in range(q.shape[0]):
            if self.threads == 1:
                s, r = part(i, 0)
            else:  # numpy's take and add release the GIL: the parts scan in parallel
                if self._pool is None:
                    from concurrent.futures import ThreadPoolExecutor

                    self._pool = ThreadPoolExecutor(self.threads)
                s, r = merge_top_k(list(self._pool.map(lambda j: part(i, j), range(self.threads))), k)
            out_s[i, : len(s)], out_r[i, : len(r)] = s, r
        return out_s, out_r

    # ------------------------------------------------------------------ torch (CPU / CUDA)
    def _torch_state(self):
        import torch

        if self._torch_codes is None:
            self._torch_codes = torch.from_numpy(self._codes_t.astype(np.int32)).to(self.device)
        return torch, self._torch_codes

    def _scores_torch(self, q: np.ndarray, lo: int = 0, hi: int | None = None):
        torch, codes = self._torch_state()
        hi = self._n if hi is None else hi
        tab = torch.from_numpy(self.tables(q)).to(self.device)  # (Q, P, T)
        out = torch.zeros(q.shape[0], hi - lo, dtype=torch.float32, device=self.device)
        for m in range(tab.shape[1]):
            out += tab[:, m, :].index_select(1, codes[m, lo:hi])
        return out

    def _search_torch(self, q: np.ndarray, k: int):
        # per-chunk topk merged on the device: only the (Q, k) result is copied to the host
        from .torch_topk import RunningTopK, to_host

        torch, _ = self._torch_state()
        run = RunningTopK(k)
        with torch.no_grad():
            for s in range(0, self._n, self.chunk):
                run.push(self._scores_torch(q, s, min(s + self.chunk, self._n)), s)
        return to_host(run.result(), q.shape[0], k)
