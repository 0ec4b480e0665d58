import numpy as np
import pytest
import torch

from crossmedia.config import resolve_config
from crossmedia.data.loading import load_run_data
from crossmedia.data.streaming import LazyImages, MappedRows, batch_source
from crossmedia.errors import ConfigError, DataError
from crossmedia.train import RunDir, train


def _data(root, *extra):
    return resolve_config(None, list(extra), data__root=str(root))


def test_stream_batches_equal_memory_batches(tiny_dataset):
    mem = load_run_data(_data(tiny_dataset.root)["data"])
    st = load_run_data(_data(tiny_dataset.root, "data.loader=stream")["data"])
    assert isinstance(st.tensors.images, LazyImages) and isinstance(mem.tensors.images, torch.Tensor)
    assert st.tensors.image_size == mem.tensors.image_size
    idx = torch.tensor([5, 0, 17, 3])
    a, b = mem.tensors.batch(idx), st.tensors.batch(idx)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_stream_resizes_to_the_declared_size(tiny_dataset):
    mem = load_run_data(_data(tiny_dataset.root, "data.image_size=16")["data"])
    st = load_run_data(_data(tiny_dataset.root, "data.image_size=16", "data.loader=stream")["data"])
    idx = torch.arange(6)
    assert st.tensors.batch(idx)["image"].shape == (6, 3, 16, 16)
    assert torch.equal(mem.tensors.batch(idx)["image"], st.tensors.batch(idx)["image"])


@pytest.mark.parametrize("workers", [0, 2])
def test_batch_source_yields_the_in_ram_batches(tiny_dataset, workers):
    cfg = _data(tiny_dataset.root, "data.loader=stream", f"data.workers={workers}")
    rd_mem = load_run_data(_data(tiny_dataset.root)["data"])
    rd = load_run_data(cfg["data"])
    train_idx = torch.as_tensor(rd.protocol["train"])
    perm = torch.randperm(len(train_idx), generator=torch.Generator().manual_seed(3))
    got = list(batch_source(rd, cfg, torch.device("cpu"))(train_idx, list(perm.split(6))))
    assert len(got) == -(-len(train_idx) // 6)
    for b, pos in zip(got, perm.split(6)):
        ref = rd_mem.tensors.batch(train_idx[pos])
        assert torch.equal(b["pos"], pos)
        for k in ref:
            assert torch.equal(b[k], ref[k]), k


def test_worker_processes_live_across_epochs_and_an_abandoned_epoch_leaves_nothing_behind(tiny_dataset, monkeypatch):
    # the trainer stops reading an epoch after train.max_steps batches; the next epoch must get
    # exactly its own batches from the same (persistent) workers
    import crossmedia.data.streaming as streaming

    made = []
    real = torch.utils.data.DataLoader
    monkeypatch.setattr(streaming.torch.utils.data, "DataLoader", lambda *a, **k: made.append(k) or real(*a, **k))
    cfg = _data(tiny_dataset.root, "data.loader=stream", "data.workers=2")
    rd_mem = load_run_data(_data(tiny_dataset.root)["data"])
    rd = load_run_data(cfg["data"])
    train_idx = torch.as_tensor(rd.protocol["train"])
    source = batch_source(rd, cfg, torch.device("cpu"))
    for epoch, take in [(0, 2), (1, None), (2, 1), (3, None)]:
        chunks = list(torch.randperm(len(train_idx), generator=torch.Generator().manual_seed(epoch)).split(5))
        it = source(train_idx, chunks, epoch)
        got = [b for _, b in zip(range(take or len(chunks)), it)]
        assert len(got) == (take or len(chunks))
        for b, pos in zip(got, chunks):
            assert torch.equal(b["pos"], pos)
            assert torch.equal(b["image"], rd_mem.tensors.batch(train_idx[pos])["image"])
    assert len(made) == 1 and made[0]["persistent_workers"]


def test_training_streams_to_the_same_weights(tmp_path, tiny_dataset):
    small = ["model.bits=8", "model.cnn_channels=[4, 8, 8, 8]", "model.text_hidden=16", "train.batch_size=8",
             "train.epochs=1", "train.val_every=0"]
    a = train(_data(tiny_dataset.root, *small), tmp_path / "a")
    b = train(_data(tiny_dataset.root, *small, "data.loader=stream", "data.workers=1"), tmp_path / "b")
    wa = torch.load(RunDir(a.path).checkpoint("last"), weights_only=False)["model"]
    wb = torch.load(RunDir(b.path).checkpoint("last"), weights_only=False)["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa if isinstance(wa[k], torch.Tensor))


def test_mapped_rows_keep_the_requested_order(tmp_path):
    arr = np.arange(20, dtype=np.float32).reshape(10, 2)
    np.save(tmp_path / "f.npy", arr)
    rows = MappedRows(np.load(tmp_path / "f.npy", mmap_mode="r"))
    assert rows.shape == (10, 2)
    assert torch.equal(rows[[7, 1, 4]], torch.from_numpy(arr[[7, 1, 4]]))


def test_bad_loader_settings_are_one_line_errors(tiny_dataset):
    with pytest.raises(DataError, match="data.loader"):
        load_run_data(_data(tiny_dataset.root, "data.loader=disk")["data"])
    rd = load_run_data(_data(tiny_dataset.root)["data"])
    with pytest.raises(ConfigError, match="data.workers"):
        batch_source(rd, _data(tiny_dataset.root, "data.workers=-1"), torch.device("cpu"))
