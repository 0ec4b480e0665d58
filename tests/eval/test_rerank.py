import numpy as np
import torch

from crossmedia.config import resolve_config
from crossmedia.data.loading import load_run_data
from crossmedia.eval import evaluate
from crossmedia.eval.rerank import (evaluate_reranked, evaluate_reranked_weights, fused_distances, reranked_distances,
                                    top_fine_scores)
from crossmedia.train.trainer import build_model

SETS = ["model.name=dafsn", "model.text.embed_dim=16", "model.text.hidden=8", "model.image.cnn_channels=[4, 8, 8, 8]",
        "data.text_field=caption"]


def _model(root):
    cfg = resolve_config(None, SETS, data__root=str(root))
    rd = load_run_data(cfg["data"])
    torch.manual_seed(0)
    return build_model(cfg, rd).eval(), cfg, rd


def test_rerank_reorders_only_the_top_n_by_the_fine_grained_score(tiny_dataset):
    m, cfg, rd = _model(tiny_dataset.root)
    q, d = rd.protocol["query"][:3], rd.protocol["retrieval"]
    rng = np.random.default_rng(0)
    first = rng.random((3, len(d)))
    D = reranked_distances(m, rd.tensors, q, d, first, "text->image", 5)
    with torch.no_grad():
        fg = m.fine_grained_scores(rd.tensors.batch(d), rd.tensors.batch(q)).T.numpy()
    for r in range(3):
        top = np.argsort(first[r], kind="stable")[:5]
        new = np.argsort(D[r], kind="stable")
        assert set(new[:5]) == set(top)
        assert np.all(np.diff(fg[r, new[:5]]) <= 1e-6)  # best fine-grained score first
        assert list(new[5:]) == [j for j in np.argsort(first[r], kind="stable") if j not in set(top)]


def test_rerank_of_nothing_equals_the_first_stage_evaluation(tiny_dataset):
    m, cfg, rd = _model(tiny_dataset.root)
    a = evaluate(m, rd, cfg)["results"]
    b = evaluate_reranked(m, rd, cfg, top_n=0)["results"]
    for direction in a:
        assert abs(a[direction]["map_all"]["value"] - b[direction]["map_all"]["value"]) < 1e-9
    c = evaluate_reranked(m, rd, cfg, top_n=5)
    assert "top-5" in c["ranking"]["rerank"]


def test_fused_rerank_sorts_the_top_n_by_standardised_fine_plus_weighted_first_stage(tiny_dataset):
    m, cfg, rd = _model(tiny_dataset.root)
    q, d = rd.protocol["query"][:3], rd.protocol["retrieval"]
    first = np.random.default_rng(1).random((3, len(d)))
    with torch.no_grad():
        fg = m.fine_grained_scores(rd.tensors.batch(d), rd.tensors.batch(q)).T.numpy().astype(np.float64)

    def z(x):
        return (x - x.mean()) / x.std()

    for w in (0.5, 3.0):
        D = reranked_distances(m, rd.tensors, q, d, first, "text->image", 6, first_stage_weight=w)
        for r in range(3):
            top = np.argsort(first[r], kind="stable")[:6]
            want = z(fg[r, top]) + w * z(-first[r, top])
            new = np.argsort(D[r], kind="stable")[:6]
            assert list(new) == list(top[np.argsort(-want, kind="stable")])
    # a very large weight keeps the first stage's order; 0 is the fine score alone
    D = reranked_distances(m, rd.tensors, q, d, first, "text->image", 6, first_stage_weight=1e6)
    assert all(list(np.argsort(D[r], kind="stable")[:6]) == list(np.argsort(first[r], kind="stable")[:6])
               for r in range(3))
    assert np.array_equal(reranked_distances(m, rd.tensors, q, d, first, "text->image", 6, first_stage_weight=0.0),
                          reranked_distances(m, rd.tensors, q, d, first, "text->image", 6))
    import pytest

    with pytest.raises(ValueError, match="first_stage_weight"):
        reranked_distances(m, rd.tensors, q, d, first, "text->image", 6, first_stage_weight=-1)


def test_reranked_evaluation_on_the_validation_folds(tiny_dataset):
    m, cfg, rd = _model(tiny_dataset.root)
    res = evaluate_reranked(m, rd, cfg, top_n=4, split="val", metrics=["map_all"], first_stage_weight=1.0)
    folds = rd.protocol.validation_folds(cfg["train"]["val_rule"])
    assert res["queries"]["count"] == sum(len(f[0]) for f in folds) == len(rd.protocol["val"])
    assert res["ranking"]["first_stage_weight"] == 1.0 and "standardised" in res["ranking"]["rerank"]
    for direction in ("image->text", "text->image"):
        assert 0.0 <= res["results"][direction]["map_all"]["value"] <= 1.0


def test_fine_scores_computed_once_then_fused_per_weight_equal_the_one_shot_rerank(tiny_dataset):
    m, cfg, rd = _model(tiny_dataset.root)
    q, d = rd.protocol["query"][:3], rd.protocol["retrieval"]
    first = np.random.default_rng(2).random((3, len(d)))
    top, fine = top_fine_scores(m, rd.tensors, q, d, first, "image->text", 7)
    assert top.shape == fine.shape == (3, 7)
    with torch.no_grad():
        fg = m.fine_grained_scores(rd.tensors.batch(q), rd.tensors.batch(d)).numpy()
    for r in range(3):
        assert list(top[r]) == list(np.argsort(first[r], kind="stable")[:7])
        assert np.allclose(fine[r], fg[r, top[r]], atol=1e-5)
    for w in (0.0, 0.5, 4.0):
        assert np.array_equal(fused_distances(first, top, fine, w),
                              reranked_distances(m, rd.tensors, q, d, first, "image->text", 7, first_stage_weight=w))
    # several weights in one evaluation: the same numbers as one evaluation per weight
    many = evaluate_reranked_weights(m, rd, cfg, top_n=5, first_stage_weights=[0.0, 2.0], metrics=["map_all"])
    for w in (0.0, 2.0):
        one = evaluate_reranked(m, rd, cfg, top_n=5, metrics=["map_all"], first_stage_weight=w)
        for direction in one["results"]:
            assert many[w]["results"][direction]["map_all"]["value"] == one["results"][direction]["map_all"]["value"]
        assert many[w]["ranking"] == one["ranking"]


def test_rerank_on_a_view_of_the_test_database(tiny_dataset):
    """`database=unseen`: the first stage and the rerank rank the retrieval items outside train
    and val only; a rerank of nothing there equals the plain evaluation of the same view."""
    import pytest

    from crossmedia.errors import UserError

    m, cfg, rd = _model(tiny_dataset.root)
    unseen = rd.protocol.test_database("unseen")
    assert 0 < len(unseen) < len(rd.protocol["retrieval"])
    a = evaluate(m, rd, cfg, database="unseen")
    b = evaluate_reranked(m, rd, cfg, top_n=0, database="unseen")
    assert a["database"]["count"] == b["database"]["count"] == len(unseen) and b["database"]["view"] == "unseen"
    for direction in a["results"]:
        assert abs(a["results"][direction]["map_all"]["value"] - b["results"][direction]["map_all"]["value"]) < 1e-9
    c = evaluate_reranked(m, rd, cfg, top_n=5, database="unseen")
    assert c["database"]["count"] == len(unseen)
    with pytest.raises(UserError, match="--database unseen: applies to the test split"):
        evaluate_reranked(m, rd, cfg, top_n=5, split="val", database="unseen")
