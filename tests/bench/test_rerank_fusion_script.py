"""``benchmarks/rerank_fusion.py``: the fused rerank's weight chosen on the validation folds only,
the test rows for the first stage, the fine score alone and the chosen weight; bad input exits 2."""

import json

import pytest

from crossmedia.cli.main import main as cli


@pytest.fixture
def bench(load_benchmark):
    return load_benchmark("rerank_fusion")


@pytest.fixture
def cmsl_run(tiny_dataset, tmp_path):
    run = tmp_path / "run"
    assert cli(["train", "--model", "cmsl", "--data", str(tiny_dataset.root), "--out", str(run),
                "--set", "train.epochs=1", "--set", "train.batch_size=16", "--set", "model.cnn_channels=[4,4,8,8]",
                "--set", "model.bits=8", "--set", "model.quant.enabled=false"]) == 0
    return run


def test_weight_chosen_on_val_and_reported_on_test(tmp_path, bench, cmsl_run):
    out = tmp_path / "res" / "fusion"
    assert bench.main(["--runs", str(cmsl_run), "--weights", "0.5,2", "--top-n", "5", "--out", str(out)]) == 0
    rep = json.loads(out.with_suffix(".json").read_text())
    assert rep["weights"] == [0.0, 0.5, 2.0]  # w = 0 always a candidate
    r = rep["runs"][0]
    val = {float(w): (v["image->text"] + v["text->image"]) / 2 for w, v in r["val_map_all"].items()}
    assert r["chosen_weight"] == max(val, key=lambda w: (val[w], -w))  # the val score alone decides
    assert set(r["test"]) == {"0.0", "0.5", "2.0"} and set(r["first_stage"]) == {"map_all", "map@5"}
    for rows in r["test"].values():
        for m in ("map_all", "map@5"):
            assert all(0.0 <= rows[m][d] <= 1.0 for d in ("image->text", "text->image"))
    assert r["seed"] == 0 and rep["git_commit"] and "val" in r["val_rule"]
    md = out.with_suffix(".md").read_text()
    assert "(chosen)" in md and "first stage alone" in md and "w chosen on val" in md


def test_test_rows_on_the_unseen_database(tmp_path, bench, cmsl_run):
    from crossmedia.eval import evaluate, load_for_evaluation

    out = tmp_path / "u"
    assert bench.main(["--runs", str(cmsl_run), "--weights", "0.5", "--top-n", "5", "--database", "unseen",
                       "--out", str(out)]) == 0
    rep = json.loads(out.with_suffix(".json").read_text())
    r = rep["runs"][0]
    ck, rd = load_for_evaluation(cmsl_run)
    plain = evaluate(ck.model, rd, ck.config, metrics=["map_all"], database="unseen")
    assert rep["database"] == "unseen" and r["database"]["count"] == len(rd.protocol.test_database("unseen"))
    assert r["first_stage"]["map_all"]["text->image"] == pytest.approx(plain["results"]["text->image"]["map_all"]["value"])
    assert "outside train and val" in out.with_suffix(".md").read_text()


@pytest.mark.parametrize("extra, msg", [(["--weights", "a"], "--weights"), (["--weights", "-1"], "--weights"),
                                         (["--top-n", "0"], "--top-n")])
def test_bad_input_exits_2_in_one_line(tmp_path, bench, capsys, cmsl_run, extra, msg):
    out = tmp_path / "o"
    assert bench.main(["--runs", str(cmsl_run), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1 and not out.with_suffix(".md").exists()


def test_a_folder_that_is_not_a_run_exits_2(tmp_path, bench, capsys):
    assert bench.main(["--runs", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_interrupted_invocation_resumes_with_the_finished_runs(tmp_path, bench, cmsl_run, monkeypatch, capsys):
    import shutil

    other = tmp_path / "run2"
    shutil.copytree(cmsl_run, other)
    out = tmp_path / "res" / "fusion"
    real = bench.measure_run
    calls = []

    def interrupted(run, *a, **k):
        calls.append(run)
        if run == other:
            raise KeyboardInterrupt
        return real(run, *a, **k)

    monkeypatch.setattr(bench, "measure_run", interrupted)
    argv = ["--runs", str(cmsl_run), str(other), "--weights", "1", "--top-n", "5", "--out", str(out)]
    assert bench.main(argv) == 130
    partial = out.with_name("fusion.partial.json")
    assert partial.is_file() and not out.with_suffix(".json").exists()  # no half-made results
    assert "run the same command again" in capsys.readouterr().err
    calls.clear()
    monkeypatch.setattr(bench, "measure_run", lambda run, *a, **k: (calls.append(run), real(run, *a, **k))[1])
    assert bench.main(argv) == 0
    assert calls == [other]  # the finished run was not measured again
    rep = json.loads(out.with_suffix(".json").read_text())
    assert [r["run"] for r in rep["runs"]] == [str(cmsl_run), str(other)]
    assert rep["runs"][0]["test"] == rep["runs"][1]["test"]  # same trained model, same numbers
    assert not partial.exists()
    assert "reused" in capsys.readouterr().err
