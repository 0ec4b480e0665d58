"""``benchmarks/bench_cmsl_ablation.py``: every run is selected under the held-out rule and says so,
and a results file holding runs of another selection rule exits 2 in one line, untouched (the
errors it shares with the DAFSN script: ``test_ablation_scripts.py``)."""

import json

import pytest

from crossmedia.data import make_synth


@pytest.mark.slow
def test_a_run_is_selected_under_the_heldout_rule_and_resumed(tmp_path, load_benchmark):
    bench = load_benchmark("bench_cmsl_ablation")
    params = make_synth.ensure_synthetic_dataset(tmp_path / "scenes", 120, echo=lambda *_: None)
    out = tmp_path / "res"
    argv = ["--data", str(tmp_path / "scenes"), "--work", str(tmp_path / "w"), "--out", str(out), "--name", "abl",
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


def test_a_file_of_runs_selected_under_another_rule_exits_2(tmp_path, load_benchmark, capsys):
    bench = load_benchmark("bench_cmsl_ablation")
    out = tmp_path / "res"
    out.mkdir()
    old = {"runs": [{"variant": "cmsl", "bits": 32, "seed": 0, "map_all": {}}]}  # 2026-11-23: no val_rule recorded
    (out / "abl.json").write_text(json.dumps(old))
    assert bench.main(["--out", str(out), "--name", "abl", "--work", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err
    assert "holds runs selected under val_rule=train_database" in err and err.count("\n") == 1
    assert json.loads((out / "abl.json").read_text()) == old and not (tmp_path / "w").exists()
