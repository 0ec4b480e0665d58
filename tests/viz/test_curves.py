import os

import numpy as np

from crossmedia.viz.curves import plot_pr_curves, plot_precision_at_n

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path):
    with open(path, "rb") as f:
        head = f.read(8)
    return head == PNG_MAGIC and os.path.getsize(path) > 100


def test_plot_pr_curves_writes_png(tmp_path):
    out = tmp_path / "sub" / "pr.png"
    r = np.linspace(0, 1, 11)
    got = plot_pr_curves({"ours": (r, 1 - 0.5 * r), "baseline": (r, 0.5 * np.ones(11))}, out, "PR")
    assert got == out and _is_png(out)
    assert [p.name for p in out.parent.iterdir()] == ["pr.png"]  # no temporary files left


def test_plot_precision_at_n_writes_png(tmp_path):
    out = tmp_path / "pn.png"
    ns = np.array([1, 10, 100, 1000, 10000])
    plot_precision_at_n({"16 bits": (ns, [0.9, 0.8, 0.7, 0.6, 0.5])}, out, "P@N")
    assert _is_png(out)
    plot_precision_at_n({"16 bits": (ns, [0.9, 0.8, 0.7, 0.6, 0.4])}, out, "P@N again")  # overwrite in place
    assert _is_png(out) and os.listdir(tmp_path) == ["pn.png"]
