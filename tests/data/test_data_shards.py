import json
import tarfile

import numpy as np
import pytest
import torch

from crossmedia.cli.main import main as cli_main
from crossmedia.config import resolve_config
from crossmedia.data import Dataset
from crossmedia.data.loading import load_run_data
from crossmedia.data.shards import (MANIFEST, ShardStream, assign_shards, iter_shard, read_manifest, train_positions,
                                    write_shards)
from crossmedia.data.streaming import batch_source, row_split
from crossmedia.errors import ConfigError, DataError
from crossmedia.train import RunDir, train


def _cfg(root, shards, *extra):
    return resolve_config(None, ["data.loader=shards", f"data.shards={shards}", *extra], data__root=str(root))


@pytest.fixture
def sharded(tiny_dataset, tmp_path):
    out = tmp_path / "shards"
    m = write_shards(Dataset.load(tiny_dataset.root), out, shard_size=7)
    return tiny_dataset, out, m


def test_shards_hold_every_image_file_once_with_counts_and_checksums(sharded):
    ds, out, m = sharded
    assert m["complete"] and [e["count"] for e in m["shards"]] == [7] * 5 + [5]
    rows = []
    for e in read_manifest(out, Dataset.load(ds.root))["shards"]:
        for row, ext, payload in iter_shard(out / e["name"], e):
            assert ext == "png" and payload == (ds.root / ds.items[row]["image"]).read_bytes()
            rows.append(row)
    assert rows == list(range(len(ds)))
    with tarfile.open(out / "shard-00000.tar") as tar:  # a plain WebDataset-style tar
        assert tar.getnames()[:2] == ["000000000.png", "000000000.json"]


def test_interrupted_shard_writing_resumes_to_the_same_bytes(sharded):
    ds, out, m = sharded
    # as after an interruption during shard 4: two shards missing, a temporary left behind
    part = {**m, "complete": False, "shards": m["shards"][:4]}
    (out / MANIFEST).write_text(json.dumps(part))
    for e in m["shards"][4:]:
        (out / e["name"]).unlink()
    (out / ".shard-00004.tar.x.tmp").write_bytes(b"half")
    with pytest.raises(DataError, match="interrupted"):
        read_manifest(out, Dataset.load(ds.root))
    again = write_shards(Dataset.load(ds.root), out, shard_size=7)
    assert again["shards"] == m["shards"] and not list(out.glob(".*.tmp"))
    with pytest.raises(DataError, match="not empty"):  # other settings: refused without --overwrite
        write_shards(Dataset.load(ds.root), out, shard_size=5)


def test_assignment_partitions_the_shards_over_ranks_and_workers():
    got = []
    for rank in range(2):
        for worker in range(3):
            got += assign_shards(17, seed=4, epoch=2, rank=rank, world=2, worker=worker, workers=3)
    assert sorted(got) == list(range(17))
    assert assign_shards(17, 4, 2, 0, 1, 0, 1) != assign_shards(17, 4, 3, 0, 1, 0, 1)  # reshuffled per epoch


def _positions(stream):
    return [int(p) for p, _ in stream]


def test_one_process_stream_yields_every_training_item_once_seeded(sharded):
    ds, out, m = sharded
    rd = load_run_data(_cfg(ds.root, out)["data"])
    train_idx = torch.as_tensor(rd.protocol["train"])
    pos = train_positions(len(ds), train_idx)

    def stream(epoch, seed=0):
        return ShardStream(out, m, pos, size=None, seed=seed, epoch=epoch, rank=0, world=1, buffer=5, cycle=False)

    a = _positions(stream(0))
    assert sorted(a) == list(range(len(train_idx)))
    assert a == _positions(stream(0)) and a != _positions(stream(1)) and a != _positions(stream(0, seed=1))
    p, img = next(iter(stream(0)))
    row = int(train_idx[p])  # the sample's position indexes the training split
    assert torch.equal(torch.as_tensor(img), rd.tensors.images[torch.tensor([row])][0])


@pytest.mark.parametrize("workers", [0, 2])
def test_shard_batches_keep_the_epochs_batch_sizes_and_cover_the_split(sharded, workers):
    ds, out, _ = sharded
    cfg = _cfg(ds.root, out, f"data.workers={workers}", "data.shuffle_buffer=4")
    rd = load_run_data(cfg["data"])
    train_idx = torch.as_tensor(rd.protocol["train"])
    chunks = list(torch.arange(len(train_idx)).split(8))
    batches = list(batch_source(rd, cfg, "cpu")(train_idx, chunks, 0))
    assert [len(b["pos"]) for b in batches] == [len(c) for c in chunks]
    assert sorted(torch.cat([b["pos"] for b in batches]).tolist()) == list(range(len(train_idx)))
    b = batches[0]
    ref = rd.tensors.batch(train_idx[b["pos"]])
    for k in ref:  # the same item data as the dataset folder gives
        assert torch.equal(ref[k], b[k]), k
    again = list(batch_source(rd, cfg, "cpu")(train_idx, chunks, 0))
    assert all(torch.equal(x["pos"], y["pos"]) for x, y in zip(batches, again))


def test_rank_shares_are_row_split_sizes(sharded):
    ds, out, _ = sharded
    cfg = _cfg(ds.root, out)
    rd = load_run_data(cfg["data"])
    train_idx = torch.as_tensor(rd.protocol["train"])
    chunks = list(torch.arange(len(train_idx)).split(9))
    seen = []

    def gather(b, sizes):
        seen.append(sizes)
        return b

    for rank in range(2):
        got = list(batch_source(rd, cfg, "cpu", rank=rank, world=2, gather=gather)(train_idx, chunks, 0))
        assert [len(b["pos"]) for b in got] == [row_split(len(c), 2)[rank][1] - row_split(len(c), 2)[rank][0]
                                                for c in chunks]


def test_shard_training_runs_and_bad_shards_are_one_line_errors(sharded, tmp_path, capsys):
    ds, out, m = sharded
    args = ["train", "--model", "twotower", "--data", str(ds.root), "--set", "train.epochs=1",
            "--set", "data.loader=shards", "--set", f"data.shards={out}", "--set", "model.cnn_channels=[4,8,8,8]",
            "--set", "model.text_hidden=16", "--set", "train.batch_size=8"]
    torch.set_num_threads(1)
    assert cli_main([*args, "--out", str(tmp_path / "ok")]) == 0
    assert [r["epoch"] for r in RunDir(tmp_path / "ok").read_log()] == [1]
    capsys.readouterr()
    # a corrupt shard (same size, one byte of the tar's end padding changed: every member still
    # reads): found by its SHA-256 while training
    p = out / m["shards"][2]["name"]
    data = bytearray(p.read_bytes())
    data[-1] ^= 0xFF
    p.write_bytes(bytes(data))
    assert cli_main([*args, "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "shard-00002.tar: SHA-256" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "bad").exists()  # nothing left behind
    p.unlink()  # a missing shard: refused before training
    assert cli_main([*args, "--out", str(tmp_path / "gone")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "missing" in err and len(err.splitlines()) == 1
    assert cli_main(["data", "shard", str(ds.root), "--out", str(tmp_path / "s2"), "--shard-size", "0"]) == 2


def test_bounds_are_checked_before_reading(sharded, tmp_path):
    ds, out, m = sharded
    with pytest.raises(ConfigError, match="shuffle_buffer"):
        cfg = _cfg(ds.root, out, "data.shuffle_buffer=0")
        batch_source(load_run_data(cfg["data"]), cfg, "cpu")
    with pytest.raises(ConfigError, match="shard-size"):
        write_shards(Dataset.load(ds.root), tmp_path / "x", shard_size=0)
    bad = json.loads((out / MANIFEST).read_text())
    bad["shards"][1]["count"] = 10 ** 9
    (out / MANIFEST).write_text(json.dumps(bad))
    with pytest.raises(DataError, match="malformed"):
        read_manifest(out)
    # a member larger than the manifest's bound is refused before it is read
    e = m["shards"][0]
    with pytest.raises(DataError, match="at most 100 bytes"):
        list(iter_shard(out / e["name"], e, max_member=100))
    assert np.all(train_positions(5, [3, 1]) == [-1, 1, -1, 0, -1])


def test_feature_shards_give_the_memory_mapped_rows(tmp_path):
    from crossmedia.data import Protocol

    n = 30
    rng = np.random.default_rng(0)
    root = tmp_path / "feat"
    (root / "features").mkdir(parents=True)
    np.save(root / "features" / "global.npy", rng.standard_normal((n, 6)).astype(np.float32))
    items = [{"id": f"i{i}", "feature_row": i, "tags": ["red"] if i % 2 else ["blue"], "labels": [i % 2]}
             for i in range(n)]
    ds = Dataset(name="feat", items=items, label_names=["blue", "red"],
                 meta={"features": {"global": "features/global.npy"}, "default_protocol": "default"})
    ds.save(root)
    ds.save_protocol(Protocol.random(n, seed=0, name="default", dataset="feat", labels=ds.labels,
                                     n_query=4, n_train=20, n_val=2))
    out = tmp_path / "fshards"
    assert cli_main(["data", "shard", str(root), "--out", str(out), "--shard-size", "8",
                     "--image-source", "features"]) == 0
    cfg = _cfg(root, out, "data.image_source=features")
    rd = load_run_data(cfg["data"])
    train_idx = torch.as_tensor(rd.protocol["train"])
    batches = list(batch_source(rd, cfg, "cpu")(train_idx, list(torch.arange(20).split(6)), 0))
    assert sorted(torch.cat([b["pos"] for b in batches]).tolist()) == list(range(20))
    for b in batches:
        assert torch.equal(b["image"], rd.tensors.batch(train_idx[b["pos"]])["image"])
    with pytest.raises(ConfigError, match="image_source"):  # pixel shards wanted, feature shards given
        batch_source(load_run_data(_cfg(root, out, "data.image_source=features")["data"]),
                     _cfg(root, out, "data.image_source=pixels"), "cpu")
