"""``benchmarks/bench_dafsn_ablation.py``: a given dataset is recorded with its generator and size
(the errors it shares with the CMSL script: ``test_ablation_scripts.py``)."""

import json

import pytest

from crossmedia.data import make_synth


@pytest.fixture
def bench(load_benchmark):
    return load_benchmark("bench_dafsn_ablation")


@pytest.mark.slow
def test_a_given_dataset_is_recorded_with_its_generator_and_size(tmp_path, bench):
    data = tmp_path / "scenes"
    params = make_synth.ensure_synthetic_dataset(data, 60, echo=lambda *_: None)
    out = tmp_path / "res"
    assert bench.main(["--data", str(data), "--work", str(tmp_path / "w"), "--out", str(out), "--name", "abl",
                       "--epochs", "1", "--seeds", "0", "--variants", "label_nodisc"]) == 0
    rep = json.loads((out / "abl.json").read_text())
    assert rep["dataset"]["generator"] == params and rep["dataset"]["n_items"] == 60
    assert [(r["variant"], r["seed"]) for r in rep["runs"]] == [("label_nodisc", 0)]
    assert (out / "abl.md").read_text().startswith("DAFSN ablation — synthetic scenes, captions, 60 items")
