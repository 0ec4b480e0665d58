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
