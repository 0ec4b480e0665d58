"""``benchmarks/icons_unseen_words.py``: every row trained with and without data.unseen_words on
the icon scenes, the difference reported, the share of unseen query tokens stated; run again it
trains nothing; bad arguments exit 2."""

import argparse
import json

import pytest

from emoji_packages import write_packages
from fake_features import fake_extract


@pytest.fixture
def bench(load_benchmark):
    return load_benchmark("icons_unseen_words")


@pytest.mark.slow
def test_rows_with_and_without_unseen_words_and_a_rerun_trains_nothing(bench, tmp_path, monkeypatch, capsys):
    import crossmedia.features.extract as X
    from crossmedia.data import Dataset

    monkeypatch.setattr(X, "extract_features", fake_extract)
    work = tmp_path / "work"
    args = argparse.Namespace(src=str(write_packages(tmp_path / "npm")), work=str(work), parts=["scenes"], threads=1)
    data = bench.icons.build_data(args, {"scenes": 300, "seeds": 1, "epochs": 1})["scenes"]
    # word vectors for every word the scenes use, so that unseen query words map somewhere
    words = {p for t in Dataset.load(data, check_files=False).texts("tags") for w in t for p in w.lower().split()}
    vec = tmp_path / "vec.txt"
    vec.write_text("".join(f"{w} {(i % 5) / 5 + 0.1} {(i % 3) / 3 + 0.1} {(i % 7) / 7 + 0.1}\n"
                           for i, w in enumerate(sorted(words))))
    out = tmp_path / "res" / "unseen"
    argv = ["--data", str(data), "--work", str(work), "--rows", "twotower,acmr", "--seeds", "0", "--epochs", "1",
            "--source", str(vec), "--out", str(out)]
    assert bench.main(argv) == 0
    rep = json.loads(out.with_suffix(".json").read_text())
    sec = rep["sections"][0]
    assert sec["protocol"] == "novel-icons" and [r["name"] for r in sec["rows"]] == ["twotower", "acmr"]
    for r in sec["rows"]:
        assert f"data.unseen_words={vec}" in r["overrides"]["with"]
        assert not any(o.startswith("data.unseen_words") for o in r["overrides"]["without"])
        d = r["delta"]["image->text"]["delta"]
        assert d == pytest.approx(r["with"]["image->text"]["mean"] - r["without"]["image->text"]["mean"])
    assert "are not in the training vocabulary" in sec["unseen_share"]
    md = out.with_suffix(".md").read_text()
    assert "| twotower |" in md and "`data.unseen_words=" in md and "val without → with" in md
    assert all(len(r[s]["best_val_score"]) == 1 for r in sec["rows"] for s in ("with", "without"))
    cells = sorted(work.glob("unseen-novel-icons-*/cells/*.json"))
    assert sorted(p.name for p in cells) == ["acmr-32b-seed0.json"] * 2 + ["twotower-32b-seed0.json"] * 2
    stamps = [p.stat().st_mtime_ns for p in cells]
    assert bench.main(argv) == 0  # everything finished: nothing is trained again
    assert [p.stat().st_mtime_ns for p in cells] == stamps
    assert json.loads(out.with_suffix(".json").read_text())["sections"][0]["rows"] == sec["rows"]


@pytest.mark.parametrize("extra, msg", [(["--rows", "cmsl,nope"], "--rows"), (["--protocols", "x"], "--protocols"),
                                        (["--seeds", "0,x"], "--seeds"), (["--top-k", "0"], "--top-k")])
def test_bad_arguments_exit_2(bench, tmp_path, capsys, extra, msg):
    out = tmp_path / "res"
    with pytest.raises(SystemExit) as e:
        bench.main(["--data", str(tmp_path), "--work", str(tmp_path / "w"), "--out", str(out / "u"), *extra])
    assert e.value.code == 2 and msg in capsys.readouterr().err and not out.exists()


def test_a_folder_that_is_not_a_dataset_exits_2(bench, tmp_path, capsys):
    out = tmp_path / "res"
    assert bench.main(["--data", str(tmp_path), "--work", str(tmp_path / "w"), "--out", str(out / "u")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --data") and err.count("\n") == 1 and not out.exists()


def test_expansion_is_measured_for_each_pair_whose_two_rows_ran(bench):
    def row(name, without, with_):
        cell = lambda m: {"mean": m, "std": 0.001, "n": 3}  # noqa: E731
        return {"name": name, "without": {d: cell(without) for d in bench.DIRECTIONS},
                "with": {d: cell(with_) for d in bench.DIRECTIONS}}

    rows = [row("cmsl", 0.23, 0.25), row("cmsl_no_expansion", 0.24, 0.25), row("cmsl_glove", 0.245, 0.27),
            row("cmsl_glove_no_expansion", 0.24, 0.25), row("acmr", 0.25, 0.26)]
    e = bench.expansion_deltas(rows)
    assert set(e) == {"cmsl", "cmsl_glove"}
    assert e["cmsl"]["without"]["image->text"]["delta"] == pytest.approx(-0.01)
    assert e["cmsl_glove"]["with"]["text->image"]["delta"] == pytest.approx(0.02)
    assert e["cmsl_glove"]["with"]["earns_either"] and not e["cmsl"]["with"]["earns_either"]
    assert set(bench.expansion_deltas(rows[2:3] + rows[4:])) == set()  # a pair needs both rows
    # two rows with expansion may share the row without it
    e = bench.expansion_deltas(rows + [row("cmsl_glove_local_expansion", 0.25, 0.28)])
    assert e["cmsl_glove_local_expansion"]["with"]["text->image"]["delta"] == pytest.approx(0.03)
    assert e["cmsl_glove"]["with"]["text->image"]["delta"] == pytest.approx(0.02)


def test_a_cell_another_process_is_training_has_no_val_score_yet(bench, tmp_path):
    cells = tmp_path / "cells"
    cells.mkdir()
    (cells / "cmsl-32b-seed0.json").write_text(json.dumps({"best_val_score": 0.31}))
    (cells / "cmsl-32b-seed2.json").write_text(json.dumps({"best_val_score": 0.33}))
    assert bench.best_val_scores(tmp_path, "cmsl", [0, 1, 2]) == [0.31, None, 0.33]
    assert bench.mean_val({"best_val_score": [0.31, None, 0.33]}) == "0.3200"
