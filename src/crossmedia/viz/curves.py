"""Precision-recall and precision@N plots (PNG). matplotlib is imported inside the functions
with the Agg backend, so importing crossmedia never touches a display; files are written
atomically (temporary file in the same directory, then os.replace)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _figure():
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(5.0, 4.0), dpi=120)
    return plt, fig, ax


def _save(plt, fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, format="png", bbox_inches="tight")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    finally:
        plt.close(fig)
    return path


def plot_pr_curves(curves: dict, path, title: str = "Precision-recall") -> Path:
    """Plot ``{label: (recall, precision)}`` as precision-recall curves into a PNG at ``path``."""
    plt, fig, ax = _figure()
    for label, (recall, precision) in curves.items():
        ax.plot(list(recall), list(precision), marker=".", markersize=3, linewidth=1.2, label=str(label))
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.02)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if curves:
        ax.legend(fontsize="small")
    return _save(plt, fig, path)


def plot_precision_at_n(curves: dict, path, title: str = "Precision@N") -> Path:
    """Plot ``{label: (ns, precision)}`` as precision against the number of retrieved items N
    (log-scaled x axis when N spans more than two decades) into a PNG at ``path``."""
    plt, fig, ax = _figure()
    span = 1.0
    for label, (ns, precision) in curves.items():
        ns = [float(n) for n in ns]
        if ns:
            span = max(span, max(ns) / max(min(ns), 1.0))
        ax.plot(ns, list(precision), linewidth=1.2, label=str(label))
    if span > 100:
        ax.set_xscale("log")
    ax.set_xlabel("N (items retrieved)")
    ax.set_ylabel("precision@N")
    ax.set_ylim(0.0, 1.02)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if curves:
        ax.legend(fontsize="small")
    return _save(plt, fig, path)
