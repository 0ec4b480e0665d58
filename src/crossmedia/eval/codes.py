"""Code views: how a trained model's representations are stored and ranked in an evaluation.

So that every method can be compared at equal code size, a real-valued model is evaluated in
three views (METHODS.md: real-valued baselines "also evaluated after sign-binarisation and after
quantization with the project's quantizer"):

* ``native`` — the model's own scorer (Hamming for hashing models, AQD for CMSL/CDQ, cosine of
  float32 vectors for ACMR/DSCMR);
* ``sign`` — x ≥ 0 → +1 on both sides, Hamming distance; ``dim`` bits per item;
* ``cq`` — composite quantization (:class:`crossmedia.quant.CompositeQuantizer`, M = bits/8
  codebooks × 256 codewords) fitted on the *training split's* image and text embeddings
  (l2-normalised, so that inner products are cosines); the database is quantized, queries stay
  continuous and are ranked by asymmetric inner products (AQD), as CDQ/CMSL retrieve.

Each view gives ``scorer(query, database)``, ``ranking_spec()`` and ``code_bytes`` (bytes stored
per database item).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import UserError

CODE_VIEWS = ("native", "sign", "cq")


def native_code_bytes(model) -> float:
    """Bytes per database item in the model's own representation."""
    kind = getattr(model, "code_kind", "binary")
    if kind == "binary":
        return math.ceil(int(model.bits) / 8)
    if kind == "quantized":
        return float(model.ranking_spec()["bits"]) / 8
    return 4 * int(model.dim)  # float32 vectors


class _Native:
    def __init__(self, model):
        self.model = model
        self.code_bytes = native_code_bytes(model)

    def scorer(self, q, d):
        return self.model.scorer(q, d)

    def ranking_spec(self) -> dict:
        return {**self.model.ranking_spec(), "codes": "native", "code_bytes": self.code_bytes}


class _Sign:
    def __init__(self, dim: int):
        self.dim = int(dim)
        self.code_bytes = math.ceil(self.dim / 8)

    def scorer(self, q, d):
        from ..metrics import HammingScorer, binarize

        return HammingScorer(binarize(_np(q)), binarize(_np(d)))

    def ranking_spec(self) -> dict:
        return {"representation": "binary", "codes": "sign", "distance": "hamming", "bits": self.dim,
                "binarisation": "x >= 0 -> +1 of the model's real-valued outputs", "code_bytes": self.code_bytes}


class _CQ:
    def __init__(self, train_x: np.ndarray, bits: int, K: int = 256, seed: int = 0, n_iter: int = 10):
        from ..quant import CompositeQuantizer, bits_to_codebooks

        try:
            M = bits_to_codebooks(int(bits), K)
        except ValueError as e:
            raise UserError(f"codes=cq: {e}") from None
        x = _unit(train_x)
        if len(x) < K:
            raise UserError(f"codes=cq: the training split gives {len(x)} embeddings, fewer than K = {K} codewords")
        self.q = CompositeQuantizer(M, K, x.shape[1]).train(x, n_iter=n_iter, seed=seed)
        self.bits, self.M, self.K = int(bits), M, K
        self.fit_error = float(self.q.quantization_error(x, self.q.encode(x))) / max(float((x * x).sum(1).mean()), 1e-12)
        self.code_bytes = self.bits / 8

    def scorer(self, q, d):
        from ..metrics import AQDScorer

        return AQDScorer(_unit(_np(q)), self.q.codebooks, self.q.encode(_unit(_np(d))))

    def ranking_spec(self) -> dict:
        return {"representation": "quantized", "codes": "cq", "bits": self.bits, "codebooks": self.M,
                "codewords": self.K, "distance": "aqd: −⟨q, Σ_m C_m[b_m]⟩ on l2-normalised vectors (≈ cosine)",
                "fitted_on": "training split's image and text embeddings (l2-normalised)",
                "train_relative_error": round(self.fit_error, 5), "code_bytes": self.code_bytes}


def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().float().numpy()
    return np.asarray(x, dtype=np.float32)


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def code_view(model, kind: str = "native", *, train_embeddings=None, bits: int | None = None, seed: int = 0):
    """A ranker for ``kind`` (see module docstring). ``cq`` needs ``train_embeddings`` = (image,
    text) of the training split and ``bits`` (default: the model's ``bits``)."""
    if kind not in CODE_VIEWS:
        raise UserError(f"codes: expected one of {', '.join(CODE_VIEWS)}, got {kind!r}")
    if kind == "native":
        return _Native(model)
    dim = getattr(model, "dim", None) or getattr(model, "bits")
    if kind == "sign":
        return _Sign(dim)
    if train_embeddings is None:
        raise UserError("codes=cq: the training split's embeddings are needed to fit the quantizer")
    x = np.concatenate([_np(train_embeddings[0]), _np(train_embeddings[1])])
    return _CQ(x, int(bits or model.bits), seed=seed)
