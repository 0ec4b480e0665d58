import numpy as np
import torch

from crossmedia.config import resolve_config
from crossmedia.data.loading import load_run_data
from crossmedia.eval import evaluate
from crossmedia.eval.rerank import evaluate_reranked, reranked_distances
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
