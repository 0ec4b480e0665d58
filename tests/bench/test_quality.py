"""``crossmedia bench quality`` end to end on a tiny dataset: complete table, JSON, plot; a
rerun skips the finished cells; unknown models and changed settings fail clearly."""

import json

import pytest

from crossmedia.cli.main import main
from crossmedia.data.make_synth import make_synthetic_dataset


def make_tiny_dataset(root, n=40, n_labels=None):
    """Synthetic scenes, 24-pixel images; ≥ 128 train items so that cq's 256 codewords can be fitted."""
    return make_synthetic_dataset(root, n=n, seed=0, image_size=24, n_query=n // 10, n_train=n // 2, n_val=n // 10)


FAST = ["--set", "train.epochs=1", "--set", "train.batch_size=16", "--set", "model.cnn_channels=[4,4,8,8]",
        "--set", "twotower:model.text_hidden=16", "--set", "acmr:model.hidden=16"]


def _bench(data, out, *extra, models="twotower,acmr"):
    return main(["bench", "quality", "--data", str(data), "--models", models, "--bits", "8", "--seeds", "1",
                 "--out", str(out), *FAST, *extra])


@pytest.mark.slow
def test_bench_writes_complete_table_and_skips_done_cells(tmp_path, capsys):
    make_tiny_dataset(tmp_path / "d", n=300)
    out = tmp_path / "bench"
    assert _bench(tmp_path / "d", out) == 0
    report = json.loads((out / "quality.json").read_text())
    got = {(r["model"], r["codes"]) for r in report["rows"]}
    assert got == {("twotower", "native"), ("acmr", "native"), ("acmr", "sign"), ("acmr", "cq")}
    for r in report["rows"]:
        for d in ("image->text", "text->image"):
            assert 0.0 <= r[d]["mean"] <= 1.0 and r[d]["n"] == 1
    by = {(r["model"], r["codes"]): r for r in report["rows"]}
    assert by[("twotower", "native")]["code_bytes_per_item"] == 1  # 8 bits
    assert by[("acmr", "native")]["code_bytes_per_item"] == 32  # 8 float32
    assert by[("acmr", "sign")]["code_bytes_per_item"] == 1 and by[("acmr", "cq")]["code_bytes_per_item"] == 1
    md = (out / "quality.md").read_text()
    assert "| twotower | native | 8 |" in md and "**Protocol.**" in md and "**Metric.**" in md
    assert (out / "quality.png").stat().st_size > 1000
    cell = json.loads((out / "cells" / "acmr-8b-seed0.json").read_text())
    assert "git_commit" in cell and cell["codes"]["cq"]["ranking"]["fitted_on"].startswith("training split")
    # each row carries its cells' best validation scores (what the checkpoints were chosen by)
    v = by[("acmr", "native")]["best_val_score"]
    assert v["n"] == 1 and v["values"] == [cell["best_val_score"]]
    assert cell["config"]["train"]["seed"] == 0 and "protocol" in cell
    # the retrieval set holds the training items: the native codes also against the unseen ones
    p = cell["protocol"]["counts"]
    assert cell["unseen"]["database"]["count"] == p["retrieval"] - p["train"] - p["val"] > 0
    assert cell["unseen"]["database"]["view"] == "unseen" and 0 <= cell["unseen"]["map_all"]["text->image"] <= 1
    assert by[("acmr", "native")]["unseen"]["text->image"]["values"] == [cell["unseen"]["map_all"]["text->image"]]
    assert "unseen" not in by[("acmr", "sign")] and "unseen" not in by[("acmr", "cq")]
    assert " unseen items: i→t / t→i |" in md and "**Unseen items.**" in md
    assert md.count("| acmr | sign |") == 1 and [ln for ln in md.splitlines() if "| acmr | sign |" in ln][0].endswith(" – |")
    mtime = (out / "cells" / "acmr-8b-seed0.json").stat().st_mtime_ns
    capsys.readouterr()
    # rerun: both cells skipped, nothing retrained; a new model only trains its own cell
    assert _bench(tmp_path / "d", out, models="twotower,acmr,dscmr") == 0
    text = capsys.readouterr().out
    assert "twotower-8b-seed0: done earlier, skipped" in text and "acmr-8b-seed0: done earlier, skipped" in text
    assert "dscmr-8b-seed0: i->t" in text
    assert (out / "cells" / "acmr-8b-seed0.json").stat().st_mtime_ns == mtime
    assert {r["model"] for r in json.loads((out / "quality.json").read_text())["rows"]} == {"twotower", "acmr", "dscmr"}
    # the same dataset in another folder (another machine): still the same cells
    import shutil

    shutil.copytree(tmp_path / "d", tmp_path / "moved")
    assert _bench(tmp_path / "moved", out, models="acmr") == 0
    assert "acmr-8b-seed0: done earlier, skipped" in capsys.readouterr().out
    # changed settings for a finished cell: one clear error, not a silent reuse
    assert main(["bench", "quality", "--data", str(tmp_path / "d"), "--models", "twotower", "--bits", "8",
                 "--seeds", "1", "--out", str(out), *FAST, "--set", "train.lr=0.5"]) == 2
    assert "computed with other settings" in capsys.readouterr().err


def test_unknown_model_fails_before_any_work(tmp_path, capsys):
    make_tiny_dataset(tmp_path / "d", n=40)
    assert _bench(tmp_path / "d", tmp_path / "out", models="twotower,dafsn_typo") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --models: unknown model or preset 'dafsn_typo'") and "twotower" in err and "dscmr-paper" in err
    assert not (tmp_path / "out").exists()


def test_bad_bits_and_scoped_override_are_user_errors(tmp_path, capsys):
    make_tiny_dataset(tmp_path / "d", n=40)
    assert main(["bench", "quality", "--data", str(tmp_path / "d"), "--models", "twotower", "--bits", "8,x",
                 "--out", str(tmp_path / "o")]) == 2
    assert "--bits" in capsys.readouterr().err
    assert main(["bench", "quality", "--data", str(tmp_path / "d"), "--models", "twotower", "--bits", "8",
                 "--out", str(tmp_path / "o"), "--set", "cmsll:train.lr=1"]) == 2
    assert "'cmsll' is not a registered model" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_missing_dataset_is_a_user_error(tmp_path, capsys):
    assert main(["bench", "quality", "--data", str(tmp_path / "none"), "--models", "twotower", "--bits", "8",
                 "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_every_registered_model_enters_the_bench_at_any_bits(tmp_path):
    """Regression: `bench quality --models ...,dafsn --bits 16` stopped with `model.bits: not an
    option of model 'dafsn'`; every registered model has the option."""
    from crossmedia.bench.quality import QualityBench
    from crossmedia.models import list_models

    make_tiny_dataset(tmp_path / "d", n=40)
    bench = QualityBench(tmp_path / "d", list_models(), [16], [0], tmp_path / "out")
    for m in list_models():
        assert bench.config(m, 16, 0)["model"]["bits"] == 16


def test_cells_made_before_a_model_option_existed_still_count():
    from crossmedia.bench.quality import same_settings
    from crossmedia.models.registry import model_config

    now = {"model": model_config("dafsn"), "train": {"lr": 1e-3, "threads": 2}, "data": {"root": "/a"}}
    then = json.loads(json.dumps(now))
    then["train"]["threads"], then["data"]["root"] = 1, "/elsewhere"
    assert same_settings(then, now)
    del then["model"]["text"]["freeze_vectors"]  # the option did not exist when the cell was made
    assert same_settings(then, now)  # ... and is at its default now
    now["model"]["text"]["freeze_vectors"] = True
    assert not same_settings(then, now)  # not at its default: another setting
    now["model"]["text"]["freeze_vectors"] = False
    del now["model"]["gamma1"]  # an option the cell had and the code no longer has
    assert not same_settings(then, now)
    now = json.loads(json.dumps(then))
    now["train"]["new_key"] = 1  # an option the code does not know is never forgiven
    assert not same_settings(then, now)
    now = json.loads(json.dumps(then))
    now["data"]["shuffle_buffer"] = 1000  # a data option added since, at its default: the same run
    assert same_settings(then, now)
    now["data"]["shuffle_buffer"] = 10
    assert not same_settings(then, now)
    now = json.loads(json.dumps(then))
    now["model"]["gamma1"] = 9.0
    assert not same_settings(then, now)


def test_a_changed_default_does_not_relabel_cells_made_before_the_option():
    """DAFSN's ``loss.positives`` came with the default pair and became auto (label matching on
    labelled data): a cell lacking the option was trained with pair matching, whatever the default
    is now."""
    from crossmedia.bench.quality import same_settings
    from crossmedia.models import get_model_class
    from crossmedia.models.registry import model_config

    assert get_model_class("dafsn").absent_means["loss.positives"] == "pair"
    now = {"model": model_config("dafsn"), "train": {"lr": 1e-3}}
    assert now["model"]["loss"]["positives"] == "auto"
    then = json.loads(json.dumps(now))
    del then["model"]["loss"]["positives"]
    assert not same_settings(then, now)  # today's default is another training than the cell's
    now["model"]["loss"]["positives"] = "pair"
    assert same_settings(then, now)  # asked for the behaviour the cell had: the same run
    # text.pooling came with the default last and became max
    assert get_model_class("dafsn").absent_means["text.pooling"] == "last"
    now = {"model": model_config("dafsn"), "train": {"lr": 1e-3}}
    assert now["model"]["text"]["pooling"] == "max"
    then = json.loads(json.dumps(now))
    del then["model"]["text"]["pooling"]
    assert not same_settings(then, now)
    now["model"]["text"]["pooling"] = "last"
    assert same_settings(then, now)


def test_absent_means_must_name_options_of_the_model():
    from crossmedia.models.base import RetrievalModel
    from crossmedia.models.registry import register_model

    class Odd(RetrievalModel):
        default_config = {"bits": 32, "loss": {"weight": 1.0}}
        absent_means = {"loss.wieght": 0.5}

    with pytest.raises(TypeError, match="loss.wieght"):
        register_model("odd-absent-means")(Odd)


def test_a_cell_another_process_is_computing_is_left_to_it(tmp_path, capsys):
    """Two benches on one --out: a cell whose lock another process holds is neither trained a
    second time nor written to; the other cells are trained, and the table lists it as missing."""
    import fcntl
    import os

    make_tiny_dataset(tmp_path / "d", n=300)
    out = tmp_path / "bench"
    (out / ".locks").mkdir(parents=True)
    fd = os.open(out / ".locks" / "acmr-8b-seed0.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # "another process" (another open file description) holds it
    try:
        assert _bench(tmp_path / "d", out) == 0
        text = capsys.readouterr().out
        assert "acmr-8b-seed0: being computed by another process" in text
        assert not (out / "cells" / "acmr-8b-seed0.json").exists() and not (out / "runs" / "acmr-8b-seed0").exists()
        report = json.loads((out / "quality.json").read_text())
        assert report["cells_missing"] == ["acmr-8b-seed0"] and {r["model"] for r in report["rows"]} == {"twotower"}
        assert _bench(tmp_path / "d", out, models="acmr") == 2  # nothing finished to summarise
        assert "acmr-8b-seed0 being computed by another process" in capsys.readouterr().err
    finally:
        os.close(fd)
    assert _bench(tmp_path / "d", out, models="acmr") == 0  # released: trained now
    assert (out / "cells" / "acmr-8b-seed0.json").is_file()


def test_cells_record_the_commit_the_bench_started_with(tmp_path, monkeypatch):
    """The code a bench runs is the code it started with: a cell finishing after the working tree
    moved on (a commit during the training) keeps the commit read at the start."""
    from crossmedia.bench import quality

    head = {"commit": "at-start"}
    real_train = quality.train

    def train_then_commit(*a, **kw):
        out = real_train(*a, **kw)
        head["commit"] = "committed-during-training"
        return out

    monkeypatch.setattr(quality, "git_commit", lambda *a: head["commit"])
    monkeypatch.setattr(quality, "train", train_then_commit)
    make_tiny_dataset(tmp_path / "d", n=120)
    assert _bench(tmp_path / "d", tmp_path / "bench", models="twotower") == 0
    cell = json.loads((tmp_path / "bench" / "cells" / "twotower-8b-seed0.json").read_text())
    assert cell["git_commit"] == "at-start"


def test_a_calling_script_names_the_commit_of_the_code_it_runs(tmp_path, monkeypatch):
    """A script that runs several benches in one process passes the commit it started with: a
    bench started after the working tree moved on still labels its cells with the code it runs."""
    from crossmedia.bench import quality, run_quality_bench

    monkeypatch.setattr(quality, "git_commit", lambda *a: "head-now")
    make_tiny_dataset(tmp_path / "d", n=120)
    sets = [o for i, o in enumerate(FAST) if i % 2]  # the --set values
    run_quality_bench(tmp_path / "d", ["twotower"], [8], [0], tmp_path / "b1", overrides=sets, code_commit="script-start",
                      echo=lambda m: None)
    run_quality_bench(tmp_path / "d", ["twotower"], [8], [0], tmp_path / "b2", overrides=sets, echo=lambda m: None)
    assert json.loads((tmp_path / "b1" / "cells" / "twotower-8b-seed0.json").read_text())["git_commit"] == "script-start"
    assert json.loads((tmp_path / "b2" / "cells" / "twotower-8b-seed0.json").read_text())["git_commit"] == "head-now"
