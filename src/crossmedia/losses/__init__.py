"""Loss functions, each usable on its own (numpy-free, torch in/out)."""

from .correlation import cross_media_correlation_loss
from .pairwise import label_similarity, pairwise_likelihood_loss
from .quantization import quantization_loss, reconstruct

__all__ = ["cross_media_correlation_loss", "label_similarity", "pairwise_likelihood_loss", "quantization_loss",
           "reconstruct"]
