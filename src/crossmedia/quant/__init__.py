"""Vector quantizers for compact codes (standalone: numpy or torch in, the same out).

:class:`CompositeQuantizer` — M codebooks × K codewords, reconstruction = sum of one codeword
per codebook (CDQ / CMSL); ICM encoding, closed-form codebooks. Trained by
:mod:`crossmedia.models.cmsl`; owned for coding and scoring by :class:`crossmedia.codecs.CompositeCodec`.
"""

from .composite import CompositeQuantizer, bits_to_codebooks, kmeans

__all__ = ["CompositeQuantizer", "bits_to_codebooks", "kmeans"]
