"""CMSL's semantic correlation graph and what is learned from it (one concept per module):

* :mod:`.graph` — the image–word graph over the training split (image–word, word–word and
  optional visual kNN image–image edges, scipy.sparse);
* :mod:`.walks` — vectorised truncated random walks (DeepWalk);
* :mod:`.skipgram` — skip-gram node embeddings of the walk corpus (gensim Word2Vec, sg=1);
* :mod:`.expansion` — semantic expansion of sparse/noisy word sets.
"""

from .expansion import (cosine_matrix, expand, expansion_recovery, image_expansion, node_word_scores, text_scores,
                        word_correlation)
from .graph import CorrelationGraph, build_correlation_graph, visual_knn
from .skipgram import skipgram_embeddings
from .walks import random_walks, transition_counts, walk_cooccurrence

__all__ = [
    "CorrelationGraph", "build_correlation_graph", "visual_knn", "random_walks", "transition_counts",
    "walk_cooccurrence", "skipgram_embeddings", "cosine_matrix", "expand", "expansion_recovery", "image_expansion",
    "node_word_scores", "text_scores", "word_correlation",
]
