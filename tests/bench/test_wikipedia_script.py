"""``benchmarks/wikipedia.py``: per-bits runs recorded with their selection rule, kept on a rerun
only while their recorded settings stand for the ones asked for (the quality bench's rule)."""

import dataclasses
import json

import pytest


@pytest.fixture
def bench(load_benchmark):
    return load_benchmark("wikipedia")


@pytest.fixture
def wiki(prepared_wikipedia, bench, monkeypatch):
    root = prepared_wikipedia(n_train=60, n_test=20, n_cat=3, dim_i=12, dim_t=10, n_val=15)
    # the bench prepares the full release; here the tiny prepared copy stands in for it
    monkeypatch.setattr(bench, "prepare", lambda src, work: root)
    small = ["model.image_hidden=16", "model.text_hidden=16", "train.val_every=1", "train.batch_size=16"]
    monkeypatch.setattr(bench, "MODELS", [dataclasses.replace(m, overrides=m.overrides + small) for m in bench.MODELS
                                          if m.name == "cdq"])
    return root


def test_runs_record_the_rule_and_are_reused_only_with_the_same_settings(tmp_path, bench, wiki, monkeypatch):
    out = tmp_path / "res"
    argv = ["--src", str(tmp_path), "--work", str(tmp_path / "w"), "--out", str(out), "--models", "cdq",
            "--bits", "16", "--seeds", "0", "--epochs", "2"]
    assert bench.main(argv) == 0
    rep = json.loads((out / "wikipedia.json").read_text())
    (run,) = rep["runs"]
    assert run["val_selection"].startswith("best map_all") and "val_rule=heldout" in run["val_selection"]
    md = (out / "wikipedia.md").read_text()
    assert "**Model selection.**" in md and "val_rule=heldout" in md and "| cdq | 16 |" in md

    trained = []
    real = bench.run_one
    monkeypatch.setattr(bench, "run_one", lambda *a, **k: trained.append(a[:3]) or real(*a, **k))
    assert bench.main(argv) == 0  # same settings: nothing is trained again
    assert trained == [] and json.loads((out / "wikipedia.json").read_text())["runs"] == rep["runs"]

    # a run recorded before an option existed stands for today's run at the option's old behaviour
    older = json.loads((out / "wikipedia.json").read_text())
    del older["configs"]["cdq-16b-seed0"]["model"]["quant"]["constant_weight"]
    (out / "wikipedia.json").write_text(json.dumps(older))
    assert bench.main(argv + ["--threads", "2"]) == 0  # threads do not change results either
    assert trained == []

    assert bench.main(argv[:-1] + ["3"]) == 0  # other settings (epochs): the run is trained again
    assert [(m.name, b, s) for m, b, s in trained] == [("cdq", 16, 0)]
    rep2 = json.loads((out / "wikipedia.json").read_text())
    assert len(rep2["runs"]) == 1 and rep2["runs"][0]["epochs"] == 3
    assert rep2["configs"]["cdq-16b-seed0"]["train"]["epochs"] == 3


def test_the_published_table_stands_for_the_benchs_settings_today(bench):
    """Every run of the committed per-bits table (benchmarks/results/wikipedia.json) was made with
    the settings the bench asks for now: a default changed since (CMSL's label-space term, say)
    must be pinned in the bench or the table rerun, never left to disagree with it silently."""
    from pathlib import Path

    from crossmedia.bench.quality import same_settings

    rep = json.loads((Path(bench.__file__).parent / "results" / "wikipedia.json").read_text())
    models = {m.name: m for m in bench.MODELS}
    assert {r["model"] for r in rep["runs"]} == set(models)
    for r in rep["runs"]:
        now = bench.run_config(models[r["model"]], r["bits"], r["seed"], Path("/nonexistent"), None, None)
        assert same_settings(rep["configs"][bench.run_key(r["model"], r["bits"], r["seed"])], now), r
    cmsl = bench.run_config(models["cmsl"], 32, 0, Path("/nonexistent"), None, None)
    assert cmsl["model"]["loss"]["label_weight"] == 0.0  # the val pairs' tie: the paper's loss
