"""Retrieval metrics with explicit conventions (METRICS.md): ranking primitives for binary and
quantization codes, tie policies, mAP@all / mAP@K / MAP@R / P@K / PR curves, Recall@K for
caption datasets. Measures stream over query chunks and record their conventions."""

from .api import evaluate_ranking, parse_metric_list
from .measures import (
    default_n_grid,
    map_at_r,
    mean_average_precision,
    pr_hamming_radius,
    pr_top_n,
    precision_at_k,
    precision_at_n_curve,
    random_ranking_map,
)
from .ranking import binarize, hamming_packed, hamming_pm1, pack_bits
from .recall import coco_1k_5k, recall_at_k, rsum
from .relevance import relevance
from .scorers import AQDScorer, FunctionScorer, HammingScorer, InnerProductScorer, PrecomputedScorer, Scorer, SQDScorer
from .spec import MetricResult, MetricSpec
from .ties import TIE_POLICIES

__all__ = [
    "AQDScorer", "FunctionScorer", "HammingScorer", "InnerProductScorer", "MetricResult", "MetricSpec", "PrecomputedScorer",
    "SQDScorer", "Scorer", "TIE_POLICIES", "binarize", "coco_1k_5k", "default_n_grid", "evaluate_ranking",
    "hamming_packed", "hamming_pm1", "map_at_r", "mean_average_precision", "pack_bits", "parse_metric_list",
    "pr_hamming_radius", "pr_top_n", "precision_at_k", "precision_at_n_curve", "random_ranking_map",
    "recall_at_k", "relevance", "rsum",
]
