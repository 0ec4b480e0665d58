"""Loss functions, each usable on its own (numpy-free, torch in/out)."""

from .adversarial import GradientReversal, grad_reverse, grl_coefficient, modality_adversarial_loss
from .correlation import cross_media_correlation_loss
from .invariance import modality_invariance_loss
from .label import label_classification_loss, label_regression_loss
from .matching import batch_softmax_matching_loss, hardest_negative_hinge_loss, label_softmax_matching_loss
from .pairwise import (label_similarity, pairwise_likelihood_loss, score_likelihood_loss, similar_fraction,
                       stored_likelihood_loss)
from .quantization import quantization_loss, reconstruct
from .triplet import cross_modal_triplet_loss

__all__ = ["GradientReversal", "batch_softmax_matching_loss", "cross_media_correlation_loss", "cross_modal_triplet_loss",
           "grad_reverse", "grl_coefficient", "hardest_negative_hinge_loss", "label_classification_loss",
           "label_regression_loss", "label_similarity", "label_softmax_matching_loss", "similar_fraction", "modality_adversarial_loss", "modality_invariance_loss",
           "pairwise_likelihood_loss", "quantization_loss", "reconstruct", "score_likelihood_loss",
           "stored_likelihood_loss"]
