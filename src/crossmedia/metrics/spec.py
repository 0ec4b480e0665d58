"""Result and metric-name records: every number travels with the convention that produced it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return None if math.isnan(x) or math.isinf(x) else x
    if isinstance(x, (np.bool_,)):
        return bool(x)
    return x


@dataclass
class MetricResult:
    """A measured value with its conventions.

    ``value``: float, or a dict of arrays for curves. ``n_queries``: queries evaluated;
    ``n_empty``: queries without any relevant item; ``n_averaged``: queries in the average
    (all of them with ``empty_query="zero"``, the non-empty ones with ``"skip"``).
    ``spec``: name, relevance rule, tie policy, cut-off k, normalisation, empty_query, seed.
    """

    name: str
    value: Any
    n_queries: int
    n_empty: int
    spec: dict
    n_averaged: int = 0
    n_db: int = 0
    per_query: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self, per_query: bool = False) -> dict:
        """JSON-serialisable dict (NaN -> None; arrays -> lists)."""
        d = {
            "name": self.name,
            "value": _jsonable(self.value),
            "n_queries": int(self.n_queries),
            "n_empty": int(self.n_empty),
            "n_averaged": int(self.n_averaged),
            "n_db": int(self.n_db),
            "spec": _jsonable(self.spec),
        }
        if per_query and self.per_query is not None:
            d["per_query"] = _jsonable(self.per_query)
        return d


@dataclass(frozen=True)
class MetricSpec:
    """A parsed metric name (see :func:`crossmedia.metrics.parse_metric_list`).

    kind: ``map`` (k None = mAP@all), ``map_r`` (Musgrave MAP@R), ``p`` (P@K),
    ``p_curve`` (precision@N curve), ``pr_radius`` (PR by Hamming radius), ``pr_topn``.
    """

    name: str
    kind: str
    k: int | None = None
    normalize: str = "retrieved"
