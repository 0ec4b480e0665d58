"""``benchmarks/icons_single_diagnosis.py``: CMSL with one option changed per run on the single
icons, next to the other models; every row against CMSL with the paper's loss, finished cells reused."""

import json
from argparse import Namespace

import pytest

from emoji_packages import write_packages
from fake_features import fake_extract


@pytest.mark.slow
def test_variants_against_the_default_with_the_other_models_and_cells_reused(load_benchmark, tmp_path, monkeypatch):
    import crossmedia.features.extract as X

    icons = load_benchmark("icons")
    diag = load_benchmark("icons_single_diagnosis")
    monkeypatch.setattr(X, "extract_features", fake_extract)
    args = Namespace(src=str(write_packages(tmp_path / "npm")), work=str(tmp_path / "work"), parts=["icons"],
                     threads=1, models=["cmsl"])
    root = icons.build_data(args, {"scenes": 0, "seeds": 1, "epochs": 1})["icons"]
    out = tmp_path / "res" / "diag"
    argv = ["--data", str(root), "--work", str(tmp_path / "runs"), "--variants", "nolocal,label01",
            "--others", "dcmh", "--out", str(out), "--set", "train.epochs=2", "--set", "cmsl:model.K=4",
            "--set", "cmsl:model.quant.warmup_epochs=0"]
    assert diag.main(argv) == 0
    rep = json.loads(out.with_suffix(".json").read_text())
    assert [v["variant"] for v in rep["variants"]] == ["base", "nolocal", "label01"]  # the reference always first
    assert rep["variants"][1]["overrides"] == ["cmsl:model.local.enabled=false"]
    assert "train.epochs=2" in rep["settings"] and "data.text_field=tags" in rep["settings"]
    # CMSL's rows start from the paper's loss; label01 adds the label-space term back
    weight = {v["variant"]: json.loads((tmp_path / "runs" / v["variant"] / "cells" / "cmsl-32b-seed0.json")
                                       .read_text())["config"]["model"]["loss"]["label_weight"] for v in rep["variants"]}
    assert weight == {"base": 0.0, "nolocal": 0.0, "label01": 0.1}
    assert "label_weight=0.0` (the paper's loss)" in out.with_suffix(".md").read_text()
    assert {o["model"] for o in rep["others"]} == {"dcmh"}
    md = out.with_suffix(".md").read_text()
    base = rep["variants"][0]
    for v in rep["variants"][1:]:  # each row's difference is to the default's
        delta = v["image->text"]["mean"] - base["image->text"]["mean"]
        assert f"{delta:+.4f}" in md
    assert "| dcmh | pairwise likelihood |" in md and "`nolocal`: without the local" in md
    # run again: every cell is reused, nothing trained
    stamp = (tmp_path / "runs" / "label01" / "cells" / "cmsl-32b-seed0.json").stat().st_mtime_ns
    assert diag.main(argv) == 0
    assert (tmp_path / "runs" / "label01" / "cells" / "cmsl-32b-seed0.json").stat().st_mtime_ns == stamp
    with pytest.raises(SystemExit):
        diag.main([*argv[:4], "--variants", "bogus", "--out", str(out)])
