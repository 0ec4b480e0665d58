"""``benchmarks/icons_attention.py`` reads the icon benchmark's finished runs (nothing trained) and
writes the word → icon attention of each model and seed; a work folder without them is a
one-line error."""

import json
from argparse import Namespace

import pytest

from emoji_packages import write_packages
from fake_features import fake_extract


@pytest.fixture
def bench(load_benchmark):
    return load_benchmark("icons_attention")


@pytest.mark.slow
def test_attention_of_the_icon_benchmarks_runs(bench, tmp_path, monkeypatch, capsys):
    import crossmedia.features.extract as X
    from crossmedia.bench import run_quality_bench

    monkeypatch.setattr(X, "extract_features", fake_extract)
    work = tmp_path / "work"
    args = Namespace(src=str(write_packages(tmp_path / "npm")), work=str(work), parts=["scenes"], threads=1)
    root = bench.icons.build_data(args, {"scenes": 300})["scenes"]
    out_dir = bench.icons.bench_dir(args, "scenes", "default", root)
    run_quality_bench(root, ["cmsl"], [32], [0, 1], out_dir, threads=1, image_source="features", echo=lambda m: None,
                      overrides=["data.text_field=tags", "train.epochs=1", "model.K=16", "train.batch_size=64"])
    out = tmp_path / "res" / "att"
    assert bench.main(["--work", str(work), "--protocols", "default", "--models", "cmsl", "--out", str(out)]) == 0
    rep = json.loads(out.with_suffix(".json").read_text())
    runs = rep["protocols"][0]["runs"]
    assert [r["seed"] for r in runs] == [0, 1] and all(r["trials"] > 0 and 0 <= r["hit_rate"] <= 1 for r in runs)
    assert all(0 < r["chance"] < 1 and r["grid"] == 2 for r in runs)  # the fake features: 4 regions, a 2x2 grid
    md = out.with_suffix(".md").read_text()
    assert "| cmsl | tags | 0 |" in md and "- cmsl: hit rate" in md
    # an ablation variant's runs (its own folder next to the benchmark's), labelled by the variant
    import shutil

    shutil.copytree(out_dir / "cells", bench.icons_ablation.variant_dir(out_dir, "no_expansion") / "cells")
    assert bench.main(["--work", str(work), "--protocols", "default", "--models", "cmsl", "--variants", "no_expansion",
                       "--out", str(out)]) == 0
    runs = json.loads(out.with_suffix(".json").read_text())["protocols"][0]["runs"]
    assert [(r["model"], r["seed"]) for r in runs] == [("cmsl", 0), ("cmsl", 1), ("no_expansion", 0), ("no_expansion", 1)]
    assert runs[2]["hit_rate"] == runs[0]["hit_rate"]  # the same runs, read again
    with pytest.raises(SystemExit):
        bench.main(["--work", str(work), "--variants", "cdq"])  # no attention to measure
    # another bench quality folder (here the same cells again), labelled; cells of another protocol are left out
    other = tmp_path / "other-bench"
    shutil.copytree(out_dir / "cells", other / "cells")
    moved = json.loads((other / "cells" / "cmsl-32b-seed1.json").read_text())
    moved["protocol"]["name"] = "novel-icons"
    (other / "cells" / "cmsl-32b-seed1.json").write_text(json.dumps(moved))
    assert bench.main(["--work", str(work), "--protocols", "default", "--models", "cmsl", "--extra", f"mine={other}",
                       "--out", str(out)]) == 0
    runs = json.loads(out.with_suffix(".json").read_text())["protocols"][0]["runs"]
    assert [(r["model"], r["seed"]) for r in runs] == [("cmsl", 0), ("cmsl", 1), ("mine", 0)]
    assert runs[2]["hit_rate"] == runs[0]["hit_rate"]
    assert "| mine | tags | 0 |" in out.with_suffix(".md").read_text()
    # a folder that is not a bench's output: one line, exit 2; a malformed spec: argparse's exit 2
    capsys.readouterr()
    assert bench.main(["--work", str(work), "--extra", f"x={tmp_path / 'nothing'}", "--out", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --extra") and not list(tmp_path.glob("o2*"))
    with pytest.raises(SystemExit) as e:
        bench.main(["--work", str(work), "--extra", "nolabel"])
    assert e.value.code == 2


def test_a_work_folder_without_icon_data_is_a_one_line_error(bench, tmp_path, capsys):
    assert bench.main(["--work", str(tmp_path / "nothing"), "--out", str(tmp_path / "att")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --work") and not list(tmp_path.glob("att*"))
