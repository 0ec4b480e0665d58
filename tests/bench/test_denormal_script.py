"""``benchmarks/bench_denormal.py``: a run's training step timed with subnormal flushing off and
on, the losses compared, the process left without flushing; a missing run exits 2."""

import json

import pytest
import torch


def test_denormal_bench_times_both_modes_on_a_run(load_benchmark, tmp_path, tiny_dataset):
    from crossmedia.config import resolve_config
    from crossmedia.train import train

    bench = load_benchmark("bench_denormal")
    cfg = resolve_config(None, ["model.name=twotower", "train.epochs=1", "train.val_every=0", "train.batch_size=8"],
                         data__root=str(tiny_dataset.root))
    run = train(cfg, tmp_path / "run")
    out = tmp_path / "denormal"
    assert bench.main(["--run", str(run.path), "--batch", "8", "--steps", "1", "--repeats", "2", "--out", str(out)]) == 0
    rep = json.loads(out.with_suffix(".json").read_text())["results"][0]
    assert rep["model"] == "twotower" and len(rep["s_per_step_each"]["on"]) == 2
    assert rep["ratio_off_over_on"] == pytest.approx(rep["s_per_step_off"] / rep["s_per_step_on"])
    assert rep["max_loss_difference"] < 1e-4
    assert float((torch.tensor([1e-39]) * 1.0)[0]) > 0  # flushing is off again afterwards
    assert bench.main(["--run", str(tmp_path / "missing"), "--out", str(tmp_path / "y")]) == 2
