import json

import pytest
import torch

from crossmedia.config import resolve_config
from crossmedia.models.twotower import TwoTowerHashing
from crossmedia.models import load_checkpoint
from crossmedia.train import RunDir, train

SMALL = ["model.bits=8", "model.cnn_channels=[4, 8, 8, 8]", "model.text_hidden=16", "train.batch_size=8"]


def cfg_for(root, *extra):
    return resolve_config(None, [*SMALL, *extra], data__root=str(root))


def weights(run, which="last"):
    return torch.load(RunDir(run).checkpoint(which), weights_only=False)["model"]


def same_weights(a, b):
    return all(torch.equal(a[k], b[k]) for k in a if isinstance(a[k], torch.Tensor))


def test_run_directory_contents(tmp_path, tiny_dataset):
    run = train(cfg_for(tiny_dataset.root, "train.epochs=2", "train.val_every=0"), tmp_path / "r")
    names = {p.name for p in run.path.iterdir()}
    assert {"config.yaml", "run.json", "vocab.json", "log.jsonl", "log.csv", "train.log", "checkpoints"} <= names
    csv = (run.path / "log.csv").read_text().splitlines()
    assert csv[0].startswith("epoch,") and "loss" in csv[0] and len(csv) == 3
    assert {p.name for p in run.checkpoints.iterdir()} == {"last.pt", "best.pt"}
    info = run.info()
    assert info["status"] == "done" and info["epochs"] == 2 and info["protocol"]["name"] == "default"
    log = run.read_log()
    assert [r["epoch"] for r in log] == [1, 2] and all("loss" in r and "time_s" in r for r in log)
    assert json.loads((run.path / "vocab.json").read_text())[:2] == ["<pad>", "<unk>"]
    # the saved config reproduces the run
    assert resolve_config(run.load_config()) == run.load_config()
    ck = load_checkpoint(run.path)
    assert not ck.model.training and ck.meta["epoch"] == 2 and ck.config == run.load_config()
    # best.pt holds the weights only; last.pt also what --resume needs (optimizer, scheduler, every RNG)
    best = torch.load(run.checkpoint("best"), weights_only=False)
    last = torch.load(run.checkpoint("last"), weights_only=False)
    assert best["format_version"] == last["format_version"] == 2
    assert "training" not in best and "optimizer" not in best
    assert set(last["training"]) == {"optimizer", "scheduler", "rng"}
    assert {"python", "numpy", "torch"} <= set(last["training"]["rng"])


def test_same_seed_same_weights_other_seed_differs(tmp_path, tiny_dataset):
    a = train(cfg_for(tiny_dataset.root, "train.epochs=1", "train.val_every=0"), tmp_path / "a")
    b = train(cfg_for(tiny_dataset.root, "train.epochs=1", "train.val_every=0"), tmp_path / "b")
    c = train(cfg_for(tiny_dataset.root, "train.epochs=1", "train.val_every=0", "train.seed=1"), tmp_path / "c")
    assert same_weights(weights(a.path), weights(b.path))
    assert not same_weights(weights(a.path), weights(c.path))


def test_interrupt_and_resume_matches_uninterrupted(tmp_path, tiny_dataset, monkeypatch):
    cfg = cfg_for(tiny_dataset.root, "train.epochs=3", "train.val_every=0")
    full = train(cfg, tmp_path / "full")

    real = TwoTowerHashing.on_epoch_start

    def interrupt_at_epoch_2(self, epoch, ctx):
        if epoch == 2:
            raise KeyboardInterrupt
        return real(self, epoch, ctx)

    monkeypatch.setattr(TwoTowerHashing, "on_epoch_start", interrupt_at_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "cut")
    assert torch.load(RunDir(tmp_path / "cut").checkpoint("last"), weights_only=False)["meta"]["epoch"] == 2
    monkeypatch.setattr(TwoTowerHashing, "on_epoch_start", real)
    resumed = train(None, tmp_path / "cut", resume=True)
    assert [r["epoch"] for r in resumed.read_log()] == [1, 2, 3]
    assert same_weights(weights(full.path), weights(resumed.path))


def test_existing_run_dir_protected(tmp_path, tiny_dataset):
    from crossmedia.errors import UserError

    cfg = cfg_for(tiny_dataset.root, "train.epochs=1", "train.val_every=0")
    train(cfg, tmp_path / "r")
    with pytest.raises(UserError, match="--resume"):
        train(cfg, tmp_path / "r")
    train(cfg, tmp_path / "r", overwrite=True)


def test_max_steps_caps_each_epoch(tmp_path, tiny_dataset):
    full = train(cfg_for(tiny_dataset.root, "train.epochs=1", "train.val_every=0"), tmp_path / "full")
    capped = train(cfg_for(tiny_dataset.root, "train.epochs=2", "train.val_every=0", "train.max_steps=2"),
                   tmp_path / "capped")
    assert [r["samples"] for r in capped.read_log()] == [16, 16]
    assert full.read_log()[0]["samples"] == 20  # the tiny dataset's training split
    with pytest.raises(Exception, match="train.max_steps"):
        cfg_for(tiny_dataset.root, "train.max_steps=0")


def test_training_flushes_subnormal_floats_and_gives_the_default_back(tmp_path, tiny_dataset, monkeypatch):
    # subnormal arithmetic is many times slower on a CPU (benchmarks/bench_denormal.py): flushed while training
    supported = torch.set_flush_denormal(True)
    torch.set_flush_denormal(False)
    if not supported:
        pytest.skip("this CPU cannot flush subnormal floats")
    seen = []

    def step(self, batch, epoch, progress):
        seen.append(float((torch.tensor([1e-39]) * 1.0)[0]))  # a subnormal product, inside training
        return real(self, batch, epoch, progress)

    real = TwoTowerHashing.training_step
    monkeypatch.setattr(TwoTowerHashing, "training_step", step)
    run = train(cfg_for(tiny_dataset.root, "train.epochs=1", "train.val_every=0"), tmp_path / "r")
    assert seen and set(seen) == {0.0}
    assert float((torch.tensor([1e-39]) * 1.0)[0]) > 0  # the process default again afterwards
    machine = json.loads((run.path / "run.json").read_text())["machine"]
    assert machine["flush_denormal"] is True
    # what a bit-for-bit reproduction needs besides the config: the kernels' instruction set
    assert machine["cpu_capability"] == str(torch.backends.cpu.get_cpu_capability()) and "cpu_id" in machine
