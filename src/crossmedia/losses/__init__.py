"""Loss functions, each usable on its own (numpy-free, torch in/out)."""

from .adversarial import GradientReversal, grad_reverse, grl_coefficient, modality_adversarial_loss
from .correlation import cross_media_correlation_loss
from .matching import batch_softmax_matching_loss, hardest_negative_hinge_loss
from .pairwise import label_similarity, pairwise_likelihood_loss
from .quantization import quantization_loss, reconstruct

__all__ = ["cross_media_correlation_loss", "label_similarity", "pairwise_likelihood_loss", "quantization_loss",
           "reconstruct", "batch_softmax_matching_loss", "hardest_negative_hinge_loss", "GradientReversal",
           "grad_reverse", "grl_coefficient", "modality_adversarial_loss"]
