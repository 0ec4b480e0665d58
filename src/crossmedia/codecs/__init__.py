"""Codecs: one registered component per kind of stored representation (see :mod:`.base`).

=================  =========  =============================================  ===============
name               kind       distance                                       engines
=================  =========  =============================================  ===============
``sign``           binary     Hamming on packed bits (x ≥ 0 → 1)             hamming, faiss
``composite``      quantized  AQD, composite quantization (CDQ / CMSL)       aqd, faiss
``pq``             quantized  AQD, product quantization                      aqd, faiss (IndexPQ)
``float_ip``       real       inner product of float32 vectors               float, faiss
``float_cosine``   real       cosine of float32 vectors                      float, faiss
=================  =========  =============================================  ===============

A model names its own codec (:meth:`crossmedia.models.RetrievalModel.codec`); ``eval --codes``
views and the index manifest refer to codecs by name. Adding a codec is one module with a
``@register_codec`` class, imported below.
"""

from .base import Codec
from .registry import codec_from_state, get_codec_class, list_codecs, register_codec
from .sign import SignCodec
from .floats import FloatCosineCodec, FloatIPCodec
from .composite import CompositeCodec
from .pq import PQCodec

__all__ = ["Codec", "CompositeCodec", "FloatCosineCodec", "FloatIPCodec", "PQCodec", "SignCodec",
           "codec_from_state", "get_codec_class", "list_codecs", "register_codec"]
