"""A model trained on Chinese keywords answers a Chinese text query (tokenizer recorded in the run)."""

import sys
from pathlib import Path

import pytest

from crossmedia.cli.main import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from emoji_packages import write_packages  # noqa: E402


def test_search_chinese_keywords(tmp_path, capsys):
    pytest.importorskip("jieba")
    src = write_packages(tmp_path / "npm")
    data = tmp_path / "zh"
    assert main(["-q", "data", "prepare", "emoji", "--src", str(src), "--out", str(data), "--lang", "zh"]) == 0
    assert main(["-q", "data", "info", str(data)]) == 0
    out = capsys.readouterr().out
    assert "tokenizer jieba (recorded in dataset.json)" in out
    assert "drops" not in out and "have no token" not in out  # jieba segments the text: no tokenizer warning
    run = tmp_path / "run"
    assert main(["-q", "train", "--model", "twotower", "--data", str(data), "--out", str(run), "--bits", "16",
                 "--set", "model.cnn_channels=[4, 8, 8, 8]", "--set", "model.text_hidden=16", "--set", "train.epochs=1",
                 "--set", "train.val_every=0", "--set", "train.threads=1", "--set", "data.image_size=24"]) == 0
    ix = tmp_path / "ix"
    assert main(["-q", "index", "build", "--run", str(run), "--data", str(data), "--out", str(ix)]) == 0
    capsys.readouterr()
    import json

    vocab = json.loads((run / "vocab.json").read_text(encoding="utf-8"))
    word = next(w for w in vocab[2:] if w in ("蛋糕", "水果", "快乐", "微笑"))
    assert main(["search", str(ix), "--text", f"我想看{word}", "-k", "3", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert len(res["hits"]) == 3
