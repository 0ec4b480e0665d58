"""Product quantization (Jégou et al. TPAMI 2011): the vector is split into M equal subvectors,
each coded by the nearest of K centroids learned by k-means on its subspace (bits = M·log2 K).
The reconstruction is the concatenation of one centroid per subspace — a composite quantization
whose codebooks are zero outside their own subspace — so queries are scored by the same
lookup-table asymmetric inner product (AQD) as :mod:`.composite`. Exports to FAISS ``IndexPQ``
(same centroids, same codes, inner-product metric).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import UserError
from ..metrics import AQDScorer
from ..quant import bits_to_codebooks, kmeans
from ..engines import AQDEngine, FaissEngine
from ..engines.faiss_ import faiss_module
from .base import Codec, _PreparedEngine, as_numpy
from .floats import l2_normalize
from .registry import register_codec

__all__ = ["PQCodec"]


@register_codec("pq")
class PQCodec(Codec):
    kind = "quantized"
    engines = ("aqd", "faiss")
    needs_fit = True

    def __init__(self, bits: int, dim: int, K: int = 256, *, normalize: bool = True, kmeans_iters: int = 20):
        try:
            self.M = bits_to_codebooks(int(bits), int(K))
        except ValueError as e:
            raise UserError(f"pq codes: {e}") from None
        self.K, self.dim = int(K), int(dim)
        if self.dim % self.M:
            raise UserError(f"pq codes: dimension {self.dim} is not divisible into M = {self.M} subvectors "
                            f"(bits {bits} / log2 K); choose bits so that {self.dim} % (bits/{int(math.log2(self.K))}) == 0")
        self.dsub = self.dim // self.M
        self.normalize = bool(normalize)
        self.kmeans_iters = int(kmeans_iters)
        self.centroids: np.ndarray | None = None  # (M, K, dsub)

    @property
    def bits(self) -> int:
        return int(self.M * math.log2(self.K))

    @property
    def fitted(self) -> bool:
        return self.centroids is not None

    def fit(self, x, *, seed: int = 0) -> "PQCodec":
        x = self.prepare(x)
        if len(x) < self.K:
            raise UserError(f"pq codes: {len(x)} training vectors, fewer than K = {self.K} centroids")
        xt = torch.from_numpy(x)
        cents = [kmeans(xt[:, m * self.dsub : (m + 1) * self.dsub], self.K, n_iter=self.kmeans_iters,
                        seed=int(seed) * 7919 + m).numpy() for m in range(self.M)]
        self.centroids = np.stack(cents).astype(np.float32)
        return self

    def _check(self) -> None:
        if self.centroids is None:
            raise UserError("pq codes: the centroids are not trained (fit() first)")

    @property
    def codebooks(self) -> np.ndarray:
        """The centroids as composite codebooks (M, K, dim), zero outside their subspace."""
        self._check()
        cb = np.zeros((self.M, self.K, self.dim), dtype=np.float32)
        for m in range(self.M):
            cb[m, :, m * self.dsub : (m + 1) * self.dsub] = self.centroids[m]
        return cb

    def prepare(self, x) -> np.ndarray:
        return l2_normalize(x) if self.normalize else as_numpy(x)

    def encode(self, x) -> np.ndarray:
        self._check()
        x = self.prepare(x)
        out = np.empty((x.shape[0], self.M), dtype=np.uint8 if self.K <= 256 else np.int32)
        for m in range(self.M):
            sub = x[:, m * self.dsub : (m + 1) * self.dsub]
            c = self.centroids[m]
            d = (c * c).sum(1)[None, :] - 2.0 * sub @ c.T
            out[:, m] = d.argmin(1)
        return out

    def scorer(self, queries, codes):
        return AQDScorer(self.prepare(queries), self.codebooks, np.asarray(codes))

    def faiss_index(self, codes):
        """A FAISS ``IndexPQ`` (inner product) holding these centroids and ``codes``."""
        self._check()
        if self.K != 256:
            raise UserError(f"pq codes: the FAISS export needs K = 256 (8-bit codes), got K = {self.K}")
        faiss = faiss_module()
        index = faiss.IndexPQ(self.dim, self.M, 8, faiss.METRIC_INNER_PRODUCT)
        faiss.copy_array_to_vector(np.ascontiguousarray(self.centroids, dtype=np.float32).ravel(), index.pq.centroids)
        index.is_trained = True
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        faiss.copy_array_to_vector(codes.ravel(), index.codes)
        index.ntotal = codes.shape[0]
        return index

    def engine(self, codes, name: str | None = None):
        name = self.engine_name(name)
        eng = AQDEngine(self.codebooks, codes) if name == "aqd" else FaissEngine(self.faiss_index(codes), "aq")
        return _PreparedEngine(eng, self.prepare) if self.normalize else eng

    @property
    def code_bytes(self) -> float:
        return self.bits / 8

    def spec(self) -> dict:
        return {**super().spec(), "bits": self.bits, "subvectors": self.M, "codewords": self.K, "dim": self.dim,
                "distance": "aqd: −⟨q, concat_m C_m[b_m]⟩ (lookup tables)" + (" on l2-normalised vectors (≈ cosine)"
                                                                             if self.normalize else ""),
                "query": "continuous", "database": "nearest centroid per subvector (k-means per subspace)"}

    def state(self) -> dict:
        st = {"bits": self.bits, "dim": self.dim, "K": self.K, "normalize": self.normalize}
        if self.centroids is not None:
            st["centroids"] = self.centroids
        return st

    @classmethod
    def from_state(cls, state: dict) -> "PQCodec":
        c = cls(int(state["bits"]), int(state["dim"]), int(state["K"]), normalize=bool(state["normalize"]))
        if "centroids" in state:
            c.centroids = np.asarray(state["centroids"], dtype=np.float32)
        return c
