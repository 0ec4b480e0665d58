"""Hand-computed cases for every measure and convention."""

import numpy as np
import pytest

from crossmedia.metrics import (
    HammingScorer,
    PrecomputedScorer,
    evaluate_ranking,
    map_at_r,
    mean_average_precision,
    pr_hamming_radius,
    pr_top_n,
    precision_at_k,
    precision_at_n_curve,
    random_ranking_map,
)

TIES = ("index", "random", "expected")


def ranked(rel_lists):
    """Scorer + labels such that query q ranks item n at position n with relevance rel[q][n]."""
    rel = np.array(rel_lists, dtype=bool)
    Q, N = rel.shape
    return PrecomputedScorer(np.tile(np.arange(N), (Q, 1))), np.eye(Q), rel.T.astype(float)


# list [1,0,1,0,0,0,0,0,1,1]: relevant at ranks 1, 3, 9, 10; R = 4
LIST = [[1, 0, 1, 0, 0, 0, 0, 0, 1, 1]]


@pytest.mark.parametrize("normalize,expect", [("retrieved", 5 / 6), ("min_k_r", 5 / 12), ("r", 5 / 12)])
@pytest.mark.parametrize("tie", TIES)
def test_ap_at_k_three_normalisations(normalize, expect, tie):
    s, Yq, Yd = ranked(LIST)
    r = mean_average_precision(s, Yq, Yd, k=5, normalize=normalize, tie=tie)
    assert r.value == pytest.approx(expect, abs=1e-12)
    assert round(r.value, 3) == {"retrieved": 0.833, "min_k_r": 0.417, "r": 0.417}[normalize]
    assert r.spec["k"] == 5 and r.spec["normalize"] == normalize and r.spec["tie"] == tie


def test_min_k_r_differs_from_r_when_k_below_r():
    s, Yq, Yd = ranked(LIST)  # K = 2: top two [1, 0] -> numerator 1
    assert mean_average_precision(s, Yq, Yd, k=2, normalize="retrieved").value == pytest.approx(1.0)
    assert mean_average_precision(s, Yq, Yd, k=2, normalize="min_k_r").value == pytest.approx(0.5)
    assert mean_average_precision(s, Yq, Yd, k=2, normalize="r").value == pytest.approx(0.25)


def test_map_all_map_r_and_p_at_k():
    s, Yq, Yd = ranked(LIST)
    # (1/1 + 2/3 + 3/9 + 4/10) / 4 = 0.6
    r = mean_average_precision(s, Yq, Yd)
    assert r.value == pytest.approx(0.6, abs=1e-15) and r.spec["normalize"] == "r"
    # k=None is "all" for every normalisation, and k = |D| agrees
    for norm in ("retrieved", "min_k_r", "r"):
        assert mean_average_precision(s, Yq, Yd, normalize=norm).value == pytest.approx(0.6)
        assert mean_average_precision(s, Yq, Yd, k=10, normalize=norm).value == pytest.approx(0.6)
    # MAP@R, R = 4: top four [1,0,1,0] -> (1 + 2/3) / 4
    assert map_at_r(s, Yq, Yd).value == pytest.approx(5 / 12)
    assert precision_at_k(s, Yq, Yd, k=1).value == pytest.approx(1.0)
    assert precision_at_k(s, Yq, Yd, k=3).value == pytest.approx(2 / 3)
    assert precision_at_k(s, Yq, Yd, k=5).value == pytest.approx(0.4)
    assert precision_at_k(s, Yq, Yd, k=10).value == pytest.approx(0.4)


def test_pr_at_n_and_precision_curve():
    s, Yq, Yd = ranked(LIST)
    r = pr_top_n(s, Yq, Yd, ns=[1, 3, 9, 10])
    np.testing.assert_allclose(r.value["precision"], [1, 2 / 3, 3 / 9, 0.4])
    np.testing.assert_allclose(r.value["recall"], [0.25, 0.5, 0.75, 1.0])
    full = precision_at_n_curve(s, Yq, Yd, ns="all")
    assert full.value["n"].tolist() == list(range(1, 11))
    np.testing.assert_allclose(full.value["precision"], [1, 1 / 2, 2 / 3, 2 / 4, 2 / 5, 2 / 6, 2 / 7, 2 / 8, 3 / 9, 4 / 10])


def test_empty_query_zero_vs_skip():
    s, Yq, Yd = ranked(LIST + [[0] * 10])
    z = mean_average_precision(s, Yq, Yd, empty_query="zero")
    k = mean_average_precision(s, Yq, Yd, empty_query="skip")
    assert z.value == pytest.approx(0.3) and k.value == pytest.approx(0.6)
    assert z.n_empty == k.n_empty == 1 and z.n_averaged == 2 and k.n_averaged == 1
    assert z.per_query.tolist() == pytest.approx([0.6, 0.0])
    assert precision_at_k(s, Yq, Yd, k=5, empty_query="skip").value == pytest.approx(0.4)
    assert precision_at_k(s, Yq, Yd, k=5).value == pytest.approx(0.2)
    assert map_at_r(s, Yq, Yd, empty_query="skip").value == pytest.approx(5 / 12)
    r = pr_top_n(s, Yq, Yd, ns=[10])
    assert r.value["recall"][0] == pytest.approx(0.5) and r.value["precision"][0] == pytest.approx(0.2)
    all_empty = mean_average_precision(*ranked([[0, 0]]), empty_query="skip")
    assert np.isnan(all_empty.value) and all_empty.to_dict()["value"] is None


def test_pr_hamming_radius_micro_macro():
    # 4-bit codes; query 1 = ++++, query 2 = ----; items at distances (0,1,1,2,4) / (4,3,3,2,0)
    Bq = np.array([[1, 1, 1, 1], [-1, -1, -1, -1]])
    Bd = np.array([[1, 1, 1, 1], [-1, 1, 1, 1], [1, -1, 1, 1], [-1, -1, 1, 1], [-1, -1, -1, -1]])
    Yq = np.eye(2)
    Yd = np.array([[1, 0], [0, 0], [1, 0], [1, 1], [0, 1]], dtype=float)  # rel q1: 1,0,1,1,0; q2: 0,0,0,1,1
    r = pr_hamming_radius(HammingScorer(Bq, Bd), Yq, Yd)
    v = r.value
    assert v["radius"].tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(v["macro"]["precision"], [1, 5 / 6, 7 / 8, 5 / 8, 1 / 2])
    np.testing.assert_allclose(v["macro"]["recall"], [5 / 12, 7 / 12, 1, 1, 1])
    np.testing.assert_allclose(v["micro"]["precision"], [1, 3 / 4, 5 / 6, 5 / 8, 1 / 2])
    np.testing.assert_allclose(v["micro"]["recall"], [2 / 5, 3 / 5, 1, 1, 1])


def test_pr_radius_query_retrieving_nothing_has_precision_zero():
    Bq = np.array([[1, 1]])
    Bd = np.array([[-1, 1], [-1, -1]])  # distances 1, 2
    r = pr_hamming_radius(HammingScorer(Bq, Bd), np.array([[1]]), np.array([[1], [0]]))
    np.testing.assert_allclose(r.value["macro"]["precision"], [0, 1, 0.5])
    np.testing.assert_allclose(r.value["micro"]["precision"], [0, 1, 0.5])
    np.testing.assert_allclose(r.value["macro"]["recall"], [0, 1, 1])
    with pytest.raises(ValueError, match="Hamming"):
        pr_hamming_radius(PrecomputedScorer(np.zeros((1, 2))), np.array([[1]]), np.array([[1], [0]]))


def _tied(d, rel):
    rel = np.array([rel], dtype=bool)
    return PrecomputedScorer(np.array([d])), np.eye(1), rel.T.astype(float)


def test_tie_policies_small_example():
    # distances (1, 1): relevant item first by index
    s, Yq, Yd = _tied([1, 1], [1, 0])
    assert mean_average_precision(s, Yq, Yd, tie="index").value == pytest.approx(1.0)
    assert mean_average_precision(s, Yq, Yd, tie="expected").value == pytest.approx(0.75)
    rnd = {mean_average_precision(s, Yq, Yd, tie="random", seed=k).value for k in range(20)}
    assert rnd == {1.0, 0.5}
    # distances (0, 1, 1, 2), relevance (0, 1, 0, 1): index 0.5; expected (1/2 + 5/12) / 2 = 11/24
    s, Yq, Yd = _tied([0, 1, 1, 2], [0, 1, 0, 1])
    assert mean_average_precision(s, Yq, Yd, tie="index").value == pytest.approx(0.5)
    assert mean_average_precision(s, Yq, Yd, tie="expected").value == pytest.approx(11 / 24)
    r = mean_average_precision(s, Yq, Yd, tie="random", seed=3)
    assert r.value in (pytest.approx(0.5), pytest.approx(5 / 12)) and r.spec["seed"] == 3


def test_expected_ap_at_k_all_tied():
    # four tied items, two relevant: average over the 6 placements of the relevant pair
    s, Yq, Yd = _tied([7, 7, 7, 7], [1, 0, 1, 0])
    e = dict(tie="expected")
    assert mean_average_precision(s, Yq, Yd, k=1, normalize="retrieved", **e).value == pytest.approx(0.5)
    assert mean_average_precision(s, Yq, Yd, k=2, normalize="retrieved", **e).value == pytest.approx(2 / 3)
    assert mean_average_precision(s, Yq, Yd, k=2, normalize="r", **e).value == pytest.approx(5 / 12)
    assert mean_average_precision(s, Yq, Yd, k=2, normalize="min_k_r", **e).value == pytest.approx(5 / 12)
    assert precision_at_k(s, Yq, Yd, k=1, **e).value == pytest.approx(0.5)
    # random ranking baseline: H_4/4 + (R-1)/(N-1) (1 - H_4/4), H_4 = 25/12
    h = 25 / 12
    expect = h / 4 + (1 / 3) * (1 - h / 4)
    assert mean_average_precision(s, Yq, Yd, **e).value == pytest.approx(expect)
    assert random_ranking_map(Yq, Yd).value == pytest.approx(expect)


def test_evaluate_ranking_golden():
    s, Yq, Yd = ranked(LIST)
    out = evaluate_ranking(s, Yq, Yd, "map_all,map@5,map@5:min_k_r,map@5:r,map@R,p@5")
    assert [round(out[k]["value"], 3) for k in out] == [0.6, 0.833, 0.417, 0.417, 0.417, 0.4]
