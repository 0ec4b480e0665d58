"""Attention localisation on the embedded synthetic scenes: does a caption's shape word attend to
the grid cell that holds that object?

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

__all__ = ["shape_word_trials", "attention_localization"]


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
    was = model.training
    model.eval()
    hits, trials, mass = 0, 0, []
    indices = np.asarray(indices)
    max_tokens = rd.tensors.tokens.shape[1]
    for s in range(0, len(indices), batch_size):
        idx = indices[s : s + batch_size]
        b = rd.tensors.batch(idx)
        attn = model.word_region_attention(b, b)
        for k, i in enumerate(idx):
            a = attn[k].cpu().numpy()
            keep = attention_rows(b["tokens"][k]).cpu().numpy()
            row_of = np.cumsum(keep) - 1  # token position → attention row (in-vocabulary words only)
            for pos, cell in shape_word_trials(rd.dataset.items[int(i)], max_tokens, kind):
                if pos >= len(keep) or not keep[pos]:
                    continue
                pos = int(row_of[pos])
                per_cell = np.bincount(cell_of, weights=a[pos], minlength=CELLS)
                hits += int(per_cell.argmax() == cell)
                mass.append(float(per_cell[cell]))
                trials += 1
    model.train(was)
    return {"hit_rate": hits / trials if trials else float("nan"), "trials": trials,
            "mean_mass_on_object_cell": float(np.mean(mass)) if mass else float("nan"),
            "chance": 1.0 / CELLS, "grid": int(grid), "words": kind,
            "rule": f"hit = the object's scene cell receives the most attention mass of the caption's {kind} word "
                    f"(objects whose {kind} is unique in the scene); chance = 1/9"}
