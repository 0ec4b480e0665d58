import json

import numpy as np
import pytest

from crossmedia.metrics import HammingScorer, MetricSpec, evaluate_ranking, parse_metric_list


def test_parse_metric_list():
    specs = parse_metric_list("map_all, map@100,map@100:min_k_r,map@50:r,map@R,map@r,p@10,p@n,pr_radius,pr_topn")
    assert [s.kind for s in specs] == ["map", "map", "map", "map", "map_r", "map_r", "p", "p_curve", "pr_radius", "pr_topn"]
    assert specs[1] == MetricSpec("map@100", "map", 100, "retrieved")
    assert specs[2].normalize == "min_k_r" and specs[3].normalize == "r"
    assert parse_metric_list(["map_all", "map_all"]) == [MetricSpec("map_all", "map", None, "r")]


@pytest.mark.parametrize("bad", ["map@0", "map@-1", "map@10:foo", "mAP@x", "p@", "recall", "map@5000:", ""])
def test_parse_metric_list_errors(bad):
    with pytest.raises(ValueError) as e:
        parse_metric_list(f"map_all,{bad}")
    msg = str(e.value)
    assert "\n" not in msg and repr(bad.strip()) in msg or "empty metric" in msg
    assert "map@K" in msg


def test_evaluate_ranking_json_and_keys():
    rng = np.random.default_rng(0)
    Bq, Bd = rng.standard_normal((6, 16)), rng.standard_normal((40, 16))
    Yq, Yd = rng.random((6, 4)) < 0.3, rng.random((40, 4)) < 0.3
    names = ["map_all", "map@10", "map@10:min_k_r", "map@R", "p@5", "p@n", "pr_radius", "pr_topn"]
    out = evaluate_ranking(HammingScorer(Bq, Bd), Yq, Yd, names, tie="expected", empty_query="skip", seed=4)
    assert list(out) == names
    json.dumps(out, allow_nan=False)
    for n in names:
        spec = out[n]["spec"]
        assert out[n]["n_queries"] == 6 and "n_empty" in out[n]
        assert spec["empty_query"] == "skip" and spec["relevance"] == "share>=1 label"
    assert out["map@10"]["spec"]["k"] == 10 and out["map@10"]["spec"]["tie"] == "expected"
    with pytest.raises(ValueError, match="tie"):
        evaluate_ranking(HammingScorer(Bq, Bd), Yq, Yd, "map_all", tie="stable")
    with pytest.raises(ValueError, match="empty_query"):
        evaluate_ranking(HammingScorer(Bq, Bd), Yq, Yd, "map_all", empty_query="drop")
    with pytest.raises(ValueError, match="relevance"):
        evaluate_ranking(HammingScorer(Bq, Bd), Yq[:5], Yd, "map_all")


def test_default_grid_and_result_dict():
    from crossmedia.metrics import PrecomputedScorer, default_n_grid, pr_top_n

    g = default_n_grid(190_000)
    assert g[0] == 1 and g[-1] == 190_000 and np.all(np.diff(g) > 0)
    assert {100, 500, 1000} <= set(g.tolist())
    assert default_n_grid(7).tolist() == list(range(1, 8))
    rng = np.random.default_rng(0)
    D = rng.integers(0, 5, (3, 2000))
    r = pr_top_n(PrecomputedScorer(D), np.eye(3), (rng.random((2000, 3)) < 0.2).astype(float))
    assert r.value["n"].tolist() == default_n_grid(2000).tolist()
    assert r.value["recall"][-1] == 1.0
    d = r.to_dict(per_query=True)
    json.dumps(d, allow_nan=False)
    assert d["spec"]["name"] == "pr_topn" and d["spec"]["ns"] == "default grid"


def test_evaluate_ranking_accepts_parsed_specs():
    rng = np.random.default_rng(1)
    Bq, Bd = rng.standard_normal((4, 8)), rng.standard_normal((30, 8))
    Yq, Yd = rng.random((4, 3)) < 0.4, rng.random((30, 3)) < 0.4
    specs = parse_metric_list("map_all,map@5:r")
    a = evaluate_ranking(HammingScorer(Bq, Bd), Yq, Yd, specs)
    b = evaluate_ranking(HammingScorer(Bq, Bd), Yq, Yd, "map_all,map@5:r")
    assert a == b and list(a) == ["map_all", "map@5:r"]
