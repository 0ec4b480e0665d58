"""``benchmarks/bench_cmsl_ablation.py``: every run is selected under the held-out rule and says so;
a results file holding runs of another selection rule, bad bits or seeds, an unknown variant or a
folder that is not a dataset exit 2 in one line, leaving nothing behind."""

import json

import pytest

from crossmedia.data import make_synth


@pytest.fixture
def bench(load_benchmark):
    return load_benchmark("bench_cmsl_ablation")


@pytest.mark.slow
def test_a_run_is_selected_under_the_heldout_rule_and_resumed(tmp_path, bench):
    data = tmp_path / "scenes"
    params = make_synth.ensure_synthetic_dataset(data, 120, echo=lambda *_: None)
    out = tmp_path / "res"
    argv = ["--data", str(data), "--work", str(tmp_path / "w"), "--out", str(out), "--name", "abl",
            "--epochs", "1", "--seeds", "0", "--bits", "16", "--variants", "cdq"]
    assert bench.main(argv) == 0
    rep = json.loads((out / "abl.json").read_text())
    assert rep["dataset"]["generator"] == params
    assert [(r["variant"], r["bits"], r["seed"], r["val_rule"]) for r in rep["runs"]] == [("cdq", 16, 0, "heldout")]
    assert rep["training"]["model_selection"].startswith("best val mAP@all, mean of both directions; val_rule=heldout")
    md = (out / "abl.md").read_text()
    assert "**Model selection.** best val mAP@all" in md and "| cdq | 16 |" in md
    assert len(rep["commands"]) == 1 and rep["commands"][0].endswith("--variants cdq")
    # a second invocation finds the run done and trains nothing
    (tmp_path / "w" / "runs").rename(tmp_path / "w" / "moved")
    assert bench.main(argv) == 0
    assert not (tmp_path / "w" / "runs").exists()
    again = json.loads((out / "abl.json").read_text())
    assert again["runs"] == rep["runs"] and again["commands"] == rep["commands"]
    # another invocation filling the same file (other bits) is recorded beside the first
    assert bench.main([*argv[:-4], "--bits", "8", "--variants", "cdq"]) == 0
    both = json.loads((out / "abl.json").read_text())
    assert [(r["variant"], r["bits"]) for r in both["runs"]] == [("cdq", 8), ("cdq", 16)]
    assert len(both["commands"]) == 2 and both["commands"][0] == rep["commands"][0]


def test_a_file_of_runs_selected_under_another_rule_exits_2(tmp_path, bench, capsys):
    out = tmp_path / "res"
    out.mkdir()
    old = {"runs": [{"variant": "cmsl", "bits": 32, "seed": 0, "map_all": {}}]}  # 2026-11-23: no val_rule recorded
    (out / "abl.json").write_text(json.dumps(old))
    assert bench.main(["--out", str(out), "--name", "abl", "--work", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err
    assert "holds runs selected under val_rule=train_database" in err and err.count("\n") == 1
    assert json.loads((out / "abl.json").read_text()) == old and not (tmp_path / "w").exists()


def test_a_folder_that_is_not_a_dataset_exits_2(tmp_path, bench, capsys):
    out = tmp_path / "res"
    assert bench.main(["--data", str(tmp_path), "--out", str(out), "--work", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bench_cmsl_ablation: --data:") and err.count("\n") == 1 and not out.exists()


@pytest.mark.parametrize("extra, msg", [(["--variants", "cmsl,nope"], "--variants: unknown variant 'nope'"),
                                        (["--seeds", "0,x"], "--seeds: expected comma-separated integers"),
                                        (["--bits", "32,"], "--bits: expected comma-separated integers")])
def test_bad_variants_seeds_or_bits_exit_2(tmp_path, bench, capsys, extra, msg):
    out = tmp_path / "res"
    assert bench.main(["--out", str(out), "--work", str(tmp_path / "w"), *extra]) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1 and not out.exists() and not (tmp_path / "w").exists()
