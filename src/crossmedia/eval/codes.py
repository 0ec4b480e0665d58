"""Code views: which codec a trained model's outputs are stored and ranked with in an evaluation.

So that every method can be compared at equal code size, a model is evaluated in several views
(METHODS.md: real-valued baselines "also evaluated after sign-binarisation and after quantization
with the project's quantizer"); each view is a :class:`crossmedia.codecs.Codec`:

* ``native`` — the model's own codec (:meth:`RetrievalModel.codec`: Hamming for hashing models,
  AQD for CMSL/CDQ, cosine of float32 vectors for DAFSN/ACMR/DSCMR);
* ``sign`` — ``model.bits`` bits, x ≥ 0 → 1, Hamming (outputs wider than ``bits`` are first
  projected onto their leading principal directions, fitted on the training split);
* ``cq`` — composite quantization, M = bits/8 codebooks × 256 codewords, fitted on the training
  split's image and text outputs (l2-normalised); AQD with continuous queries, as CDQ/CMSL rank;
* ``pq`` — product quantization at the same code length, fitted and ranked the same way;
* ``float`` — no codes: the continuous outputs as float32 vectors, compared as the model's
  training similarity compares them (:meth:`RetrievalModel.float_codec`: inner product for
  CMSL/CDQ and the hashing models, cosine for the real-valued ones, where it is ``native``), so
  that what a model's codes cost is measured against its own representation.
"""

from __future__ import annotations

import numpy as np

from ..codecs import Codec, CompositeCodec, PQCodec, SignCodec
from ..codecs.base import as_numpy
from ..errors import UserError

CODE_VIEWS = ("native", "sign", "cq", "pq", "float")


def code_view(model, kind: str = "native", *, train_embeddings=None, seed: int = 0) -> Codec:
    """The codec of view ``kind`` for ``model``, fitted when it needs it on ``train_embeddings``
    = (image, text) outputs of the training split."""
    if kind not in CODE_VIEWS:
        raise UserError(f"codes: expected one of {', '.join(CODE_VIEWS)}, got {kind!r}")
    if kind == "native":
        return model.codec()
    if kind == "float":
        return model.float_codec()
    bits, dim = int(model.bits), int(model.dim)
    if kind == "sign":
        if bits > dim:
            raise UserError(f"codes=sign: model.bits = {bits} is more than the model's {dim} output dimensions")
        codec: Codec = SignCodec(bits, dim)
    elif kind == "cq":
        codec = CompositeCodec(bits, dim, normalize=True)
    else:
        codec = PQCodec(bits, dim, normalize=True)
    if codec.needs_fit:
        if train_embeddings is None:
            raise UserError(f"codes={kind}: the training split's outputs are needed to fit the codec")
        codec.fit(np.concatenate([as_numpy(train_embeddings[0]), as_numpy(train_embeddings[1])]), seed=seed)
    return codec


def needs_training_outputs(model, kind: str) -> bool:
    """Whether view ``kind`` of ``model`` is fitted on the training split's outputs."""
    if kind in ("native", "float"):
        return False
    if kind == "sign":
        return int(model.bits) < int(model.dim)
    return True
