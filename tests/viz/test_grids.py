from PIL import Image

from crossmedia.viz.grids import GREEN, RED, retrieval_grid


def test_grid_png_with_frames(tmp_path):
    img = Image.new("RGB", (20, 20), (0, 0, 255))
    rows = [{"query": "a red circle", "label": "t2i", "results": [(img, True), (img, False)]},
            {"query": img, "label": "i2t", "results": [("text one", True)]}]
    path = retrieval_grid(rows, tmp_path / "g.png", cell=40, title="demo")
    out = Image.open(path)
    assert out.format == "PNG" and out.width > 3 * 40
    colours = {c for _, c in out.getcolors(maxcolors=100000)}
    assert GREEN in colours and RED in colours
    assert [p.name for p in tmp_path.iterdir()] == ["g.png"]
