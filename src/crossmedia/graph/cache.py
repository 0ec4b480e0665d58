"""A cache of CMSL's preprocessing (correlation graph, random walks, skip-gram node embeddings),
so that runs on the same training split with the same graph settings — other learning rates,
other models of a sweep, resumed runs, the ranks of a data-parallel run — skip it.

Entries are keyed by a SHA-256 of everything the result depends on: the training split's
bag-of-words rows, its images (precomputed feature rows, or the image files' paths, sizes and
modification times), the vocabulary size, every ``model.graph`` setting and the seed of the walks
and of skip-gram. Each entry is one ``.npz`` file written to a temporary name and renamed into
place, so a reader sees a whole entry or none. The folder is ``$CROSSMEDIA_CACHE_DIR/cmsl-graph``
(default ``~/.cache/crossmedia/cmsl-graph``); deleting it is always safe.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .graph import CorrelationGraph

__all__ = ["cache_dir", "content_key", "load_preprocessing", "save_preprocessing"]


def cache_dir() -> Path:
    root = os.environ.get("CROSSMEDIA_CACHE_DIR") or Path.home() / ".cache" / "crossmedia"
    return Path(root) / "cmsl-graph"


def content_key(arrays: list[np.ndarray], files: list[str], settings: dict) -> str:
    """SHA-256 over arrays (dtype, shape, bytes), files (path, size, mtime) and JSON settings."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    for f in files:
        st = os.stat(f)
        h.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return h.hexdigest()[:32]


def load_preprocessing(key: str) -> tuple[CorrelationGraph, np.ndarray, np.ndarray] | None:
    """(graph, walks, node embeddings) of ``key``, or None when absent or unreadable."""
    path = cache_dir() / f"{key}.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            adj = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
            graph = CorrelationGraph(adj=adj, n_images=int(z["n_images"]), n_words=int(z["n_words"]))
            return graph, z["walks"], z["emb"]
    except (OSError, KeyError, ValueError):
        return None


def save_preprocessing(key: str, graph: CorrelationGraph, walks: np.ndarray, emb: np.ndarray) -> Path | None:
    """Store an entry atomically; a cache that cannot be written is skipped (None)."""
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        adj = graph.adj.tocsr()
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{key}.", suffix=".npz")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, data=adj.data, indices=adj.indices, indptr=adj.indptr, shape=np.array(adj.shape),
                     n_images=graph.n_images, n_words=graph.n_words, walks=walks, emb=emb)
        os.replace(tmp, folder / f"{key}.npz")
        return folder / f"{key}.npz"
    except OSError:
        return None
