"""A run works from any working directory and after being moved (with its dataset, or with
``--data``); when the dataset cannot be found the error names both recorded paths."""

import json
import shutil

import pytest

from crossmedia.cli.main import main
from tests.conftest import make_tiny_dataset


def _cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def project(tmp_path, monkeypatch, capsys):
    """A project folder with a dataset and a run trained with a *relative* --data path."""
    proj = tmp_path / "proj"
    make_tiny_dataset(proj / "data")
    monkeypatch.chdir(proj)
    code, _, err = _cli(capsys, "train", "--model", "twotower", "--data", "data", "--out", "runs/r",
                        "--set", "train.epochs=1", "--set", "model.bits=8")
    assert code == 0, err
    return proj


def _use_run(capsys, run, tmp_path, *extra):
    code, out, err = _cli(capsys, "eval", str(run), *extra)
    assert code == 0, err
    assert "map_all" in out
    code, out, err = _cli(capsys, "explain", str(run), "--query", "it1", "--k", "3", "--out",
                          str(tmp_path / "ex"), *extra)
    assert code == 0, err
    code, out, err = _cli(capsys, "index", "build", "--run", str(run), "--out", str(tmp_path / "ix"),
                          "--overwrite", *extra)
    assert code == 0, err


def test_run_records_both_paths(project):
    info = json.loads((project / "runs" / "r" / "run.json").read_text())
    assert info["data"]["root"] == str((project / "data").resolve())
    assert info["data"]["root_relative_to_run"] == "../../data"


def test_run_used_from_another_directory(project, tmp_path, monkeypatch, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    _use_run(capsys, project / "runs" / "r", elsewhere)


def test_run_moved_with_its_data(project, tmp_path, monkeypatch, capsys):
    moved = tmp_path / "moved"
    shutil.move(str(project), str(moved))  # the recorded absolute path is gone, the relative one holds
    monkeypatch.chdir(tmp_path)
    _use_run(capsys, moved / "runs" / "r", tmp_path)


def test_run_moved_alone_needs_data(project, tmp_path, monkeypatch, capsys):
    shutil.move(str(project / "runs" / "r"), str(tmp_path / "r"))
    shutil.move(str(project / "data"), str(tmp_path / "d2"))
    monkeypatch.chdir(tmp_path)
    code, _, err = _cli(capsys, "eval", str(tmp_path / "r"))
    assert code == 2
    line = err.strip()
    assert line.startswith("error: ") and "\n" not in line
    assert str((project / "data").resolve()) in line and "relative to the run" in line and "--data" in line
    _use_run(capsys, tmp_path / "r", tmp_path, "--data", str(tmp_path / "d2"))


def test_checks_come_before_loading_images(tmp_path, monkeypatch, capsys):
    """A bad model option or an existing --out is refused before any image is read; nothing is created."""
    from crossmedia.data import tensors

    make_tiny_dataset(tmp_path / "d")

    def boom(*a, **k):
        raise AssertionError("images were loaded before the arguments were checked")

    monkeypatch.setattr(tensors, "load_images", boom)
    code, _, err = _cli(capsys, "train", "--model", "cmsl", "--data", str(tmp_path / "d"), "--out", str(tmp_path / "r"),
                        "--set", "model.bits=33")
    assert code == 2 and err.startswith("error: model.bits") and "33" in err
    assert not (tmp_path / "r").exists()
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("keep")
    code, _, err = _cli(capsys, "train", "--model", "twotower", "--data", str(tmp_path / "d"), "--out", str(tmp_path / "busy"))
    assert code == 2 and "not empty" in err and (tmp_path / "busy" / "x").read_text() == "keep"
