"""Skip-gram node embeddings of a random-walk corpus (DeepWalk's second half).

Backend: gensim's ``Word2Vec`` with ``sg=1`` — the reference implementation DeepWalk itself
uses. gensim 4.4 installs cleanly beside the project's numpy 2.4 / scipy 1.17 / torch 2.13
(checked in a throwaway venv first; it pulls only ``smart_open`` and ``wrapt``), and its
optimised C loop trains a 20k-node corpus in seconds on one core, so no torch re-implementation
is needed. ``workers=1`` makes it deterministic for a seed (verified across PYTHONHASHSEED
values): multi-threaded training is not reproducible. Negative sampling (5 noise words, the
word2vec default) replaces DeepWalk's hierarchical softmax (recipe from node2vec/gensim); no
frequent-token subsampling (``sample=0``), as in DeepWalk, since hub words are the point.
"""

from __future__ import annotations

import numpy as np

__all__ = ["skipgram_embeddings"]


def skipgram_embeddings(walks: np.ndarray, n_nodes: int, dim: int = 64, window: int = 5, negative: int = 5,
                        epochs: int = 5, seed: int = 0, alpha: float = 0.025, min_alpha: float = 1e-4) -> np.ndarray:
    """(n_nodes, dim) float32 skip-gram embeddings of the nodes in ``walks`` (rows of node ids,
    −1 = end of walk). Nodes that never appear keep gensim's small random initialisation."""
    try:
        from gensim.models import Word2Vec
    except ImportError:  # pragma: no cover - gensim is a dependency
        raise ImportError("CMSL's walk embeddings need gensim (pip install gensim)") from None
    names = [str(i) for i in range(n_nodes)]
    corpus = [[names[j] for j in row if j >= 0] for row in np.asarray(walks)]
    corpus = [s for s in corpus if s]
    # every node in the vocabulary (so absent ones still get a row)
    corpus.append(names)
    model = Word2Vec(vector_size=int(dim), window=int(window), sg=1, hs=0, negative=int(negative),
                     min_count=0, sample=0, workers=1, seed=int(seed), alpha=alpha, min_alpha=min_alpha)
    model.build_vocab(corpus[-1:] + corpus[:-1])
    model.train(corpus[:-1], total_examples=len(corpus) - 1, epochs=int(epochs))
    out = np.zeros((n_nodes, int(dim)), dtype=np.float32)
    kv = model.wv
    out[:] = kv.vectors[[kv.key_to_index[s] for s in names]]
    return out
