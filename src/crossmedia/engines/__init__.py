"""Search engines behind one interface (:class:`Engine`): our lookup-table AQD scan, the Hamming
scan on packed bits, float brute force, and FAISS indexes built from the same codes."""

from .aqd import AQDEngine
from .base import Engine, merge_top_k, top_k
from .faiss_ import FaissEngine
from .floatvec import FloatEngine, normalize
from .hamming import HammingEngine, pack_bits

__all__ = ["AQDEngine", "Engine", "FaissEngine", "FloatEngine", "HammingEngine", "merge_top_k", "normalize",
           "pack_bits", "top_k"]
