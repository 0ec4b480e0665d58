"""Metric names and one-pass evaluation of several measures (used by the evaluator).

Names: ``map_all`` (mAP@all, DCMH), ``map@K`` with optional ``:retrieved|min_k_r|r``
(default retrieved, the hashing convention), ``map@R`` (Musgrave MAP@R), ``p@K``, ``p@n``
(precision@N curve), ``pr_radius`` (PR by Hamming radius), ``pr_topn`` (PR at N).
"""

from __future__ import annotations

import re

from ._engine import check_empty_query, run_measures
from ._views import NORMALIZE
from .measures import make_ap, make_curve, make_map_r, make_pk, make_pr_radius
from .relevance import LabelRelevance
from .spec import MetricSpec
from .ties import check_tie

ALLOWED = "map_all, map@K, map@K:retrieved|min_k_r|r, map@R, p@K, p@n, pr_radius, pr_topn (K a positive integer)"
_MAPK = re.compile(r"^map@(\d+)(?::([a-z_]+))?$")
_PK = re.compile(r"^p@(\d+)$")


def parse_metric(entry: str) -> MetricSpec:
    raw = str(entry).strip()
    s = raw.lower()
    if s in ("map_all", "map@all"):
        return MetricSpec(raw, "map", None, "r")
    if s == "map@r":
        return MetricSpec(raw, "map_r", None, "r")
    if s == "p@n":
        return MetricSpec(raw, "p_curve")
    if s == "pr_radius":
        return MetricSpec(raw, "pr_radius")
    if s == "pr_topn":
        return MetricSpec(raw, "pr_topn")
    m = _MAPK.match(s)
    if m and int(m.group(1)) >= 1 and (m.group(2) is None or m.group(2) in NORMALIZE):
        return MetricSpec(raw, "map", int(m.group(1)), m.group(2) or "retrieved")
    m = _PK.match(s)
    if m and int(m.group(1)) >= 1:
        return MetricSpec(raw, "p", int(m.group(1)))
    raise ValueError(f"unknown metric {raw!r}; allowed: {ALLOWED}")


def parse_metric_list(metrics) -> list[MetricSpec]:
    """Parse "map_all,map@100,..." (or a list of names / MetricSpec records) into
    :class:`MetricSpec` records; ValueError naming the bad entry and the allowed forms.
    Duplicates are dropped."""
    items = metrics.split(",") if isinstance(metrics, str) else list(metrics)
    out, seen = [], set()
    for it in items:
        if isinstance(it, MetricSpec):
            spec = it
        elif not str(it).strip():
            raise ValueError(f"empty metric name in {metrics!r}; allowed: {ALLOWED}")
        else:
            spec = parse_metric(it)
        if spec.name not in seen:
            seen.add(spec.name)
            out.append(spec)
    if not out:
        raise ValueError(f"no metric given; allowed: {ALLOWED}")
    return out


def _measure(spec: MetricSpec, scorer, tie, seed, empty_query):
    if spec.kind == "map":
        return make_ap(spec.name, spec.k, spec.normalize, tie, seed, empty_query)
    if spec.kind == "map_r":
        return make_map_r(spec.name, tie, seed, empty_query)
    if spec.kind == "p":
        return make_pk(spec.name, spec.k, tie, seed, empty_query)
    if spec.kind == "p_curve":
        return make_curve(spec.name, None, False, tie, seed, empty_query)
    if spec.kind == "pr_topn":
        return make_curve(spec.name, None, True, tie, seed, empty_query)
    return make_pr_radius(spec.name, scorer, empty_query)


def evaluate_ranking(scorer, Yq, Yd, metrics, *, tie="index", empty_query="zero", seed=0,
                     chunk_size=None) -> dict[str, dict]:
    """Evaluate several metrics in one pass over the query chunks; returns
    ``{name: MetricResult.to_dict()}`` keyed by the names as given."""
    specs = parse_metric_list(metrics)
    check_tie(tie)
    check_empty_query(empty_query)
    measures = [_measure(s, scorer, tie, seed, empty_query) for s in specs]
    results = run_measures(measures, scorer, LabelRelevance(Yq, Yd), tie=tie, seed=seed, chunk_size=chunk_size)
    return {s.name: r.to_dict() for s, r in zip(specs, results)}
