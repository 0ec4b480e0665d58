import numpy as np
import pytest
import torch

from crossmedia.config import resolve_config
from crossmedia.graph.cache import content_key, load_preprocessing
from crossmedia.models import load_checkpoint
from crossmedia.train import RunDir, train

CMSL = ["model.global_dim=16", "model.cnn_channels=[4,8,8,8]", "model.image_hidden=16", "model.text_hidden=16",
        "model.graph.dim=8", "model.graph.walks_per_node=2", "model.graph.walk_length=10", "model.graph.knn=3",
        "model.graph.epochs=1", "model.local.dim=8", "model.local.out_dim=4", "model.quant.kmeans_iters=3",
        "model.quant.warmup_epochs=0", "train.batch_size=8", "train.epochs=1", "train.val_every=0"]


def _run(root, out, *extra):
    run = train(resolve_config(None, [*CMSL, *extra], data__root=str(root), model__name="cmsl"), out)
    return run, load_checkpoint(run.path).model.graph_info


def test_preprocessing_is_reused_for_the_same_split_and_settings(tmp_path, tiny_dataset, monkeypatch):
    monkeypatch.setenv("CROSSMEDIA_CACHE_DIR", str(tmp_path / "cache"))
    a, ia = _run(tiny_dataset.root, tmp_path / "a")
    b, ib = _run(tiny_dataset.root, tmp_path / "b", "train.lr=0.002")  # another run, same preprocessing
    c, ic = _run(tiny_dataset.root, tmp_path / "c", "model.graph.walk_length=12")  # other graph settings
    assert not ia["graph_cache_hit"] and ib["graph_cache_hit"] and not ic["graph_cache_hit"]
    assert ia["graph_cache"] == ib["graph_cache"] != ic["graph_cache"]
    assert load_preprocessing(ia["graph_cache"]) is not None
    assert not list((tmp_path / "cache" / "cmsl-graph").glob(".*"))  # no temporary files left
    # a cached entry gives the same model as computing it: rerun a's config
    a2, ia2 = _run(tiny_dataset.root, tmp_path / "a2")
    assert ia2["graph_cache_hit"]
    wa = torch.load(RunDir(a.path).checkpoint("last"), weights_only=False)["model"]
    wb = torch.load(RunDir(a2.path).checkpoint("last"), weights_only=False)["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa if isinstance(wa[k], torch.Tensor))


def test_key_depends_on_content_and_settings(tmp_path):
    f = tmp_path / "x.png"
    f.write_bytes(b"abc")
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    k = content_key([x], [str(f)], {"a": 1})
    assert k == content_key([x.copy()], [str(f)], {"a": 1})
    assert k != content_key([x + 1], [str(f)], {"a": 1})
    assert k != content_key([x], [str(f)], {"a": 2})
    assert k != content_key([x.reshape(3, 2)], [str(f)], {"a": 1})
    f.write_bytes(b"abcd")
    assert k != content_key([x], [str(f)], {"a": 1})


@pytest.mark.parametrize("method", ["svd", "skipgram"])
def test_walk_embeddings_are_computed_only_when_used(tmp_path, tiny_dataset, monkeypatch, method):
    """Without the local branch and with co-occurrence-scored expansion the walk embeddings are
    unused: not computed, stored empty; a later run that needs them (score=embedding, the same
    cache key) computes them from the cached walks and stores them."""
    monkeypatch.setenv("CROSSMEDIA_CACHE_DIR", str(tmp_path / "cache"))
    _, ia = _run(tiny_dataset.root, tmp_path / "a", "model.local.enabled=false", f"model.graph.embedding={method}")
    assert load_preprocessing(ia["graph_cache"])[2].shape[0] == 0
    _, ib = _run(tiny_dataset.root, tmp_path / "b", "model.local.enabled=false", "model.expansion.score=embedding",
                 f"model.graph.embedding={method}")
    assert ib["graph_cache"] == ia["graph_cache"] and ib["graph_cache_hit"]
    graph, _, emb = load_preprocessing(ia["graph_cache"])
    assert emb.shape == (graph.n_nodes, 8) and np.isfinite(emb).all() and np.abs(emb).sum() > 0
