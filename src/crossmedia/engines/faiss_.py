"""FAISS engines built from *our* codes and codebooks (nothing is re-trained or re-encoded).

* composite codes → ``IndexLocalSearchQuantizer`` (an ``IndexAdditiveQuantizer``: decode = sum of
  one codeword per codebook, exactly composite quantization) with the learned codebooks copied
  in and the ICM codes written as its code array (8 bits per codebook, byte-aligned), searched by
  inner-product lookup tables (``ST_LUT_nonorm``); IVF variant ``IndexIVFLocalSearchQuantizer``
  with ``by_residual = False`` (same codes) behind an inner-product k-means coarse quantizer
  trained on the reconstructions;
* binary codes → ``IndexBinaryFlat`` (exhaustive), ``IndexBinaryHash`` (multi-index hashing on
  the first ``hash_bits`` bits, approximate) or ``IndexBinaryIVF``;
* float vectors → ``IndexFlatIP`` / ``IndexIVFFlat`` (cosine = IP on l2-normalised vectors).

``faiss`` is imported lazily. Files round-trip through ``faiss.write_index`` /
``faiss.write_index_binary``. Scores are "higher = more similar" like every engine (−Hamming
for binary); the returned k are re-sorted by (score desc, row asc).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserError
from ..metrics.ranking import pack_bits
from .base import Engine, _as_queries
from .floatvec import normalize

__all__ = ["FaissEngine"]


def faiss_module():
    """The ``faiss`` module (imported on first use: loading it costs time and memory)."""
    try:
        import faiss
    except ImportError:  # pragma: no cover - faiss-cpu is a core dependency
        raise UserError("the faiss engine needs the faiss package (pip install faiss-cpu)") from None
    return faiss


_faiss = faiss_module


class FaissEngine(Engine):
    name = "faiss"

    def __init__(self, index, kind: str, metric: str = "ip", bits: int | None = None):
        if kind not in ("aq", "binary", "float"):
            raise ValueError(f"FaissEngine kind: expected aq, binary or float, got {kind!r}")
        self.index, self.kind, self.metric, self.bits = index, kind, metric, bits
        if kind == "binary":
            self.bytes_per_item = float(index.code_size)
        elif kind == "aq":
            self.bytes_per_item = float(index.code_size)
        else:
            self.bytes_per_item = float(index.d * 4)

    # ------------------------------------------------------------------ builders
    @classmethod
    def from_codes(cls, codebooks: np.ndarray, codes: np.ndarray, nlist: int = 0, nprobe: int = 8,
                   seed: int = 0) -> "FaissEngine":
        """Composite-quantization codes (N, M) with codebooks (M, K, D), K = 2^nbits ≤ 256."""
        faiss = _faiss()
        cb = np.ascontiguousarray(codebooks, dtype=np.float32)
        M, K, D = cb.shape
        nbits = int(np.log2(K))
        if 2 ** nbits != K or nbits > 8:
            raise ValueError(f"FaissEngine.from_codes: K must be a power of two ≤ 256, got {K}")
        codes = np.asarray(codes, dtype=np.uint8)
        st = faiss.AdditiveQuantizer.ST_LUT_nonorm
        if nlist:
            coarse = faiss.IndexFlatIP(D)
            index = faiss.IndexIVFLocalSearchQuantizer(coarse, D, int(nlist), M, nbits, faiss.METRIC_INNER_PRODUCT, st)
            index.by_residual = False
            aq = index.aq
        else:
            index = faiss.IndexLocalSearchQuantizer(D, M, nbits, faiss.METRIC_INNER_PRODUCT, st)
            aq = index.lsq
        faiss.copy_array_to_vector(cb.ravel(), aq.codebooks)
        aq.is_trained = True
        index.is_trained = True
        if nbits != 8:  # codes are bit-packed M × nbits LSB first
            packed = np.zeros((codes.shape[0], index.code_size), dtype=np.uint8)
            # pack via faiss' own packer so the layout is faiss'
            aq.pack_codes(codes.shape[0], faiss.swig_ptr(np.ascontiguousarray(codes, dtype=np.int32)),
                          faiss.swig_ptr(packed))
            codes = packed
        codes = np.ascontiguousarray(codes)
        if not nlist:
            faiss.copy_array_to_vector(codes.ravel(), index.codes)
            index.ntotal = codes.shape[0]
            return cls(index, "aq")
        recon = sum(cb[m][np.asarray(codes[:, m], dtype=np.int64)] for m in range(M)) if nbits == 8 else None
        if recon is None:
            raise ValueError("IVF export needs 8-bit codebooks (K = 256)")
        km = faiss.Kmeans(D, int(nlist), niter=20, seed=int(seed), spherical=False, verbose=False)
        km.train(np.ascontiguousarray(recon, dtype=np.float32))
        index.quantizer.add(km.centroids)
        _, assign = index.quantizer.search(np.ascontiguousarray(recon, dtype=np.float32), 1)
        _fill_invlists(faiss, index, assign[:, 0], codes)
        index.nprobe = int(nprobe)
        return cls(index, "aq")

    @classmethod
    def from_binary(cls, packed: np.ndarray, bits: int, kind: str = "flat", nlist: int = 0, nprobe: int = 8,
                    hash_bits: int = 16, nflip: int = 2) -> "FaissEngine":
        faiss = _faiss()
        packed = np.ascontiguousarray(packed, dtype=np.uint8)
        if bits % 8:
            raise ValueError(f"FAISS binary indexes need a multiple of 8 bits, got {bits}")
        if kind == "flat":
            index = faiss.IndexBinaryFlat(bits)
        elif kind == "hash":
            index = faiss.IndexBinaryHash(bits, min(int(hash_bits), bits))
            index.nflip = int(nflip)
        elif kind == "ivf":
            index = faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(bits), bits, int(nlist or 16))
            index.train(packed)
            index.nprobe = int(nprobe)
        else:
            raise ValueError(f"binary FAISS kind: expected flat, hash or ivf, got {kind!r}")
        index.add(packed)
        return cls(index, "binary", bits=bits)

    @classmethod
    def from_vectors(cls, vectors: np.ndarray, metric: str = "ip", nlist: int = 0, nprobe: int = 8) -> "FaissEngine":
        faiss = _faiss()
        v = np.ascontiguousarray(normalize(vectors) if metric == "cosine" else vectors, dtype=np.float32)
        D = v.shape[1]
        if nlist:
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(D), D, int(nlist), faiss.METRIC_INNER_PRODUCT)
            index.train(v)
            index.nprobe = int(nprobe)
        else:
            index = faiss.IndexFlatIP(D)
        index.add(v)
        return cls(index, "float", metric=metric)

    # ------------------------------------------------------------------ files
    def write(self, path: str | Path) -> None:
        from ..io import atomic_path

        faiss = _faiss()
        with atomic_path(path) as tmp:
            (faiss.write_index_binary if self.kind == "binary" else faiss.write_index)(self.index, str(tmp))

    @classmethod
    def read(cls, path: str | Path, kind: str, metric: str = "ip", bits: int | None = None) -> "FaissEngine":
        faiss = _faiss()
        reader = faiss.read_index_binary if kind == "binary" else faiss.read_index
        return cls(reader(str(path)), kind, metric=metric, bits=bits)

    # ------------------------------------------------------------------ search
    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def set_nprobe(self, nprobe: int) -> None:
        if hasattr(self.index, "nprobe"):
            self.index.nprobe = int(nprobe)

    def _query(self, q: np.ndarray) -> np.ndarray:
        if self.kind == "binary":
            return pack_bits(q)
        return np.ascontiguousarray(normalize(q) if self.metric == "cosine" else q, dtype=np.float32)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = _as_queries(queries)
        d, rows = self.index.search(self._query(q), int(k))
        s = -d.astype(np.float32) if self.kind == "binary" else d.astype(np.float32)
        s = np.where(rows < 0, -np.inf, s).astype(np.float32)
        rows = rows.astype(np.int64)
        for i in range(q.shape[0]):  # ties within the k: lower row first (the stable policy)
            key_rows = np.where(rows[i] < 0, np.iinfo(np.int64).max, rows[i])
            o = np.lexsort((key_rows, -s[i].astype(np.float64)))
            s[i], rows[i] = s[i][o], rows[i][o]
        return s, rows

    def scores(self, queries: np.ndarray) -> np.ndarray:
        s, rows = self.search(queries, self.ntotal)
        out = np.full((s.shape[0], self.ntotal), -np.inf, dtype=np.float32)
        for i in range(s.shape[0]):
            ok = rows[i] >= 0
            out[i, rows[i][ok]] = s[i][ok]
        return out


def _fill_invlists(faiss, index, assign: np.ndarray, codes: np.ndarray) -> None:
    for lst in np.unique(assign):
        rows = np.flatnonzero(assign == lst).astype(np.int64)
        c = np.ascontiguousarray(codes[rows])
        index.invlists.add_entries(int(lst), len(rows), faiss.swig_ptr(rows), faiss.swig_ptr(c))
    index.ntotal = codes.shape[0]
