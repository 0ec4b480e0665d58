"""Small trained runs shared by the search tests (built once per session, a few seconds each)."""

import pytest

SMALL_CMSL = ["model.bits=16", "model.K=256", "model.global_dim=8", "model.cnn_channels=[4, 8, 8, 8]",
              "model.image_hidden=16", "model.text_hidden=16", "model.graph.dim=8", "model.graph.walks_per_node=2",
              "model.graph.walk_length=10", "model.graph.knn=3", "model.graph.epochs=1", "model.local.dim=8",
              "model.local.out_dim=4", "model.quant.kmeans_iters=3", "train.batch_size=32", "train.epochs=2",
              "train.val_every=0", "train.threads=1"]


@pytest.fixture(scope="session")
def small_cmsl():
    """The small CMSL settings of the shared runs, for tests that train a variant of their own."""
    return list(SMALL_CMSL)


def _train(root, out, *sets):
    from crossmedia.config import resolve_config
    from crossmedia.train import train

    cfg = resolve_config(None, list(sets), data__root=str(root))
    train(cfg, out)
    return out


@pytest.fixture(scope="session")
def synth_data(tmp_path_factory):
    from crossmedia.data.make_synth import make_synthetic_dataset

    root = tmp_path_factory.mktemp("search") / "data"
    make_synthetic_dataset(root, n=120, seed=0, image_size=24)
    return root


@pytest.fixture(scope="session")
def cmsl_run(synth_data, tmp_path_factory):
    return _train(synth_data, tmp_path_factory.mktemp("runs") / "cmsl", "model.name=cmsl", *SMALL_CMSL)


@pytest.fixture(scope="session")
def cmsl_index(cmsl_run, synth_data, tmp_path_factory):
    from crossmedia.search import Index

    return Index.build(cmsl_run, synth_data, tmp_path_factory.mktemp("ix") / "cmsl")


@pytest.fixture(scope="session")
def twotower_run(synth_data, tmp_path_factory):
    return _train(synth_data, tmp_path_factory.mktemp("runs") / "tt", "model.name=twotower", "model.bits=16",
                  "model.cnn_channels=[4, 8, 8, 8]", "model.text_hidden=16", "train.epochs=1", "train.val_every=0",
                  "train.threads=1", "train.batch_size=32")


@pytest.fixture(scope="session")
def real_run(synth_data, tmp_path_factory):
    """CMSL with quantization off: real-valued vectors ranked by inner product."""
    return _train(synth_data, tmp_path_factory.mktemp("runs") / "real", "model.name=cmsl", *SMALL_CMSL,
                  "model.quant.enabled=false", "train.epochs=1")


@pytest.fixture(scope="session")
def dafsn_run(synth_data, tmp_path_factory):
    """DAFSN (real-valued, cosine; word-level attentional score for the rerank)."""
    return _train(synth_data, tmp_path_factory.mktemp("runs") / "dafsn", "model.name=dafsn", "model.text.embed_dim=16",
                  "model.text.hidden=8", "model.image.cnn_channels=[4, 8, 8, 8]", "data.text_field=caption",
                  "train.batch_size=16", "train.epochs=1", "train.val_every=0", "train.threads=1")
