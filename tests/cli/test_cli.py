"""CLI conventions: --help everywhere; user mistakes → one line `error: …`, exit 2, nothing left."""

import json

import pytest

from crossmedia.cli.main import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(code, err, *needles):
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.mark.parametrize("cmd", [[], ["data"], ["data", "synth"], ["data", "info"], ["train"], ["eval"], ["demo"], ["models"]])
def test_help(capsys, cmd):
    code, out, err = run(capsys, *cmd, "--help")
    assert code == 0 and "Usage:" in out


def test_bare_command_shows_help(capsys):
    code, out, _ = run(capsys)
    assert code == 0 and "Commands:" in out


def test_synth_and_info(capsys, tmp_path):
    out_dir = tmp_path / "d"
    code, out, err = run(capsys, "data", "synth", "--out", str(out_dir), "--n", "60", "--seed", "1")
    assert code == 0, err
    assert "items     60" in out and "protocol  default" in out
    code, out, _ = run(capsys, "data", "info", str(out_dir), "--json")
    s = json.loads(out)
    assert s["items"] == 60 and s["labels"]["count"] == 48
    assert s["protocols"]["default"]["counts"] == {"train": 30, "val": 3, "query": 6, "retrieval": 54}
    # themed scenes record their theme and the generator parameter
    code, _, err = run(capsys, "data", "synth", "--out", str(tmp_path / "t"), "--n", "30", "--theme-strength", "0.8")
    assert code == 0, err
    rows = [json.loads(line) for line in (tmp_path / "t" / "items.jsonl").read_text().splitlines()]
    assert all("theme" in r for r in rows)
    meta = json.loads((tmp_path / "t" / "dataset.json").read_text())
    assert meta["source"]["theme_strength"] == 0.8 and meta["source"]["generator_version"] == 2
    # a non-empty output folder is not overwritten without --overwrite
    code, _, err = run(capsys, "data", "synth", "--out", str(out_dir), "--n", "60")
    assert_user_error(code, err, "not empty", "--overwrite")


@pytest.mark.parametrize(
    "args, needles",
    [
        (["--n", "abc"], ["'--n'", "abc"]),
        (["--n", "5"], ["--n"]),
        (["--p-drop", "1.5"], ["--p-drop", "[0, 1]"]),
        (["--p-noise", "-0.1"], ["--p-noise"]),
        (["--theme-strength", "2"], ["--theme-strength", "[0, 1]"]),
        (["--image-size", "70"], ["--image-size", "multiple of 3"]),
        (["--n", "100", "--n-query", "60", "--n-train", "60"], ["add up to more than"]),
    ],
)
def test_synth_bad_values_leave_nothing(capsys, tmp_path, args, needles):
    out_dir = tmp_path / "d"
    code, _, err = run(capsys, "data", "synth", "--out", str(out_dir), *args)
    assert_user_error(code, err, *needles)
    assert not out_dir.exists()
    assert list(tmp_path.iterdir()) == []


def test_info_errors(capsys, tmp_path):
    code, _, err = run(capsys, "data", "info", str(tmp_path / "missing"))
    assert_user_error(code, err, "missing", "not found")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "dataset.json").write_text("{oops")
    code, _, err = run(capsys, "data", "info", str(tmp_path / "x"))
    assert_user_error(code, err, "dataset.json", "not valid JSON")


def test_unknown_option_and_command(capsys):
    code, _, err = run(capsys, "data", "synth", "--bogus")
    assert_user_error(code, err, "--bogus")
    code, _, err = run(capsys, "frobnicate")
    assert_user_error(code, err, "frobnicate")


def test_train_errors_leave_no_run_dir(capsys, tmp_path, tiny_dataset):
    out = tmp_path / "run"
    code, _, err = run(capsys, "train", "--data", str(tmp_path / "nope"), "--out", str(out))
    assert_user_error(code, err, "nope", "not found")
    code, _, err = run(capsys, "train", "--data", str(tiny_dataset.root), "--out", str(out), "--set", "train.epochs=lots")
    assert_user_error(code, err, "train.epochs", "expected int")
    code, _, err = run(capsys, "train", "--data", str(tiny_dataset.root), "--out", str(out), "--model", "nosuch")
    assert_user_error(code, err, "unknown model 'nosuch'")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1,\n")
    code, _, err = run(capsys, "train", "--config", str(bad), "--data", str(tiny_dataset.root), "--out", str(out))
    assert_user_error(code, err, "bad.yaml", "malformed")
    code, _, err = run(capsys, "train", "--out", str(out), "--resume")
    assert_user_error(code, err, "no run directory to resume")
    assert not out.exists()


def test_train_with_a_named_preset(capsys, tmp_path, tiny_dataset):
    out = tmp_path / "run"
    code, _, err = run(capsys, "train", "--config", "dscmr-paper", "--data", str(tiny_dataset.root), "--out", str(out),
                       "--set", "train.epochs=2", "--set", "model.hidden=16", "--set", "model.dim=8",
                       "--set", "model.cnn_channels=[4, 4, 8, 8]")
    assert code == 0, err
    info = json.loads((out / "run.json").read_text())
    assert info["model"] == "dscmr" and info["val_rule"] == "heldout" and info["machine"]["torch_threads"] >= 1
    import yaml

    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["train"]["batch_order"] == "fixed" and cfg["train"]["adam_betas"] == [0.5, 0.999]
    assert cfg["model"]["loss_form"] == "norm" and cfg["train"]["epochs"] == 2
    code, _, err = run(capsys, "train", "--config", "dscmr-papr", "--data", str(tiny_dataset.root), "--out", str(tmp_path / "r2"))
    assert_user_error(code, err, "dscmr-papr", "presets: ", "dscmr-paper")
    assert not (tmp_path / "r2").exists()


def test_eval_missing_run(capsys, tmp_path):
    code, _, err = run(capsys, "eval", str(tmp_path / "norun"))
    assert_user_error(code, err, "norun")


def test_models_table(capsys):
    code, out, _ = run(capsys, "models")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["model", "codes", "bits", "description"]
    rows = {ln.split()[0]: ln for ln in lines[1:] if ln.strip() and not ln.startswith("(")}
    assert {"cmsl", "cdq", "twotower", "dafsn"} <= set(rows)
    assert all("{" not in ln and len(ln) < 140 for ln in rows.values())  # no raw dicts, one short line each
    code, out, _ = run(capsys, "models", "--options")
    assert code == 0 and "\ncmsl:\n" in out and "  bits = 32" in out


def test_train_summary_is_rounded(capsys, tmp_path):
    from tests.conftest import make_tiny_dataset

    make_tiny_dataset(tmp_path / "d")
    code, out, err = run(capsys, "train", "--model", "twotower", "--data", str(tmp_path / "d"), "--out",
                         str(tmp_path / "r"), "--set", "train.epochs=2", "--set", "model.bits=8")
    assert code == 0, err
    import re

    line = [ln for ln in out.splitlines() if ln.startswith("trained")][0]
    assert re.search(r"best epoch \d of 2, val map_all [01]\.\d{4} \(selection rule heldout\), \d+\.\d s$", line), line
