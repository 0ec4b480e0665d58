"""The tokenizer is chosen from the data at prepare time, recorded, and used by runs; prepare and
``data info`` warn when it drops most characters."""

import json

import numpy as np
import pytest
from PIL import Image

from crossmedia.cli.main import main
from crossmedia.data import Dataset

CAPTIONS = ["红色的苹果在桌子上", "一只小狗在草地上跑", "蓝色的天空和白云", "草莓蛋糕很好吃", "孩子们在公园里玩"]


def _folder(root, n=40):
    root.mkdir(parents=True)
    rows = []
    for i in range(n):
        Image.fromarray(np.full((8, 8, 3), 10 * (i % 20), np.uint8)).save(root / f"{i}.png")
        rows.append({"image": f"{i}.png", "text": CAPTIONS[i % 5] + f" {i}", "labels": [f"c{i % 5}"]})
    (root / "manifest.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    return root


def test_chinese_captions_detected_recorded_and_warned_under_ascii(tmp_path, capsys):
    pytest.importorskip("jieba")
    src = _folder(tmp_path / "src")
    out = tmp_path / "auto"
    assert main(["-q", "data", "prepare", "folder", "--src", str(src), "--out", str(out)]) == 0
    ds = Dataset.load(out)
    assert ds.meta["tokenizer"] == "jieba" and ds.meta["text"]["tokenizer"] == "jieba"
    vocab = json.loads((out / "text" / "vocab.json").read_text(encoding="utf-8"))
    assert "苹果" in vocab or "草莓" in vocab
    assert json.loads((out / "prepare_report.json").read_text(encoding="utf-8"))["warnings"] == []
    capsys.readouterr()
    bad = tmp_path / "ascii"
    assert main(["-q", "data", "prepare", "folder", "--src", str(src), "--out", str(bad), "--tokenizer", "ascii"]) == 0
    out_text = capsys.readouterr().out
    assert "warning: text field 'caption': tokenizer ascii drops" in out_text
    report = json.loads((bad / "prepare_report.json").read_text(encoding="utf-8"))
    assert any("drops" in w for w in report["warnings"])
    assert main(["data", "info", str(bad)]) == 0
    assert "warning   text field 'caption': tokenizer ascii drops" in capsys.readouterr().out
    # a run on the dataset uses (and records) the dataset's tokenizer
    from crossmedia.data.loading import load_run_data

    rd = load_run_data({"root": str(out), "protocol": "default", "text_field": "caption", "image_source": "pixels",
                        "tokenizer": "auto", "max_tokens": 16})
    assert rd.vocab.tokenizer.spec == "jieba"
    rd2 = load_run_data({"root": str(out), "protocol": "default", "text_field": "caption", "image_source": "pixels",
                         "tokenizer": "chars:2", "max_tokens": 16})
    assert rd2.vocab.tokenizer.spec == "chars:2" and "苹" in rd2.vocab.index
