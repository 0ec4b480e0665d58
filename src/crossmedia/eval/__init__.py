"""Evaluation of trained models on a protocol split (both directions)."""

from .evaluator import DIRECTIONS, encode_items, evaluate, evaluate_representations, validate

__all__ = ["DIRECTIONS", "encode_items", "evaluate", "evaluate_representations", "validate"]
