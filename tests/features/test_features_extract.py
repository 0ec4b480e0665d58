"""Feature extraction over a dataset: format, failures reported and skipped, resume, attach, train."""

import json
from pathlib import Path

import numpy as np
import pytest

from crossmedia.cli.main import main
from crossmedia.config import resolve_config
from crossmedia.data import Dataset
from crossmedia.data.loading import load_run_data
from crossmedia.errors import DataError, UserError
from crossmedia.features import extract_features, load_features
from crossmedia.features import extract as extract_mod
from crossmedia.train import train

SMALL = ["model.bits=8", "model.text_hidden=16", "train.batch_size=8", "train.epochs=1", "train.val_every=0"]


def test_extract_small_cnn_and_train_on_features(tmp_path, tiny_dataset):
    msgs = []
    before = {p.name: p.read_bytes() for p in tiny_dataset.root.iterdir() if p.is_file()}
    fs = extract_features(tiny_dataset.root, tmp_path / "feats", backbone="small_cnn", batch_size=16, echo=msgs.append)
    h = fs.header
    assert fs.global_.shape == (40, 128) and fs.regions.shape == (40, 9, 128) and fs.ok.all()
    assert h["format"] == "crossmedia-features" and h["backbone"] == "small_cnn" and h["input_size"] == 72
    assert h["grid"] == [3, 3] and h["preprocessing"]["resize"] == [72, 72] and h["weights"]["pretrained"] is False
    assert h["dataset"]["n_items"] == 40 and len(h["dataset"]["ids_sha256"]) == 64 and h["failed"] == []
    np.testing.assert_allclose(np.asarray(fs.global_), np.asarray(fs.regions).mean(1), rtol=1e-5, atol=1e-6)
    assert not (tmp_path / ".feats.partial").exists()
    # the input dataset is left untouched; the feature folder is itself a dataset with the features
    assert before == {p.name: p.read_bytes() for p in tiny_dataset.root.iterdir() if p.is_file()}
    ds = Dataset.load(tmp_path / "feats")
    assert ds.meta["features"]["global"] == "global.npy" and ds.meta["features"]["regions"] == "regions.npy"
    assert ds.ids == tiny_dataset.ids and ds.protocol().counts == tiny_dataset.protocol().counts
    assert all(Path(p).is_file() for p in ds.image_paths())  # image paths made absolute
    np.testing.assert_array_equal(ds.features("global"), fs.global_)
    cfg = resolve_config(None, [*SMALL, "data.image_source=features"], data__root=str(tmp_path / "feats"))
    run = train(cfg, tmp_path / "run")
    assert run.info()["status"] == "done"
    assert any("is unchanged" in m for m in msgs)


def test_extract_attach_records_features_in_the_input(tmp_path, tiny_dataset):
    msgs = []
    fs = extract_features(tiny_dataset.root, tmp_path / "feats", backbone="small_cnn", regions=False, attach=True,
                          echo=msgs.append)
    meta = json.loads((tiny_dataset.root / "dataset.json").read_text())
    assert meta["features"]["global"] == "../feats/global.npy" and "regions" not in meta["features"]
    np.testing.assert_array_equal(Dataset.load(tiny_dataset.root).features("global"), fs.global_)
    assert any("image features now" in m for m in msgs)


def test_undecodable_images_are_reported_and_skipped(tmp_path, tiny_dataset):
    bad = tiny_dataset.root / tiny_dataset.items[7]["image"]
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (tiny_dataset.root / tiny_dataset.items[9]["image"]).unlink()
    msgs = []
    fs = extract_features(tiny_dataset.root, tmp_path / "feats", backbone="small_cnn", dtype="float16", regions=False,
                          echo=msgs.append)
    assert fs.failed == [7, 9] and fs.regions is None and fs.global_.dtype == np.float16
    assert not np.asarray(fs.global_[7]).any() and np.asarray(fs.global_[8]).any()
    report = json.loads((tmp_path / "feats" / "report.json").read_text())
    assert [f["id"] for f in report["failed"]] == ["it7", "it9"] and "7.png" in report["failed"][0]["path"]
    assert any(m.startswith("warning: 2 of 40 image(s) could not be decoded") for m in msgs)
    # a run that needs those items refuses with a clear message (never silently zero features)
    with pytest.raises(DataError, match=r"report\.json: \d item\(s\) used by protocol 'default' have no image features"):
        load_run_data({"root": str(tmp_path / "feats"), "protocol": "default", "text_field": "tags", "image_source": "features"})


def test_interrupted_extraction_resumes(tmp_path, tiny_dataset, monkeypatch):
    full = extract_features(tiny_dataset.root, tmp_path / "full", backbone="small_cnn", chunk_size=16, attach=False)
    real = extract_mod._run_chunk
    calls = []

    def interrupt_second(*a, **k):
        calls.append(a[3])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(extract_mod, "_run_chunk", interrupt_second)
    with pytest.raises(KeyboardInterrupt):
        extract_features(tiny_dataset.root, tmp_path / "cut", backbone="small_cnn", chunk_size=16, attach=False)
    assert not (tmp_path / "cut").exists() and (tmp_path / ".cut.partial" / "chunk_000000.npz").is_file()
    calls.clear()
    monkeypatch.setattr(extract_mod, "_run_chunk", lambda *a, **k: (calls.append(a[3]), real(*a, **k))[1])
    msgs = []
    resumed = extract_features(tiny_dataset.root, tmp_path / "cut", backbone="small_cnn", chunk_size=16, attach=False,
                               echo=msgs.append)
    assert calls == [16, 32]  # chunk 0 (items 0-15) was not recomputed
    assert any("resuming" in m for m in msgs)
    np.testing.assert_array_equal(np.asarray(full.global_), np.asarray(resumed.global_))
    np.testing.assert_array_equal(np.asarray(full.regions), np.asarray(resumed.regions))
    assert not (tmp_path / ".cut.partial").exists()


def test_errors_leave_nothing(tmp_path, tiny_dataset, fixtures_wiki):
    with pytest.raises(UserError, match="unknown backbone 'alexnet'"):
        extract_features(tiny_dataset.root, tmp_path / "f", backbone="alexnet")
    with pytest.raises(UserError, match=r"--weights .*nope\.pt: file not found"):
        extract_features(tiny_dataset.root, tmp_path / "f", backbone="small_cnn", weights=str(tmp_path / "nope.pt"))
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match=r"junk\.pt: not a readable PyTorch state dict"):
        extract_features(tiny_dataset.root, tmp_path / "f", backbone="small_cnn", weights=str(tmp_path / "junk.pt"))
    with pytest.raises(DataError, match="has no 'image' path"):
        extract_features(fixtures_wiki, tmp_path / "f", backbone="small_cnn")
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "keep").write_text("x")
    with pytest.raises(UserError, match="not empty"):
        extract_features(tiny_dataset.root, tmp_path / "g", backbone="small_cnn")
    assert not (tmp_path / "f").exists() and not (tmp_path / ".f.partial").exists()
    with pytest.raises(DataError, match=r"header\.json: not found"):
        load_features(tmp_path / "g")


def test_small_cnn_weights_from_a_twotower_checkpoint(tmp_path, tiny_dataset):
    import torch

    cfg = resolve_config(None, SMALL, data__root=str(tiny_dataset.root))
    run = train(cfg, tmp_path / "run")
    state = torch.load(run.checkpoint("best"), weights_only=False)["model"]
    torch.save({k: v for k, v in state.items() if isinstance(v, torch.Tensor)}, tmp_path / "tt.pt")
    fs = extract_features(tiny_dataset.root, tmp_path / "f", backbone="small_cnn", weights=str(tmp_path / "tt.pt"), attach=False)
    assert fs.header["weights"]["pretrained"] is True and len(fs.header["weights"]["sha256"]) == 64


def test_cli_extract(capsys, tmp_path, tiny_dataset):
    code = main(["-q", "features", "extract", str(tiny_dataset.root), "--backbone", "small_cnn", "--out", str(tmp_path / "f"),
                 ])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "wrote" in out and "40/40 items, small_cnn 128-d global + 9 regions" in out
    assert "features" not in json.loads((tiny_dataset.root / "dataset.json").read_text())
    code = main(["features", "info", str(tmp_path / "f")])
    out, _ = capsys.readouterr()
    assert code == 0 and json.loads(out)["backbone"] == "small_cnn"
    code = main(["features", "extract", str(tiny_dataset.root), "--backbone", "small_cnn", "--weights", "/nope",
                 "--out", str(tmp_path / "g")])
    _, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: --weights /nope: file not found")
    assert not (tmp_path / "g").exists()


def test_cli_backbone_names_match_registry():
    from crossmedia.cli.features import BACKBONE_NAMES, DEFAULT_BACKBONE
    from crossmedia.features.backbones import BACKBONES
    from crossmedia.features.backbones import DEFAULT_BACKBONE as D

    assert tuple(BACKBONES) == BACKBONE_NAMES and DEFAULT_BACKBONE == D


def test_threads_apply_to_the_extraction_only(tmp_path, tiny_dataset, monkeypatch):
    import torch

    before = torch.get_num_threads()
    want = 1 if before != 1 else 2
    seen = []
    real = extract_mod._run_chunk

    def spy(*a, **k):
        seen.append(torch.get_num_threads())
        return real(*a, **k)

    monkeypatch.setattr(extract_mod, "_run_chunk", spy)
    extract_features(tiny_dataset.root, tmp_path / "feats", backbone="small_cnn", regions=False, threads=want,
                     echo=lambda m: None)
    assert seen and set(seen) == {want}
    assert torch.get_num_threads() == before  # the caller's thread count again
