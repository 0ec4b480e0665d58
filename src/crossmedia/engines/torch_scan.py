"""Engines whose database lives on one torch device (a GPU, or the CPU for tests) and whose
top-k never leaves it: scores are computed chunk by chunk on the device, reduced to the best
``k`` there (:class:`.torch_topk.RunningTopK`), and only ``(Q, k)`` comes back to the host.

* :class:`TorchAQDEngine` — composite-quantization codes. ``kernel="triton"``: the fused scan
  (:mod:`.triton_aqd`; lookup tables and a running top-k per block of queries, codes read once
  per query block); ``kernel="torch"``: gather from 16-bit pair tables + ``torch.topk`` per
  chunk; ``"auto"``: Triton on CUDA when it is installed, else torch.
* :class:`TorchHammingEngine` — packed binary codes; XOR + SWAR popcount on 64-bit words.
* :class:`TorchFloatEngine` — float vectors (inner product / cosine), float32 or float16 storage.

Every engine follows the tie policy of :mod:`.base` exactly, so its results equal the numpy
engines' on the same scores.
"""

from __future__ import annotations

import numpy as np
import torch

from .base import Engine, _as_queries, in_query_blocks
from .floatvec import normalize
from .hamming import pack_bits
from .torch_topk import RunningTopK, to_host

__all__ = ["TorchAQDEngine", "TorchHammingEngine", "TorchFloatEngine", "KERNELS"]

KERNELS = ("auto", "torch", "triton")


def _tensor(a: np.ndarray, device) -> torch.Tensor:
    """``a`` on ``device`` (read-only arrays, e.g. memory-mapped index files, are copied first)."""
    a = np.ascontiguousarray(a)
    return torch.from_numpy(a if a.flags.writeable else a.copy()).to(device)


class TorchAQDEngine(Engine):
    """AQD scan of composite codes (N, M) with codebooks (M, K, D), K ≤ 256, on ``device``."""

    name = "aqd"

    def __init__(self, codebooks: np.ndarray, codes: np.ndarray, device: str = "cuda", kernel: str = "auto",
                 chunk: int = 1 << 20, block_q: int = 16, block_n: int = 256):
        cb = np.ascontiguousarray(codebooks, dtype=np.float32)
        codes = np.asarray(codes)
        if cb.ndim != 3 or codes.ndim != 2 or codes.shape[1] != cb.shape[0]:
            raise ValueError(f"TorchAQDEngine: codebooks (M, K, D) and codes (N, M) expected, got {cb.shape} and {codes.shape}")
        if cb.shape[1] > 256:
            raise ValueError(f"TorchAQDEngine: byte codes need K ≤ 256, got K = {cb.shape[1]}")
        if kernel not in KERNELS:
            raise ValueError(f"TorchAQDEngine kernel: expected one of {', '.join(KERNELS)}, got {kernel!r}")
        self.device = torch.device(device)
        self.M, self.K, self.dim = cb.shape
        self._n = codes.shape[0]
        self.bytes_per_item = float(self.M)
        self.chunk = int(chunk)
        self.block_q, self.block_n = int(block_q), int(block_n)
        self.kernel = self._pick_kernel(kernel)
        self._cb = _tensor(cb, self.device)
        c8 = np.ascontiguousarray(codes, dtype=np.uint8)
        if self.kernel == "triton":
            self._codes = _tensor(c8, self.device)  # (N, M) bytes, row-major: M bytes an item
        else:
            self._paired = self.M % 2 == 0
            # (P, N) int32 indices into the (pair) tables; paired: code of 2p + 256 · code of 2p+1
            t = c8.view("<u2").T if self._paired else c8.T
            self._codes = _tensor(t.astype(np.int32), self.device)

    @classmethod
    def from_device_codes(cls, codebooks: np.ndarray, codes: torch.Tensor, kernel: str = "auto",
                          chunk: int = 1 << 20, block_q: int = 16, block_n: int = 256) -> "TorchAQDEngine":
        """An engine over (N, M) uint8 codes already on a device (no host copy: databases
        generated or loaded on the GPU, e.g. 10⁹ items in the benchmark)."""
        if codes.dim() != 2 or codes.dtype != torch.uint8 or codes.shape[1] != np.asarray(codebooks).shape[0]:
            raise ValueError(f"from_device_codes: (N, M) uint8 codes expected, got {tuple(codes.shape)} {codes.dtype}")
        eng = cls(codebooks, np.zeros((0, codes.shape[1]), np.uint8), device=str(codes.device), kernel=kernel,
                  chunk=chunk, block_q=block_q, block_n=block_n)
        eng._n = codes.shape[0]
        if eng.kernel == "triton":
            eng._codes = codes.contiguous()
        else:
            c = codes.to(torch.int32)
            t = c[:, 0::2] + 256 * c[:, 1::2] if eng._paired else c
            eng._codes = t.T.contiguous()
        return eng

    def _pick_kernel(self, kernel: str) -> str:
        from . import triton_aqd

        if kernel == "torch":
            return "torch"
        ok, why = triton_aqd.available(self.device)
        if kernel == "triton" and not ok:
            raise ValueError(f"TorchAQDEngine kernel='triton': {why}")
        return "triton" if ok else "torch"

    @property
    def ntotal(self) -> int:
        return self._n

    @property
    def device_bytes(self) -> int:
        """Bytes the engine holds on its device (codes + codebooks)."""
        return int(self._codes.numel() * self._codes.element_size() + self._cb.numel() * 4)

    def tables(self, q: torch.Tensor) -> torch.Tensor:
        """(Q, M, K) float32 lookup tables T[q, m, k] = ⟨q, C_m[k]⟩, on the device."""
        return in_query_blocks(q, lambda b: torch.einsum("qd,mkd->qmk", b, self._cb)).contiguous()

    def _queries(self, queries) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(_as_queries(queries))).to(self.device)

    def _pair_tables(self, lut: torch.Tensor) -> torch.Tensor:
        if not self._paired:
            return lut
        q = lut.shape[0]
        lo, hi = lut[:, 0::2, :], lut[:, 1::2, :]
        return (lo[:, :, None, :] + hi[:, :, :, None]).reshape(q, self.M // 2, self.K * self.K)

    def _torch_scores(self, tabs: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        out = tabs[:, 0, :].index_select(1, self._codes[0, lo:hi])
        for m in range(1, tabs.shape[1]):
            out += tabs[:, m, :].index_select(1, self._codes[m, lo:hi])
        return out

    def _row_scores(self, lut: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        """Scores of rows lo..hi from the kernel's (N, M) byte layout by plain gathers (the same
        float32 sums as the kernel, in the same order)."""
        idx = self._codes[lo:hi].to(torch.int64)
        out = lut[:, 0, :].index_select(1, idx[:, 0])
        for m in range(1, self.M):
            out += lut[:, m, :].index_select(1, idx[:, m])
        return out

    @torch.no_grad()
    def scores(self, queries: np.ndarray) -> np.ndarray:
        q = self._queries(queries)
        lut = self.tables(q)
        if self.kernel == "triton":
            return self._row_scores(lut, 0, self._n).cpu().numpy()
        return self._torch_scores(self._pair_tables(lut), 0, self._n).cpu().numpy()

    @torch.no_grad()
    def search_device(self, queries, k: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Top-``k`` as device tensors (scores, rows), best first (None for an empty database)."""
        q = self._queries(queries)
        lut = self.tables(q)
        if self._n == 0:
            return None
        run = RunningTopK(k)
        if self.kernel == "triton":
            from .triton_aqd import MAX_K, aqd_topk

            if k <= MAX_K:
                return aqd_topk(lut, self._codes, k, block_q=self.block_q, block_n=self.block_n)
            for s in range(0, self._n, self.chunk):  # a long list (e.g. rerank candidates): gathers
                run.push(self._row_scores(lut, s, min(s + self.chunk, self._n)), s)
            return run.result()
        tabs = self._pair_tables(lut)
        for s in range(0, self._n, self.chunk):
            e = min(s + self.chunk, self._n)
            run.push(self._torch_scores(tabs, s, e), s)
        return run.result()

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        nq = _as_queries(queries).shape[0]
        return to_host(self.search_device(queries, k), nq, int(k))


def _popcount64(x: torch.Tensor) -> torch.Tensor:
    """Bits set in each int64 (SWAR; the masks make the arithmetic shifts harmless)."""
    x = x - ((x >> 1) & 0x5555555555555555)
    x = (x & 0x3333333333333333) + ((x >> 2) & 0x3333333333333333)
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0F
    return (x * 0x0101010101010101) >> 56  # ≤ 64: the top byte never sets the sign bit


def _words(packed: np.ndarray) -> np.ndarray:
    """(N, B) bytes → (N, ceil(B/8)) int64 words (zero padded; popcount(XOR) is unchanged)."""
    n, b = packed.shape
    w = (b + 7) // 8
    buf = np.zeros((n, w * 8), dtype=np.uint8)
    buf[:, :b] = packed
    return buf.view(np.int64)


class TorchHammingEngine(Engine):
    """Hamming scan over packed binary codes on ``device``; scores = −distance."""

    name = "hamming"

    def __init__(self, packed: np.ndarray, bits: int, device: str = "cuda", chunk: int = 1 << 20):
        packed = np.ascontiguousarray(packed, dtype=np.uint8)
        if packed.ndim != 2 or packed.shape[1] != (bits + 7) // 8:
            raise ValueError(f"TorchHammingEngine: expected (N, {(bits + 7) // 8}) packed codes, got {packed.shape}")
        self.bits, self.device, self.chunk = int(bits), torch.device(device), int(chunk)
        self.bytes_per_item = float(packed.shape[1])
        self._w = _tensor(_words(packed), self.device)  # (N, W)

    @property
    def ntotal(self) -> int:
        return self._w.shape[0]

    def _qwords(self, queries) -> torch.Tensor:
        return torch.from_numpy(_words(pack_bits(_as_queries(queries)))).to(self.device)

    def _dist(self, qw: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        d = None
        for j in range(qw.shape[1]):
            c = _popcount64(qw[:, j : j + 1] ^ self._w[lo:hi, j][None, :])
            d = c if d is None else d + c
        return d

    @torch.no_grad()
    def scores(self, queries: np.ndarray) -> np.ndarray:
        return -self._dist(self._qwords(queries), 0, self.ntotal).float().cpu().numpy()

    @torch.no_grad()
    def search_device(self, queries, k: int):
        qw = self._qwords(queries)
        run = RunningTopK(k)
        for s in range(0, self.ntotal, self.chunk):
            e = min(s + self.chunk, self.ntotal)
            run.push(-self._dist(qw, s, e).float(), s)
        return run.result()

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        nq = _as_queries(queries).shape[0]
        return to_host(self.search_device(queries, k), nq, int(k))


class TorchFloatEngine(Engine):
    """Float brute force on ``device``: inner product or cosine; vectors stored as ``dtype``
    (float32, or float16 with float32 accumulation where the device supports it)."""

    name = "float"

    def __init__(self, vectors: np.ndarray, metric: str = "ip", device: str = "cuda", dtype: str = "float32",
                 chunk: int = 1 << 20):
        if metric not in ("ip", "cosine"):
            raise ValueError(f"TorchFloatEngine metric: expected 'ip' or 'cosine', got {metric!r}")
        if dtype not in ("float32", "float16"):
            raise ValueError(f"TorchFloatEngine dtype: expected float32 or float16, got {dtype!r}")
        v = np.ascontiguousarray(vectors, dtype=np.float32)
        self.metric, self.device, self.chunk = metric, torch.device(device), int(chunk)
        self.dtype = getattr(torch, dtype)
        self.bytes_per_item = float(v.shape[1] * (2 if dtype == "float16" else 4))
        self._v = _tensor(normalize(v) if metric == "cosine" else v, self.device).to(self.dtype)

    @classmethod
    def from_tensor(cls, vectors: torch.Tensor, metric: str = "ip", chunk: int = 1 << 20) -> "TorchFloatEngine":
        """Wrap vectors already on a device (benchmarks generate them there)."""
        eng = cls.__new__(cls)
        eng.metric, eng.device, eng.chunk, eng.dtype = metric, vectors.device, int(chunk), vectors.dtype
        eng.bytes_per_item = float(vectors.shape[1] * vectors.element_size())
        v = vectors.float() if metric == "cosine" else vectors
        eng._v = torch.nn.functional.normalize(v, dim=1).to(vectors.dtype) if metric == "cosine" else v
        return eng

    @property
    def ntotal(self) -> int:
        return self._v.shape[0]

    def _queries(self, queries) -> torch.Tensor:
        q = _as_queries(queries)
        q = normalize(q) if self.metric == "cosine" else q
        return torch.from_numpy(np.ascontiguousarray(q)).to(self.device, self.dtype)

    def _block(self, q: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        v = self._v[lo:hi].T
        return in_query_blocks(q, lambda b: (b @ v).float())

    @torch.no_grad()
    def scores(self, queries: np.ndarray) -> np.ndarray:
        return self._block(self._queries(queries), 0, self.ntotal).cpu().numpy()

    @torch.no_grad()
    def search_device(self, queries, k: int):
        q = self._queries(queries)
        run = RunningTopK(k)
        for s in range(0, self.ntotal, self.chunk):
            run.push(self._block(q, s, min(s + self.chunk, self.ntotal)), s)
        return run.result()

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        nq = _as_queries(queries).shape[0]
        return to_host(self.search_device(queries, k), nq, int(k))
