import json

import pytest
from PIL import Image

from crossmedia.cli.main import main


@pytest.mark.slow
def test_demo_quick_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| model |" in printed and "image->text" in printed and "text->image" in printed
    res = json.loads((out / "results.json").read_text())
    assert res["protocol"]["name"] == "default" and res["seed"] == 0
    assert res["evaluation"]["tie_policy"] == "index"
    rows = res["results"]
    assert {r["direction"] for r in rows} == {"image->text", "text->image"}
    assert {r["model"] for r in rows} == {"cmsl", "cdq"}  # CMSL and its CDQ reference
    for r in rows:
        assert r["metric"] == "map_all" and r["metric_spec"]
        # clearly above the expected MAP of a random ranking
        assert r["map"] > r["random_map"] + 0.03, r
    cmp_png = Image.open(out / "comparison" / "comparison.png")
    assert cmp_png.format == "PNG" and res["comparison_png"].endswith("comparison.png")
    png = Image.open(out / "examples.png")
    assert png.format == "PNG" and png.width > 400
    assert "epoch   1/9  loss" in printed and "val map_all" in printed and "demo finished in" in printed


def test_demo_prints_validation_per_epoch_and_a_summary(tmp_path, monkeypatch):
    """A tiny plan through the real demo code: one line per epoch with the validation mAP, the
    table, then a short summary naming the pictures and what to run next."""
    from crossmedia import demo

    monkeypatch.setitem(demo.SIZES, "quick", {"n": 60, "epochs": 2})
    plan = [(name, {"bits": 8, "cnn_channels": [4, 8, 8, 8], "text_hidden": 16}, {"batch_size": 16})
            for name in ("twotower", "dcmh")]
    lines = []
    import torch

    before = torch.get_num_threads()
    other = 1 if before != 1 else 2
    res = demo.run_demo(tmp_path / "d", quick=True, plan=plan, echo=lines.append, threads=other)
    assert torch.get_num_threads() == before  # the demo's thread count was its own
    assert f"({other} torch threads)" in "\n".join(lines)
    text = "\n".join(lines)
    assert text.count("val map_all") == 4 and "  epoch   2/2  loss" in text
    summary = text[text.index("demo finished in"):]
    assert "twotower-8b" in summary and "mAP@all image->text" in summary and "random ranking" in summary
    assert "examples.png" in summary and "crossmedia index build --run" in summary
    assert res["comparison_png"] and (tmp_path / "d" / "comparison" / "comparison.png").is_file()
