"""CMSL's semantic correlation graph and what is learned from it (one concept per module):

* :mod:`.graph` — the image–word graph over the training split (image–word, word–word and
  optional visual kNN image–image edges, scipy.sparse);
* :mod:`.walks` — vectorised truncated random walks (DeepWalk);
* :mod:`.factorization` — walk embeddings in closed form (truncated SVD of the walks' shifted
  PPMI, the matrix skip-gram factorises);
* :mod:`.skipgram` — skip-gram node embeddings of the walk corpus (gensim Word2Vec, sg=1);
* :mod:`.expansion` — semantic expansion of sparse/noisy word sets.
"""

from .expansion import (cosine_matrix, expand, expansion_recovery, image_expansion, node_word_scores, text_scores,
                        word_correlation)
from .factorization import ppmi_svd_embeddings, randomized_svd, shifted_ppmi
from .graph import CorrelationGraph, build_correlation_graph, visual_knn
from .skipgram import skipgram_embeddings
from .walks import random_walks, restrict_cooccurrence, transition_counts, walk_cooccurrence

__all__ = [
    "CorrelationGraph", "build_correlation_graph", "visual_knn", "random_walks", "transition_counts",
    "walk_cooccurrence", "restrict_cooccurrence", "skipgram_embeddings", "ppmi_svd_embeddings", "randomized_svd",
    "shifted_ppmi", "cosine_matrix", "expand", "expansion_recovery", "image_expansion",
    "node_word_scores", "text_scores", "word_correlation",
]
