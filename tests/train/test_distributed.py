import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from crossmedia.train import RunDir, train
from crossmedia.train.distributed import row_split
from crossmedia.train.launch import strip_nproc, torchrun_command

sys.path.insert(0, str(Path(__file__).parent))
from ddp_runs import MODELS, config  # noqa: E402


def test_row_split_covers_the_batch_in_order():
    assert row_split(7, 2) == [(0, 4), (4, 7)]
    assert row_split(8, 3) == [(0, 3), (3, 6), (6, 8)]
    spans = row_split(5, 5)
    assert [e - s for s, e in spans] == [1] * 5


def test_nproc_shortcut_becomes_torchrun():
    args = ["train", "--nproc", "2", "--model", "twotower", "--nproc=3", "--out", "r"]
    assert strip_nproc(args) == ["train", "--model", "twotower", "--out", "r"]
    cmd = torchrun_command(2, args)
    assert cmd[1:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    assert cmd[5:8] == ["-m", "crossmedia", "train"]


def _final_val(run) -> float:
    return [r for r in RunDir(run).read_log() if "val_score" in r][-1]["val_score"]


@pytest.mark.slow
def test_two_gloo_processes_match_one_and_resume_on_one(tmp_path, tiny_dataset):
    """2 CPU processes (gloo) with the same global batch and seed reach the validation mAP of 1
    process (to 1e-4) for twotower, CMSL and DAFSN; a 2-process run resumes on 1 process."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1",
           "CROSSMEDIA_NO_PROGRESS": "1"}
    models = ",".join(MODELS)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
           str(Path(__file__).parent / "ddp_runs.py"), str(tiny_dataset.root), str(tmp_path / "ddp"), models]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]
    torch.set_num_threads(1)
    for m in MODELS:
        one = train(config(tiny_dataset.root, m), tmp_path / "one" / m)
        two = tmp_path / "ddp" / m
        assert abs(_final_val(one.path) - _final_val(two)) <= 1e-4, m
        info = json.loads((two / "run.json").read_text())
        assert info["status"] == "done" and info["epochs"] == 2
    # the interrupted 2-process run stopped after epoch 2; continue it on 1 process
    cut = tmp_path / "ddp" / "cut"
    assert [r["epoch"] for r in RunDir(cut).read_log()] == [1, 2]
    resumed = train(None, cut, resume=True)
    full = train(config(tiny_dataset.root, "twotower", "train.epochs=3"), tmp_path / "one" / "full")
    assert [r["epoch"] for r in resumed.read_log()] == [1, 2, 3]
    assert abs(_final_val(resumed.path) - _final_val(full.path)) <= 1e-4
