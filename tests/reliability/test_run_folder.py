"""Run folders survive a kill at any moment: the log is carried by the checkpoint (rebuilt on
resume), temporary files of interrupted writes are removed, and a run killed before its first
checkpoint resumes from scratch — each ending bit-identical to an uninterrupted run."""

import json

import pytest
import torch
from reliability_helpers import run_cli

from crossmedia.config import resolve_config
from crossmedia.train import train
from crossmedia.train.rundir import RunDir

SETS = ["model.name=twotower", "model.bits=16", "model.cnn_channels=[4, 8, 8, 8]", "model.text_hidden=16",
        "train.epochs=3", "train.val_every=1", "train.threads=1", "train.batch_size=16"]


@pytest.fixture(scope="module")
def reference(rel_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    train(resolve_config(None, SETS, data__root=str(rel_data)), out)
    return out


def _weights(run, which="last"):
    return torch.load(run / "checkpoints" / f"{which}.pt", map_location="cpu", weights_only=False)["model"]


def _equal(a, b) -> bool:
    """Bit-identical, through nested dicts/lists of tensors."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return a == b


def _same(run, ref):
    for which in ("last", "best"):
        a, b = _weights(run, which), _weights(ref, which)
        assert _equal(a, b)
    strip = lambda r: [{k: v for k, v in x.items() if k != "time_s"} for x in RunDir(r).read_log()]  # noqa: E731
    assert strip(run) == strip(ref)


class _Killed(BaseException):
    pass


def test_kill_between_checkpoint_and_log_loses_no_record(rel_data, reference, tmp_path, monkeypatch):
    run = tmp_path / "run"
    real = RunDir.log_epoch

    def dies_at_epoch_2(self, record):
        if record["epoch"] == 2:
            raise _Killed()  # last.pt of epoch 2 is on disk, its log line is not
        real(self, record)

    monkeypatch.setattr(RunDir, "log_epoch", dies_at_epoch_2)
    with pytest.raises(_Killed):
        train(resolve_config(None, SETS, data__root=str(rel_data)), run)
    monkeypatch.setattr(RunDir, "log_epoch", real)
    assert [r["epoch"] for r in RunDir(run).read_log()] == [1]
    code, _, err = run_cli("train", "--out", run, "--resume")
    assert code == 0, err
    assert [r["epoch"] for r in RunDir(run).read_log()] == [1, 2, 3]  # the old code: 1, 3
    assert (run / "log.csv").read_text().count("\n") == 4
    _same(run, reference)


def test_tmp_leftovers_are_removed_and_a_cut_log_line_is_repaired(rel_data, reference, tmp_path, monkeypatch):
    run = tmp_path / "run"
    real = RunDir.log_epoch

    def dies_at_epoch_3(self, record):
        if record["epoch"] == 3:
            raise _Killed()
        real(self, record)

    monkeypatch.setattr(RunDir, "log_epoch", dies_at_epoch_3)
    with pytest.raises(_Killed):
        train(resolve_config(None, SETS, data__root=str(rel_data)), run)
    monkeypatch.setattr(RunDir, "log_epoch", real)
    (run / "checkpoints" / ".last.pt.x1y2.tmp").write_bytes(b"")  # a torch_save killed half-way
    (run / ".run.json.abc.tmp").write_bytes(b"{")
    with open(run / "log.jsonl", "a") as f:
        f.write('{"epoch": 3, "lo')  # an append cut by the kill
    code, _, err = run_cli("train", "--out", run, "--resume")
    assert code == 0, err
    assert not list(run.rglob("*.tmp"))
    _same(run, reference)


def test_kill_before_the_first_checkpoint_resumes_from_scratch(rel_data, reference, tmp_path, monkeypatch):
    run = tmp_path / "run"
    import crossmedia.train.trainer as trainer

    def dies(*a, **k):
        raise _Killed()

    monkeypatch.setattr(trainer, "_save", dies)
    with pytest.raises(_Killed):
        train(resolve_config(None, SETS, data__root=str(rel_data)), run)
    monkeypatch.undo()
    assert (run / "config.yaml").is_file() and not (run / "checkpoints" / "last.pt").exists()
    # the old code: --resume said "no checkpoint", a fresh start said "exists, use --resume"
    code, _, err = run_cli("train", "--out", run, "--resume")
    assert code == 0, err
    assert json.loads((run / "run.json").read_text())["status"] == "done"
    _same(run, reference)


def test_resume_of_an_empty_folder_points_to_a_fresh_start(rel_data, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / ".config.yaml.q.tmp").write_text("model:")  # killed while writing its config
    code, _, err = run_cli("train", "--out", run, "--resume")
    assert code == 2 and "start it without --resume" in err
    args = ["train", "--out", run, "--data", rel_data] + [x for s in SETS for x in ("--set", s)]
    code, _, err = run_cli(*args[:-2], "--set", "train.epochs=1")
    assert code == 0, err
