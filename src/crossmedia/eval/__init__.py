"""Evaluation of trained models on a protocol split (both directions)."""

from .codes import CODE_VIEWS, code_view
from .evaluator import DIRECTIONS, encode_items, evaluate, evaluate_representations, load_for_evaluation, validate

__all__ = ["CODE_VIEWS", "DIRECTIONS", "code_view", "encode_items", "evaluate", "evaluate_representations",
           "load_for_evaluation", "validate"]
