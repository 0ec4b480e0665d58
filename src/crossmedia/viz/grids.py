"""Retrieval pictures: one row per query — the query (image or text) then its top-k results,
each framed green when relevant and red when not (relevance = shares a label)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Sequence

from PIL import Image, ImageDraw, ImageFont

from ..io import atomic_path

GREEN, RED, GREY = (40, 160, 60), (200, 40, 40), (120, 120, 120)


def _text_cell(text: str, size: int, width_chars: int | None = None) -> Image.Image:
    cell = Image.new("RGB", (size, size), (250, 250, 250))
    d = ImageDraw.Draw(cell)
    font = ImageFont.load_default()
    width_chars = width_chars or max(8, size // 6)
    lines = textwrap.wrap(text, width=width_chars)
    max_lines = max(1, (size - 4) // 11)
    if len(lines) > max_lines:
        lines = lines[: max_lines - 1] + [lines[max_lines - 1][: width_chars - 1] + "…"]
    d.multiline_text((3, 2), "\n".join(lines), fill=(20, 20, 20), font=font, spacing=1)
    return cell


def _framed(cell: Image.Image, colour, border: int = 3) -> Image.Image:
    out = Image.new("RGB", (cell.width + 2 * border, cell.height + 2 * border), colour)
    out.paste(cell, (border, border))
    return out


def retrieval_grid(
    rows: Sequence[dict],
    path: str | Path,
    cell: int = 96,
    title: str | None = None,
) -> Path:
    """Write a PNG grid. Each row: ``{"query": PIL image or str, "label": str,
    "results": [(PIL image or str, relevant: bool), ...]}``."""
    border, gap, label_h = 3, 6, 14
    k = max((len(r["results"]) for r in rows), default=0)
    w = (k + 1) * (cell + 2 * border) + k * 2 + gap + 10
    title_h = 18 if title else 0
    row_h = cell + 2 * border + label_h + 4
    canvas = Image.new("RGB", (w, title_h + len(rows) * row_h + 6), (255, 255, 255))
    d = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    if title:
        d.text((5, 3), title, fill=(0, 0, 0), font=font)
    for r_i, row in enumerate(rows):
        y = title_h + r_i * row_h
        d.text((5, y), row.get("label", ""), fill=(0, 0, 0), font=font)
        y += label_h
        x = 5
        q = row["query"]
        qc = q.resize((cell, cell), Image.NEAREST) if isinstance(q, Image.Image) else _text_cell(str(q), cell)
        canvas.paste(_framed(qc, GREY, border), (x, y))
        x += cell + 2 * border + gap
        for res, relevant in row["results"]:
            rc = res.resize((cell, cell), Image.NEAREST) if isinstance(res, Image.Image) else _text_cell(str(res), cell)
            canvas.paste(_framed(rc, GREEN if relevant else RED, border), (x, y))
            x += cell + 2 * border + 2
    path = Path(path)
    with atomic_path(path) as tmp:
        canvas.save(tmp, format="PNG")
    return path
