"""Loss functions, each usable on its own (numpy-free, torch in/out)."""

from .pairwise import label_similarity, pairwise_likelihood_loss

__all__ = ["label_similarity", "pairwise_likelihood_loss"]
