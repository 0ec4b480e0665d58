"""``benchmarks/bench_dafsn_ablation.py``: a given dataset is recorded with its generator and size;
a folder that is not a dataset, an unknown variant or a bad seed list exits 2 in one line, leaving
nothing behind."""

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


def test_a_folder_that_is_not_a_dataset_exits_2(tmp_path, bench, capsys):
    out = tmp_path / "res"
    assert bench.main(["--data", str(tmp_path), "--out", str(out), "--work", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bench_dafsn_ablation: --data:") and err.count("\n") == 1 and not out.exists()


@pytest.mark.parametrize("extra, msg", [(["--variants", "label_nodisc,nope"], "--variants: unknown variant 'nope'"),
                                        (["--seeds", "0,x"], "--seeds: expected comma-separated integers")])
def test_bad_variants_or_seeds_exit_2(tmp_path, bench, capsys, extra, msg):
    out = tmp_path / "res"
    assert bench.main(["--out", str(out), "--work", str(tmp_path / "w"), *extra]) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1 and not out.exists() and not (tmp_path / "w").exists()
