"""A tiny dataset, a two-tower run and its index shared by the reliability tests (built once per
session, a few seconds)."""

import pytest

TINY_TT = ["model.name=twotower", "model.bits=16", "model.cnn_channels=[4, 8, 8, 8]", "model.text_hidden=16",
           "train.epochs=1", "train.val_every=0", "train.threads=1", "train.batch_size=16"]


@pytest.fixture(scope="session")
def rel_data(tmp_path_factory):
    from crossmedia.data.make_synth import make_synthetic_dataset

    root = tmp_path_factory.mktemp("rel") / "data"
    make_synthetic_dataset(root, n=60, seed=0, image_size=24)
    return root


@pytest.fixture(scope="session")
def rel_run(rel_data, tmp_path_factory):
    from crossmedia.config import resolve_config
    from crossmedia.train import train

    out = tmp_path_factory.mktemp("rel-run") / "tt"
    train(resolve_config(None, TINY_TT, data__root=str(rel_data)), out)
    return out


@pytest.fixture(scope="session")
def rel_index(rel_run, rel_data, tmp_path_factory):
    """Path of an index over the retrieval split (54 items); the 6 query items can be added."""
    from crossmedia.search import Index

    out = tmp_path_factory.mktemp("rel-ix") / "ix"
    Index.build(rel_run, rel_data, out)
    return out


@pytest.fixture
def index_copy(rel_index, tmp_path):
    """A private copy of the shared index (tests that update it)."""
    import shutil

    dst = tmp_path / "box" / "ix"
    shutil.copytree(rel_index, dst)
    return dst
