"""Retrieval pictures: one row per query — the query (image or text) then its top-k results,
each framed green when relevant and red when not (relevance = shares a label), with an optional
note under each cell (its labels) so a reader can check the frame colour."""

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


NOTE_LINES = 3
NOTE_H = 11 * NOTE_LINES + 2


def _draw_note(d: ImageDraw.ImageDraw, x: int, y: int, text: str | None, width_px: int) -> None:
    """Up to :data:`NOTE_LINES` short lines of ``text`` under a cell."""
    if not text:
        return
    chars = max(6, width_px // 6)
    lines = textwrap.wrap(text, width=chars)
    if len(lines) > NOTE_LINES:
        lines = lines[: NOTE_LINES - 1] + [lines[NOTE_LINES - 1][: chars - 1] + "…"]
    d.multiline_text((x, y), "\n".join(lines), fill=(60, 60, 60), font=ImageFont.load_default(), spacing=1)


def _split(res) -> tuple:
    """(cell, relevant, note) of a result given as (cell, relevant) or (cell, relevant, note)."""
    return (res[0], res[1], res[2] if len(res) > 2 else None)


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
    """Write a PNG grid. Each row: ``{"query": PIL image or str, "label": str, "query_note": str
    (optional), "results": [(PIL image or str, relevant: bool, note: str (optional)), ...]}``;
    notes (e.g. the labels) are written under the cells."""
    border, gap, label_h = 3, 6, 14
    notes = any(row.get("query_note") or any(_split(r)[2] for r in row["results"]) for row in rows)
    note_h = NOTE_H if notes else 0
    k = max((len(r["results"]) for r in rows), default=0)
    w = (k + 1) * (cell + 2 * border) + k * 2 + gap + 10
    title_h = 18 if title else 0
    row_h = cell + 2 * border + label_h + 4 + note_h
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
        _draw_note(d, x, y + cell + 2 * border + 1, row.get("query_note"), cell + 2 * border)
        x += cell + 2 * border + gap
        for r in row["results"]:
            res, relevant, note = _split(r)
            rc = res.resize((cell, cell), Image.NEAREST) if isinstance(res, Image.Image) else _text_cell(str(res), cell)
            canvas.paste(_framed(rc, GREY if relevant is None else (GREEN if relevant else RED), border), (x, y))
            _draw_note(d, x, y + cell + 2 * border + 1, note, cell + 2 * border)
            x += cell + 2 * border + 2
    path = Path(path)
    with atomic_path(path) as tmp:
        canvas.save(tmp, format="PNG")
    return path
