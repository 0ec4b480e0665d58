"""Index and search over learned codes: build an index folder from a trained run
(:meth:`Index.build`), open it (:meth:`Index.load`), search it across modalities
(:meth:`Index.search_text`, :meth:`Index.search_image`) with the engines of the index's codec
(:mod:`crossmedia.engines`), optionally reranking the top-N with the model's fine-grained score,
and explain a match with word→region attention."""

from .format import FORMAT, FORMAT_VERSION
from .index import Index
from .query import Hit

__all__ = ["FORMAT", "FORMAT_VERSION", "Hit", "Index"]
