"""Hamming scan over packed binary codes (two-tower / DCMH-style ±1 codes).

Codes are binarised with x ≥ 0 → 1 (METRICS.md: never ``sign``), packed 8 bits a byte
(:func:`crossmedia.metrics.pack_bits`, the project's one packing: bit j of byte k = code bit 8k + j); the distance is the popcount of the XOR — identical
to ½(b − B_q·B_dᵀ) on the ±1 codes. Scores are −distance (higher = more similar)."""

from __future__ import annotations

import numpy as np

from ..metrics.ranking import pack_bits
from .base import Engine, _as_queries

__all__ = ["HammingEngine", "pack_bits"]


class HammingEngine(Engine):
    name = "hamming"

    def __init__(self, packed: np.ndarray, bits: int, chunk: int = 1 << 18):
        packed = np.ascontiguousarray(packed, dtype=np.uint8)
        if packed.ndim != 2 or packed.shape[1] != (bits + 7) // 8:
            raise ValueError(f"HammingEngine: expected (N, {(bits + 7) // 8}) packed codes, got {packed.shape}")
        self.bits, self.packed, self.chunk = int(bits), packed, int(chunk)
        self.bytes_per_item = float(packed.shape[1])
        nb = packed.shape[1]
        # 64-bit words when the row length allows it: 8× fewer popcounts
        self._words = packed.view(np.uint64) if nb % 8 == 0 else packed

    @property
    def ntotal(self) -> int:
        return self.packed.shape[0]

    def distances(self, queries: np.ndarray) -> np.ndarray:
        q = pack_bits(_as_queries(queries))
        qw = q.view(np.uint64) if self._words.dtype == np.uint64 else q
        out = np.empty((q.shape[0], self.ntotal), dtype=np.int32)
        for i in range(q.shape[0]):
            for s in range(0, self.ntotal, self.chunk):
                x = np.bitwise_xor(self._words[s : s + self.chunk], qw[i])
                out[i, s : s + self.chunk] = np.bitwise_count(x).sum(1, dtype=np.int32)
        return out

    def scores(self, queries: np.ndarray) -> np.ndarray:
        return -self.distances(queries).astype(np.float32)
