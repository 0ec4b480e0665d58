"""Composite quantization codes compared by the asymmetric quantizer distance (CDQ / CMSL; the
``cq`` view of every other model).

The codec owns a :class:`crossmedia.quant.CompositeQuantizer` (M codebooks × K codewords in
R^dim, reconstruction = sum of one codeword per codebook; bits = M·log2 K). The database is coded
by ICM, queries stay continuous and are scored by per-codebook lookup tables:
⟨q, Σ_m C_m[b_m]⟩ = Σ_m T_m[b_m], T_m[k] = ⟨q, C_m[k]⟩ (AQD). :meth:`CompositeCodec.symmetric_scorer`
compares two coded sets (SQD). With ``normalize`` the vectors are l2-normalised before coding
and scoring (so the inner products approximate cosines) — the ``cq`` view; a model's own codec
(CMSL) codes its raw outputs.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import UserError
from ..metrics import AQDScorer, SQDScorer
from ..quant import CompositeQuantizer, bits_to_codebooks
from ..engines import AQDEngine, FaissEngine
from .base import Codec, _PreparedEngine, as_numpy
from .floats import l2_normalize
from .registry import register_codec

__all__ = ["CompositeCodec"]


@register_codec("composite")
class CompositeCodec(Codec):
    kind = "quantized"
    engines = ("aqd", "faiss")
    needs_fit = True

    def __init__(self, bits: int, dim: int, K: int = 256, *, normalize: bool = True, icm_iters: int = 3,
                 n_iter: int = 10):
        try:
            self.M = bits_to_codebooks(int(bits), int(K))
        except ValueError as e:
            raise UserError(f"composite codes: {e}") from None
        self.K, self.dim = int(K), int(dim)
        self.normalize = bool(normalize)
        self.n_iter = int(n_iter)
        self.quantizer = CompositeQuantizer(self.M, self.K, self.dim, icm_iters=int(icm_iters))
        self.fitted = False
        self.fit_relative_error: float | None = None

    @classmethod
    def from_codebooks(cls, codebooks, *, normalize: bool = False, icm_iters: int = 3) -> "CompositeCodec":
        """A codec over given (M, K, D) codebooks (a model's learned ones)."""
        cb = as_numpy(codebooks)
        M, K, D = cb.shape
        c = cls(int(M * math.log2(K)), D, K, normalize=normalize, icm_iters=icm_iters)
        c.quantizer.codebooks = cb
        c.fitted = True
        return c

    @property
    def codebooks(self) -> np.ndarray:
        return self.quantizer.codebooks

    @property
    def bits(self) -> int:
        return int(self.M * math.log2(self.K))

    def fit(self, x, *, seed: int = 0) -> "CompositeCodec":
        x = self.prepare(x)
        if len(x) < self.K:
            raise UserError(f"composite codes: {len(x)} training vectors, fewer than K = {self.K} codewords")
        self.quantizer.train(x, n_iter=self.n_iter, seed=seed)
        err = float(self.quantizer.quantization_error(x, self.quantizer.encode(x)))
        self.fit_relative_error = err / max(float((x * x).sum(1).mean()), 1e-12)
        self.fitted = True
        return self

    def _check(self) -> None:
        if not self.fitted:
            raise UserError("composite codes: the codebooks are not trained (fit() first)")

    def prepare(self, x) -> np.ndarray:
        return l2_normalize(x) if self.normalize else as_numpy(x)

    def encode(self, x) -> np.ndarray:
        self._check()
        return self.quantizer.encode(self.prepare(x))

    def scorer(self, queries, codes):
        self._check()
        return AQDScorer(self.prepare(queries), self.codebooks, np.asarray(codes))

    def symmetric_scorer(self, query_codes, codes):
        """Symmetric quantizer distance between two coded sets (both sides reconstructed)."""
        self._check()
        return SQDScorer(np.asarray(query_codes), self.codebooks, np.asarray(codes))

    def engine(self, codes, name: str | None = None):
        self._check()
        name = self.engine_name(name)
        cb = self.codebooks
        eng = AQDEngine(cb, codes) if name == "aqd" else FaissEngine.from_codes(cb, codes)
        return _PreparedEngine(eng, self.prepare) if self.normalize else eng

    @property
    def code_bytes(self) -> float:
        return self.bits / 8

    def spec(self) -> dict:
        s = {**super().spec(), "bits": self.bits, "codebooks": self.M, "codewords": self.K, "dim": self.dim,
             "distance": "aqd: −⟨q, Σ_m C_m[b_m]⟩ (lookup tables)" + (" on l2-normalised vectors (≈ cosine)"
                                                                     if self.normalize else ""),
             "query": "continuous",
             "database": f"composite quantization codes by ICM ({self.quantizer.icm_iters} sweeps)"}
        if self.fit_relative_error is not None:
            s["train_relative_error"] = round(self.fit_relative_error, 5)
        return s

    def state(self) -> dict:
        return {"bits": self.bits, "dim": self.dim, "K": self.K, "normalize": self.normalize,
                "icm_iters": self.quantizer.icm_iters, "codebooks": self.codebooks}

    @classmethod
    def from_state(cls, state: dict) -> "CompositeCodec":
        return cls.from_codebooks(state["codebooks"], normalize=bool(state["normalize"]),
                                  icm_iters=int(state["icm_iters"]))
