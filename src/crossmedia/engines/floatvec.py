"""Brute-force scan over real-valued vectors (DAFSN-style embeddings, CMSL without
quantization): inner product, or cosine (both sides l2-normalised). Also the float reference
of the benchmark."""

from __future__ import annotations

import numpy as np

from .base import Engine, _as_queries

__all__ = ["FloatEngine", "normalize"]


def normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class FloatEngine(Engine):
    name = "float"

    def __init__(self, vectors: np.ndarray, metric: str = "ip", chunk: int = 1 << 17):
        if metric not in ("ip", "cosine"):
            raise ValueError(f"FloatEngine metric: expected 'ip' or 'cosine', got {metric!r}")
        v = np.ascontiguousarray(vectors, dtype=np.float32)
        self.metric = metric
        self.vectors = normalize(v) if metric == "cosine" else v
        self.chunk = int(chunk)
        self.bytes_per_item = float(v.shape[1] * 4)

    @property
    def ntotal(self) -> int:
        return self.vectors.shape[0]

    def prepare(self, queries) -> np.ndarray:
        q = _as_queries(queries)
        return normalize(q) if self.metric == "cosine" else q

    def scores(self, queries: np.ndarray) -> np.ndarray:
        # one matrix-vector product per query: numpy's BLAS treats a row of a matrix product
        # differently by its position in the block, so a batch would change a query's last bits
        q = self.prepare(queries)
        out = np.empty((q.shape[0], self.ntotal), dtype=np.float32)
        for i in range(q.shape[0]):
            for s in range(0, self.ntotal, self.chunk):
                np.matmul(self.vectors[s : s + self.chunk], q[i], out=out[i, s : s + self.chunk])
        return out
