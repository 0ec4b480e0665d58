"""``benchmarks/bench_scan.py``: a CMSL run's training step and SCAN alone timed with padded and
packed pair tensors, their numbers compared; a run without the SCAN branch or a missing run exits 2."""

import json

import pytest


def test_scan_bench_times_both_layouts_on_a_run(load_benchmark, tmp_path, tiny_dataset):
    from crossmedia.config import resolve_config
    from crossmedia.train import train

    bench = load_benchmark("bench_scan")
    cfg = resolve_config(None, ["model.name=cmsl", "model.bits=16", "model.local.form=scan", "train.epochs=1",
                                "train.val_every=0", "train.batch_size=8"], data__root=str(tiny_dataset.root))
    run = train(cfg, tmp_path / "run")
    out = tmp_path / "scan"
    assert bench.main(["--run", str(run.path), "--batches", "2", "--steps", "1", "--repeats", "1",
                       "--out", str(out)]) == 0
    full = json.loads(out.with_suffix(".json").read_text())
    assert full["command"].startswith("python benchmarks/bench_scan.py --run ") and "machine" in full
    assert "git_commit" in full and full["args"]["batches"] == 2
    rep = full["result"]
    assert len(rep["batches"]) == 2
    for b in rep["batches"]:
        assert b["step_ratio"] == pytest.approx(b["step_s"]["padded"] / b["step_s"]["packed"])
        assert b["loss_difference"] < 1e-4 and b["scan_score_difference"] < 1e-5
        assert 1 <= b["words_per_text"] <= b["T"]
    assert "padded / packed" in out.with_suffix(".md").read_text()
    assert bench.main(["--run", str(tmp_path / "missing"), "--out", str(tmp_path / "y")]) == 2
    cfg = resolve_config(None, ["model.name=twotower", "train.epochs=1", "train.val_every=0", "train.batch_size=8"],
                         data__root=str(tiny_dataset.root))
    other = train(cfg, tmp_path / "tt")
    assert bench.main(["--run", str(other.path), "--out", str(tmp_path / "z")]) == 2
    assert not (tmp_path / "z.json").exists()
