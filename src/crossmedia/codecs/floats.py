"""Float vectors stored as they are (float32, 4·dim bytes per item), compared by inner product
(``float_ip``: CMSL without quantization) or cosine (``float_cosine``: DAFSN, ACMR, DSCMR; both
sides l2-normalised)."""

from __future__ import annotations

import numpy as np

from ..metrics import InnerProductScorer
from ..engines import FaissEngine, FloatEngine
from .base import Codec, as_numpy
from .registry import register_codec

__all__ = ["FloatIPCodec", "FloatCosineCodec"]


def l2_normalize(x: np.ndarray) -> np.ndarray:
    x = as_numpy(x)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class _FloatCodec(Codec):
    kind = "real"
    engines = ("float", "faiss")
    metric = "ip"

    def __init__(self, dim: int):
        self.dim = int(dim)

    def encode(self, x) -> np.ndarray:
        x = as_numpy(x)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"{self.name}: vectors must be (N, {self.dim}), got {x.shape}")
        return x

    def scorer(self, queries, codes):
        return InnerProductScorer(as_numpy(queries), as_numpy(codes), cosine=self.metric == "cosine")

    def engine(self, codes, name: str | None = None):
        name = self.engine_name(name)
        return FloatEngine(codes, self.metric) if name == "float" else FaissEngine.from_vectors(codes, self.metric)

    @property
    def code_bytes(self) -> float:
        return float(4 * self.dim)

    def spec(self) -> dict:
        dist = "negative inner product" if self.metric == "ip" else "negative cosine"
        return {**super().spec(), "distance": dist, "dim": self.dim, "dtype": "float32"}

    def state(self) -> dict:
        return {"dim": self.dim}

    @classmethod
    def from_state(cls, state: dict):
        return cls(int(state["dim"]))


@register_codec("float_ip")
class FloatIPCodec(_FloatCodec):
    metric = "ip"


@register_codec("float_cosine")
class FloatCosineCodec(_FloatCodec):
    metric = "cosine"

    def prepare(self, x) -> np.ndarray:
        return l2_normalize(x)
