"""A small trained CMSL run and its index (built once per session, a few seconds), shared by
the API and browser tests; everything here needs the ``serve`` extra."""

import pytest

SMALL_CMSL = ["model.name=cmsl", "model.bits=16", "model.K=256", "model.global_dim=8",
              "model.cnn_channels=[4, 8, 8, 8]", "model.image_hidden=16", "model.text_hidden=16", "model.graph.dim=8",
              "model.graph.walks_per_node=2", "model.graph.walk_length=10", "model.graph.knn=3",
              "model.graph.epochs=1", "model.local.dim=8", "model.local.out_dim=4", "model.quant.kmeans_iters=3",
              "train.batch_size=32", "train.epochs=2", "train.val_every=0", "train.threads=1"]


@pytest.fixture(scope="session")
def serve_data(tmp_path_factory):
    from crossmedia.data.make_synth import make_synthetic_dataset

    root = tmp_path_factory.mktemp("serve") / "data"
    make_synthetic_dataset(root, n=120, seed=0, image_size=24)
    return root


@pytest.fixture(scope="session")
def serve_index(serve_data, tmp_path_factory):
    """Path of an index over all 120 items of the synthetic scenes."""
    from crossmedia.config import resolve_config
    from crossmedia.search import Index
    from crossmedia.train import train

    run = tmp_path_factory.mktemp("serve-run") / "cmsl"
    train(resolve_config(None, SMALL_CMSL, data__root=str(serve_data)), run)
    out = tmp_path_factory.mktemp("serve-ix") / "ix"
    Index.build(run, serve_data, out, split="all")
    return out


@pytest.fixture(scope="session")
def plain_index(serve_data, tmp_path_factory):
    """An index of a model without fine-grained scoring (two-tower, binary codes): no rerank, no explain."""
    from crossmedia.config import resolve_config
    from crossmedia.search import Index
    from crossmedia.train import train

    run = tmp_path_factory.mktemp("serve-run") / "tt"
    train(resolve_config(None, ["model.name=twotower", "model.bits=16", "model.cnn_channels=[4, 8, 8, 8]",
                                "model.text_hidden=16", "train.epochs=1", "train.val_every=0", "train.threads=1",
                                "train.batch_size=32"], data__root=str(serve_data)), run)
    out = tmp_path_factory.mktemp("serve-ix") / "tt"
    Index.build(run, serve_data, out, split="all")
    return out
