"""Attention localisation: does a word attend to the part of the picture that shows what it names?

Two datasets know where their objects are: the embedded synthetic scenes (shape and colour words,
:func:`attention_localization`) and the icon scenes (every icon's box, :func:`icon_attention_localization`).

**Synthetic scenes.**

For every evaluated item and every object whose shape occurs once in its scene, each caption
token naming that shape (a synonym from :data:`crossmedia.data.synth.SHAPE_SYNONYMS`; of a
two-word synonym — "round shape", "plus sign" — its first word) is one trial. The word's
attention row over the model's regions (:meth:`RetrievalModel.word_region_attention`) is summed
per scene cell (:func:`crossmedia.data.synth.cell_of_region`); the trial is a *hit* when the
object's cell gets the most mass. Chance is 1/9 (nine cells).
"""

from __future__ import annotations

import numpy as np
import torch

from ..data.synth import CELLS, COLOURS, SHAPE_SYNONYMS, cell_of_region
from ..data.text import tokenize
from ..errors import UserError
from ..models.base import attention_rows
from ..models.encoders.regions import square_side

__all__ = ["shape_word_trials", "attention_localization", "icon_word_trials", "icon_attention_localization"]


def _shape_words() -> dict[str, str]:
    out = {}
    for shape, syns in SHAPE_SYNONYMS.items():
        for s in syns:
            out[s.split()[0]] = shape
    return out


def shape_word_trials(item: dict, max_tokens: int, kind: str = "shape") -> list[tuple[int, int]]:
    """(token position, object cell) for each caption token naming a shape (``kind="shape"``) or a
    colour (``kind="colour"``) that occurs on exactly one object of the scene."""
    objects = item.get("objects") or []
    attr = [o[kind] for o in objects]
    cell = {o[kind]: o["row"] * 3 + o["col"] for o in objects if attr.count(o[kind]) == 1}
    words = _shape_words() if kind == "shape" else {c: c for c in COLOURS}
    out = []
    for pos, w in enumerate(tokenize(item.get("caption", ""))[:max_tokens]):
        name = words.get(w)
        if name in cell:
            out.append((pos, cell[name]))
    return out


def _item_attention(model, rd, indices, batch_size: int):
    """(item index, token ids (T,), word → region attention (n_words, R), attention-row mask (T,))
    of each of ``indices``, batch by batch, the model in eval mode (its mode restored after)."""
    was = model.training
    model.eval()
    try:
        indices = np.asarray(indices)
        for s in range(0, len(indices), batch_size):
            idx = indices[s : s + batch_size]
            b = rd.tensors.batch(idx)
            attn = model.word_region_attention(b, b)
            for k, i in enumerate(idx):
                tokens = b["tokens"][k]
                yield int(i), tokens.cpu().numpy(), attn[k].float().cpu().numpy(), attention_rows(tokens).cpu().numpy()
    finally:
        model.train(was)


@torch.no_grad()
def attention_localization(model, rd, indices, batch_size: int = 128, kind: str = "shape") -> dict:
    """Hit rate of the shape words' (``kind="colour"``: colour words') attention over ``indices``
    of ``rd`` (a :class:`RunData` on a synthetic-scenes dataset with ``data.text_field=caption``)."""
    if kind not in ("shape", "colour"):
        raise ValueError(f"kind: expected 'shape' or 'colour', got {kind!r}")
    if rd.tensors.text_field != "caption":
        raise UserError("attention localisation needs data.text_field=caption (shape words in captions)")
    if not model.supports_fine_grained:
        raise UserError(f"model {model.model_name}: attention localisation needs word-region attention")
    grid = model.region_grid
    if not grid:
        raise UserError(f"model {model.model_name}: attention localisation needs a square region grid")
    cell_of = np.array([cell_of_region(r, grid)[0] * 3 + cell_of_region(r, grid)[1] for r in range(grid * grid)])
    hits, trials, mass = 0, 0, []
    max_tokens = rd.tensors.tokens.shape[1]
    for i, _, a, keep in _item_attention(model, rd, indices, batch_size):
        row_of = np.cumsum(keep) - 1  # token position → attention row (in-vocabulary words only)
        for pos, cell in shape_word_trials(rd.dataset.items[i], max_tokens, kind):
            if pos >= len(keep) or not keep[pos]:
                continue
            per_cell = np.bincount(cell_of, weights=a[int(row_of[pos])], minlength=CELLS)
            hits += int(per_cell.argmax() == cell)
            mass.append(float(per_cell[cell]))
            trials += 1
    return {"hit_rate": hits / trials if trials else float("nan"), "trials": trials,
            "mean_mass_on_object_cell": float(np.mean(mass)) if mass else float("nan"),
            "chance": 1.0 / CELLS, "grid": int(grid), "words": kind,
            "rule": f"hit = the object's scene cell receives the most attention mass of the caption's {kind} word "
                    f"(objects whose {kind} is unique in the scene); chance = 1/9"}


# ---------------------------------------------------------------------------- icon scenes
#: words of an icon's name that name nothing by themselves
STOP_WORDS = frozenset({"a", "an", "the", "of", "and", "with", "in", "on", "to", "at", "for", "or"})


def _name_words(name: str, vocab, as_tag: bool) -> set[str]:
    # a tag list keeps each tag whole (one token per tag); running text is split into words
    return {w for w in vocab.tokenize([name] if as_tag else name) if w not in STOP_WORDS}


def icon_word_trials(item: dict, vocab, text_field: str) -> list[tuple[int, tuple[int, int, int, int]]]:
    """(vocabulary id, icon box (x0, y0, x1, y1) in pixels) for each word of the item's text that
    names exactly one icon of the scene: a word of that icon's name (the whole name for tag
    texts), in the vocabulary, in no other icon's name in the scene, and present in the text."""
    text = item.get(text_field)
    if text is None:
        return []
    as_tag = not isinstance(text, str)
    present = set(vocab.tokenize(text))
    words = [_name_words(ic["name"], vocab, as_tag) for ic in item.get("icons") or []]
    out = []
    for j, ic in enumerate(item.get("icons") or []):
        others = set().union(*(w for k, w in enumerate(words) if k != j))
        for w in sorted(words[j] - others):
            wid = vocab.index.get(w)
            if wid is not None and wid >= 2 and w in present:
                out.append((int(wid), tuple(int(v) for v in ic["bbox"])))
    return out


def object_cells(box, grid: int, image_size: int) -> np.ndarray:
    """Row-major cells (of a ``grid`` × ``grid`` split of the picture) whose centre lies in
    ``box``; the cell holding the box's centre when none does (an icon smaller than a cell)."""
    x0, y0, x1, y1 = box
    c = (np.arange(grid) + 0.5) * image_size / grid
    cols = np.flatnonzero((c >= x0) & (c < x1))
    rows = np.flatnonzero((c >= y0) & (c < y1))
    if len(cols) and len(rows):
        return (rows[:, None] * grid + cols[None, :]).ravel()
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return np.array([min(int(cy * grid / image_size), grid - 1) * grid + min(int(cx * grid / image_size), grid - 1)])


@torch.no_grad()
def icon_attention_localization(model, rd, indices, batch_size: int = 64) -> dict:
    """Hit rate of word → region attention on icon scenes: for every trial of
    :func:`icon_word_trials` over the items ``indices`` of ``rd`` (a :class:`RunData` on an
    icon-scene dataset, any text field), a *hit* is when the region the word attends to most
    lies in the icon's box (:func:`object_cells`). Chance, per trial, is the share of the grid's
    cells in the box (the hit rate of a word attending to a random region), averaged over trials;
    also the mean attention mass on the icon's cells against that share."""
    if not model.supports_fine_grained:
        raise UserError(f"model {model.model_name}: attention localisation needs word-region attention")
    src = rd.dataset.meta.get("source") or {}
    if src.get("generator") != "crossmedia.data.icon_scenes" or not src.get("image_size"):
        raise UserError(f"{rd.dataset.root}: attention localisation on icons needs an icon-scene dataset "
                        "(crossmedia data synth-icons), whose items record each icon's box")
    size = int(src["image_size"])
    field = rd.tensors.text_field
    hits, area, mass, grid = [], [], [], model.region_grid
    for i, tokens, a, keep in _item_attention(model, rd, indices, batch_size):
        if a.size == 0:
            continue
        grid = grid or square_side(a.shape[1])
        if grid is None:
            raise UserError(f"model {model.model_name}: {a.shape[1]} regions are not a square grid")
        row_of = np.cumsum(keep) - 1
        for wid, box in icon_word_trials(rd.dataset.items[i], rd.vocab, field):
            pos = np.flatnonzero(tokens == wid)
            if not len(pos):  # cut by max_tokens
                continue
            row = a[int(row_of[pos[0]])]
            cells = object_cells(box, grid, size)
            hits.append(float(np.isin(int(row.argmax()), cells)))
            area.append(len(cells) / row.size)  # the share of the grid in the box: the trial's chance
            mass.append(float(row[cells].sum()))
    n = len(hits)
    chance = float(np.mean(area)) if n else float("nan")
    return {"hit_rate": float(np.mean(hits)) if n else float("nan"), "trials": n, "chance": chance,
            "mean_mass_on_icon": float(np.mean(mass)) if n else float("nan"),
            "mean_icon_area": chance, "grid": grid, "text_field": field,
            "rule": "hit = the region with the word's largest attention has its centre in the named icon's box "
                    "(words naming exactly one icon of the scene); chance = share of the grid's cells in the box, "
                    "averaged over trials"}
