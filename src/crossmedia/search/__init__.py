"""Index and search over learned codes: build an index folder from a trained run
(:meth:`Index.build`), open it (:meth:`Index.load`), search it across modalities
(:meth:`Index.search_text`, :meth:`Index.search_image`) with our AQD scan, the Hamming scan,
float brute force or FAISS, optionally reranking the top-N with the model's fine-grained score,
and explain a match with word→region attention."""

from ..engines import AQDEngine, Engine, FaissEngine, FloatEngine, HammingEngine, pack_bits, top_k
from .format import FORMAT, FORMAT_VERSION
from .index import Index
from .query import Hit

__all__ = ["AQDEngine", "Engine", "FORMAT", "FORMAT_VERSION", "FaissEngine", "FloatEngine",
           "HammingEngine", "Hit", "Index", "pack_bits", "top_k"]
