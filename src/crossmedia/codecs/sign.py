"""Sign codes compared by Hamming distance (hashing models; the ``sign`` view of real-valued ones).

A vector becomes ``bits`` bits, bit = x ≥ 0 (METRICS.md: never ``sign(0) = 0``), packed 8 to a
byte by the one :func:`crossmedia.metrics.pack_bits` (bit j of byte k = code bit 8k + j).
When the vectors are wider than ``bits`` (e.g. DAFSN's 256-d embedding at 16 bits), the codec
is fitted first: the vectors are centred and projected onto their ``bits`` leading principal
directions (PCA on the training split, both modalities together), then binarised — so every
model can be compared at the same code length. When ``dim == bits`` nothing is learned.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import UserError
from ..metrics import HammingScorer, pack_bits
from ..engines import FaissEngine, HammingEngine
from .base import Codec, _PreparedEngine, as_numpy
from .registry import register_codec

__all__ = ["SignCodec"]


@register_codec("sign")
class SignCodec(Codec):
    kind = "binary"
    engines = ("hamming", "faiss")

    def __init__(self, bits: int, dim: int | None = None):
        self.bits = int(bits)
        self.dim = int(dim if dim is not None else bits)
        if self.bits < 1 or self.dim < self.bits:
            raise UserError(f"sign codes: need 1 ≤ bits ≤ dim, got bits={self.bits}, dim={self.dim}")
        self.mean: np.ndarray | None = None
        self.projection: np.ndarray | None = None  # (dim, bits) when dim > bits

    @property
    def needs_fit(self) -> bool:  # type: ignore[override]
        return self.dim > self.bits

    @property
    def fitted(self) -> bool:
        return not self.needs_fit or self.projection is not None

    def fit(self, x, *, seed: int = 0) -> "SignCodec":
        if not self.needs_fit:
            return self
        x = as_numpy(x).astype(np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise UserError(f"sign codes: training vectors must be (N, {self.dim}), got {x.shape}")
        if x.shape[0] < 2:
            raise UserError("sign codes: need at least 2 training vectors to fit the projection")
        mean = x.mean(0)
        cov = np.cov((x - mean).T)
        vals, vecs = np.linalg.eigh(cov)  # ascending
        top = vecs[:, ::-1][:, : self.bits]
        # a deterministic sign per direction (largest-magnitude entry positive)
        flip = np.sign(top[np.abs(top).argmax(0), np.arange(self.bits)])
        self.mean = mean.astype(np.float32)
        self.projection = (top * np.where(flip == 0, 1.0, flip)).astype(np.float32)
        return self

    def prepare(self, x) -> np.ndarray:
        x = as_numpy(x)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"sign codes: vectors must be (N, {self.dim}), got {x.shape}")
        if not self.needs_fit:
            return x
        if self.projection is None:
            raise UserError(f"sign codes: {self.dim}-d vectors at {self.bits} bits need fit() on training vectors first")
        return (x - self.mean) @ self.projection

    def encode(self, x) -> np.ndarray:
        return pack_bits(self.prepare(x))

    def scorer(self, queries, codes):
        return HammingScorer(self.encode(queries), np.asarray(codes, dtype=np.uint8), packed=True, n_bits=self.bits)

    def engine(self, codes, name: str | None = None):
        name = self.engine_name(name)
        eng = HammingEngine(codes, self.bits) if name == "hamming" else FaissEngine.from_binary(codes, self.bits)
        return _PreparedEngine(eng, self.prepare) if self.needs_fit else eng

    @property
    def code_bytes(self) -> float:
        return float(math.ceil(self.bits / 8))

    def spec(self) -> dict:
        s = {**super().spec(), "distance": "hamming", "bits": self.bits,
             "binarisation": "x >= 0 -> 1 of the model's real-valued outputs"}
        if self.needs_fit:
            s["projection"] = (f"centred, projected onto the {self.bits} leading principal directions of the "
                               f"training split's {self.dim}-d outputs (both modalities), then binarised")
        return s

    def state(self) -> dict:
        st: dict = {"bits": self.bits, "dim": self.dim}
        if self.projection is not None:
            st.update(mean=self.mean, projection=self.projection)
        return st

    @classmethod
    def from_state(cls, state: dict) -> "SignCodec":
        c = cls(int(state["bits"]), int(state.get("dim", state["bits"])))
        if "projection" in state:
            c.mean = np.asarray(state["mean"], dtype=np.float32)
            c.projection = np.asarray(state["projection"], dtype=np.float32)
        return c
