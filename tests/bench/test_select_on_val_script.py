"""``benchmarks/select_on_val.py``: candidates trained through the quality bench, chosen by the
mean best validation score, test scores never written; bad candidate specs refused in one line."""

import json

import pytest


@pytest.fixture
def bench(load_benchmark):
    return load_benchmark("select_on_val")


def test_candidates_ranked_on_val_only(tmp_path, bench, prepared_wikipedia):
    data = prepared_wikipedia(n_train=60, n_test=20, n_cat=3, dim_i=12, dim_t=10, n_val=15)
    out = tmp_path / "res" / "sel"
    argv = ["--data", str(data), "--model", "twotower", "--bits", "16", "--seeds", "0,1", "--work", str(tmp_path / "w"),
            "--set", "train.epochs=2", "--set", "train.val_every=1", "--set", "model.text_hidden=16",
            "--candidate", "base:", "--candidate", "lr:train.lr=1e-2;model.text_hidden=32", "--out", str(out)]
    assert bench.main(argv) == 0
    rep = json.loads(out.with_suffix(".json").read_text())
    by = {c["name"]: c for c in rep["candidates"]}
    assert by["lr"]["overrides"] == ["train.lr=1e-2", "model.text_hidden=32"]
    for c in rep["candidates"]:
        cells = [json.loads((tmp_path / "w" / c["name"] / "cells" / f"twotower-16b-seed{s}.json").read_text())
                 for s in (0, 1)]
        assert [r["best_val"] for r in c["runs"]] == [cell["best_val_score"] for cell in cells]
        assert c["val_mean"] == pytest.approx(sum(cell["best_val_score"] for cell in cells) / 2)
    # the candidate's own override reached its runs (and only its runs)
    import yaml

    run_cfg = lambda name: yaml.safe_load((tmp_path / "w" / name / "runs" / "twotower-16b-seed0" / "config.yaml").read_text())  # noqa: E731
    assert run_cfg("lr")["model"]["text_hidden"] == 32 and run_cfg("base")["model"]["text_hidden"] == 16
    assert run_cfg("lr")["train"]["lr"] == 1e-2 and run_cfg("base")["train"]["lr"] != 1e-2
    chosen = max(rep["candidates"], key=lambda c: c["val_mean"])["name"]
    assert rep["choice"]["chosen"] == chosen and rep["choice"]["runner_up"] != chosen
    md = out.with_suffix(".md").read_text()
    assert f"**{chosen}** (chosen)" in md
    text = md + out.with_suffix(".json").read_text()
    tests = [v for cell in (tmp_path / "w").glob("*/cells/*.json")
             for v in json.loads(cell.read_text())["codes"]["native"]["map_all"].values()]
    assert len(tests) == 8
    vals = {r["best_val"] for c in rep["candidates"] for r in c["runs"]}
    assert not any(repr(v) in text for v in tests if v not in vals)  # no test score is carried over
    assert '"image->text"' not in text and "codes" not in json.loads(out.with_suffix(".json").read_text())
    # finished cells are reused: a second call trains nothing
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "w").glob("*/cells/*.json")}
    assert bench.main(argv) == 0
    assert before == {p: p.stat().st_mtime_ns for p in (tmp_path / "w").glob("*/cells/*.json")}


@pytest.mark.parametrize("spec, msg", [("noname", "expected NAME:"), ("a b:x=1", "expected NAME:"),
                                       ("c:lr", "is not KEY=VALUE")])
def test_bad_candidates_exit_2(tmp_path, bench, capsys, spec, msg):
    argv = ["--data", str(tmp_path), "--model", "twotower", "--work", str(tmp_path / "w"), "--candidate", spec,
            "--out", str(tmp_path / "o")]
    assert bench.main(argv) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1
    assert not (tmp_path / "w").exists() and not (tmp_path / "o.md").exists()


def test_duplicate_names_and_missing_data(tmp_path, bench, capsys):
    base = ["--model", "twotower", "--work", str(tmp_path / "w"), "--out", str(tmp_path / "o")]
    assert bench.main(["--data", str(tmp_path), *base, "--candidate", "a:", "--candidate", "a:x=1"]) == 2
    assert "given twice" in capsys.readouterr().err
    assert bench.main(["--data", str(tmp_path), *base, "--candidate", "a:"]) == 2
    assert "not a prepared dataset" in capsys.readouterr().err


def test_refusals_of_the_bench_are_one_line(tmp_path, bench, capsys, prepared_wikipedia):
    data = prepared_wikipedia(n_train=60, n_test=20, n_cat=3, dim_i=12, dim_t=10, n_val=15)
    argv = ["--data", str(data), "--model", "nosuchmodel", "--work", str(tmp_path / "w"), "--candidate", "a:",
            "--out", str(tmp_path / "o")]
    assert bench.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: candidate a: --models: unknown model") and err.count("\n") == 1
    assert not (tmp_path / "o.md").exists() and not list((tmp_path / "w").glob("*/cells/*"))


def test_one_seed_has_no_spread(bench):
    runs = lambda *v: [{"best_val": x} for x in v]  # noqa: E731
    cands = [{"name": "a", "runs": runs(0.30)}, {"name": "b", "runs": runs(0.32)}]
    ch = bench.summarise(cands)
    assert ch["chosen"] == "b" and ch["margin"] == pytest.approx(0.02)
    assert ch["pooled_std"] is None and ch["margin_exceeds_pooled_std"] is None and cands[0]["val_std"] is None
    cands = [{"name": "a", "runs": runs(0.30, 0.36)}, {"name": "b", "runs": runs(0.32, 0.33)}]
    ch = bench.summarise(cands)
    assert ch["chosen"] == "a" and ch["margin_exceeds_pooled_std"] is False  # +0.005 against a pooled std of 0.03


def test_a_seed_without_a_finished_run_is_a_one_line_error(bench):
    """A cell missing from the bench's report (its run held by another process) names the seed."""
    report = {"cells": [{"seed": 0, "best_val_score": 0.3, "best_epoch": 2, "epochs": 3, "train_time_s": 1.0}]}
    assert [r["seed"] for r in bench.val_records(report, [0])] == [0]
    from crossmedia.errors import UserError

    with pytest.raises(UserError, match=r"seed\(s\) 1, 2"):
        bench.val_records(report, [0, 1, 2])
