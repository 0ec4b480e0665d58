"""Deterministic synthetic scenes: the embedded dataset (DATASETS.md, "Synthetic scenes").

A scene is an RGB image (default 72×72, a 3×3 grid of 24×24 cells) holding 1–4 coloured shapes,
each in its own grid cell, on a light grey, noisy, lightly cluttered background. Every scene
comes with

* a **caption** that binds each object's colour to its shape in one noun phrase ("a big red
  disc") and places it absolutely ("in the top left corner") or relative to another object
  ("above a blue square"), from :data:`TEMPLATES` with synonyms (:data:`SHAPE_SYNONYMS`,
  :data:`SIZE_SYNONYMS`), so a bag of words cannot tell "red circle, blue square" from "blue
  circle, red square";
* **tags**, the Flickr-like word set: the canonical colour and shape words of the objects
  (``true_tags``), each dropped with probability ``p_drop``, plus wrong visual words and
  non-visual filler words (rule in :func:`make_tags`);
* **labels**, multi-hot over the 48 (colour, shape) pairs (:data:`LABEL_NAMES`), and the coarser
  shape-only ``shape_labels`` (:data:`SHAPE_LABEL_NAMES`);
* **region ground truth**: each object's grid cell and pixel box (:class:`SceneObject`), the
  cell → object map :func:`objects_mask`, and :func:`cell_of_region` to map a region of a
  ``grid × grid`` feature map to the scene cell containing its centre.

Everything is drawn from one :class:`numpy.random.Generator`; the same generator state gives
byte-identical images and identical captions and tags. Object pixels carry the exact object
colour (no antialiasing, no noise over them), and the background and clutter never use an object
colour: every channel of the background is ≥ :data:`BACKGROUND_MIN`, while every object colour
has a channel below it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

__all__ = [
    "BACKGROUND_MIN", "CELLS", "COLOURS", "FILLER_TAGS", "GRID", "LABEL_NAMES", "SCENE_TAG_WORDS",
    "SHAPES", "SHAPE_LABEL_NAMES", "THEMES", "SHAPE_SYNONYMS", "SIZES", "SIZE_SYNONYMS", "TEMPLATES",
    "Scene", "SceneObject", "cell_of_region", "compose_caption", "generate_scene", "label_index",
    "make_caption", "make_tags", "objects_mask", "render_scene", "sample_objects",
]

GRID = 3
"""The scene layout is a ``GRID × GRID`` grid of cells."""
CELLS = GRID * GRID

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "orange": (245, 140, 0),
    "yellow": (235, 205, 0),
    "green": (30, 150, 50),
    "blue": (30, 70, 220),
    "purple": (140, 40, 180),
    "brown": (120, 70, 30),
    "black": (20, 20, 20),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross", "ring")
SIZES: tuple[str, ...] = ("small", "large")

LABEL_NAMES: list[str] = [f"{c} {s}" for c in COLOURS for s in SHAPES]
SHAPE_LABEL_NAMES: list[str] = list(SHAPES)

SHAPE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "circle": ("circle", "disc", "round shape"),
    "square": ("square", "box", "block"),
    "triangle": ("triangle",),
    "star": ("star",),
    "cross": ("cross", "plus sign"),
    "ring": ("ring", "donut", "hoop"),
}
SIZE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "small": ("small", "little", "tiny"),
    "large": ("large", "big", "huge"),
}

THEMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "fire": (("red", "orange", "yellow"), ("triangle", "star")),
    "sea": (("blue", "green", "purple"), ("circle", "ring")),
    "earth": (("brown", "green", "black"), ("square", "cross")),
    "night": (("black", "blue", "purple"), ("star", "circle")),
    "candy": (("red", "yellow", "purple"), ("ring", "square")),
    "forest": (("green", "brown", "orange"), ("triangle", "cross")),
}
"""Scene themes (``theme_strength`` > 0): a palette of 3 colours × a family of 2 shapes each, so
that, as in real photo collections, words co-occur (a scene with "blue" and "ring" probably has
"circle" or "purple" too) and a sparse tag set can be completed from its co-occurring words —
the regularity CMSL's semantic expansion exploits. Every colour and shape is in ≥ 2 themes."""

SCENE_TAG_WORDS: tuple[str, ...] = tuple(COLOURS) + SHAPES
"""The visual tag vocabulary: canonical colour and shape words (true and wrong tags come from it)."""
FILLER_TAGS: tuple[str, ...] = ("nice", "photo", "art", "abstract", "color", "shapes", "geometry", "pattern")
"""Non-visual "social" tags, added with probability ``p_filler``; neither true nor counted as noise."""

BACKGROUND_MIN = 150
"""Every background/clutter channel value is at least this; every object colour has a channel below it."""

_SIZE_FRACTION = {"small": (0.45, 0.55), "large": (0.80, 0.90)}
_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

# Absolute position phrases per grid cell (row, col); all of them read after a noun phrase or
# at the start of a sentence ("In the top left corner there is ...").
_POSITION_PHRASES: dict[tuple[int, int], tuple[str, ...]] = {
    (0, 0): ("in the top left corner", "in the upper left corner", "at the top left"),
    (0, 1): ("at the top", "at the top centre", "in the middle of the top row"),
    (0, 2): ("in the top right corner", "in the upper right corner", "at the top right"),
    (1, 0): ("on the left", "on the left side", "at the middle left"),
    (1, 1): ("in the centre", "in the middle", "at the centre"),
    (1, 2): ("on the right", "on the right side", "at the middle right"),
    (2, 0): ("in the bottom left corner", "in the lower left corner", "at the bottom left"),
    (2, 1): ("at the bottom", "at the bottom centre", "in the middle of the bottom row"),
    (2, 2): ("in the bottom right corner", "in the lower right corner", "at the bottom right"),
}
_PICTURE_PREFIXES = ("An image of", "A picture showing", "A drawing of", "A scene with")

TEMPLATES: tuple[str, ...] = (
    "there_is",        # There is a small red circle in the top left corner, a black ring in the centre and ...
    "count",           # Three shapes: a big red disc at the top, a blue box on the left and ...
    "picture",         # A picture showing a red star in the centre and a tiny green ring at the bottom.
    "position_first",  # In the top left corner there is a red circle; in the centre there is a black ring.
    "chain",           # A small red circle above a large blue square. A green star is left of the blue square.
    "anchor",          # A blue square in the centre, with a red circle above it and a green star next to it.
    "plain",           # Shapes on a grey background: a red circle, a blue square and a green star.
)
"""Caption template names (see :func:`compose_caption`)."""


# --------------------------------------------------------------------------------------------
# data classes
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SceneObject:
    """One object: attributes, grid cell (``row``, ``col`` in 0..2) and pixel box.

    ``bbox`` is ``(x0, y0, x1, y1)`` with ``x1``/``y1`` exclusive: the square the shape is
    inscribed in; it always lies inside the object's grid cell.
    """

    colour: str
    shape: str
    size: str
    row: int
    col: int
    bbox: tuple[int, int, int, int]

    @property
    def cell(self) -> int:
        """Row-major index of the object's grid cell (0..8)."""
        return self.row * GRID + self.col

    @property
    def label(self) -> int:
        return label_index(self.colour, self.shape)

    def to_dict(self) -> dict:
        return {"colour": self.colour, "shape": self.shape, "size": self.size, "row": int(self.row),
                "col": int(self.col), "bbox": [int(v) for v in self.bbox]}

    @classmethod
    def from_dict(cls, d: dict) -> "SceneObject":
        try:
            bbox = tuple(int(v) for v in d["bbox"])
            obj = cls(colour=str(d["colour"]), shape=str(d["shape"]), size=str(d["size"]),
                      row=int(d["row"]), col=int(d["col"]), bbox=bbox)  # type: ignore[arg-type]
        except KeyError as e:
            raise ValueError(f"scene object: missing field {e.args[0]!r} in {d!r}") from None
        _check_object(obj)
        return obj


@dataclass
class Scene:
    """Everything generated with one image except the pixels."""

    objects: list[SceneObject]
    caption: str
    tags: list[str]
    true_tags: list[str]
    labels: list[int]
    shape_labels: list[int]
    theme: str | None = None  # the scene's theme (generator ``theme_strength`` > 0), else None


def label_index(colour: str, shape: str) -> int:
    """Index of ``"colour shape"`` in :data:`LABEL_NAMES` (colour-major)."""
    if colour not in COLOURS:
        raise ValueError(f"colour: expected one of {list(COLOURS)}, got {colour!r}")
    if shape not in SHAPES:
        raise ValueError(f"shape: expected one of {list(SHAPES)}, got {shape!r}")
    return list(COLOURS).index(colour) * len(SHAPES) + SHAPES.index(shape)


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------

def _check_rng(rng) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng: expected a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}")


def _check_image_size(image_size) -> None:
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) \
            or image_size < 8 * GRID or image_size % GRID:
        raise ValueError(f"image_size: expected an integer multiple of {GRID} that is at least {8 * GRID}, "
                         f"got {image_size!r}")


def _check_prob(name: str, p) -> None:
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: expected a probability in [0, 1], got {p!r}")


def _check_counts(min_objects, max_objects) -> None:
    for name, v in (("min_objects", min_objects), ("max_objects", max_objects)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= v <= CELLS:
            raise ValueError(f"{name}: expected an integer in [1, {CELLS}], got {v!r}")
    if min_objects > max_objects:
        raise ValueError(f"min_objects: expected at most max_objects ({max_objects}), got {min_objects}")


def _check_object(o: SceneObject) -> None:
    if o.colour not in COLOURS:
        raise ValueError(f"colour: expected one of {list(COLOURS)}, got {o.colour!r}")
    if o.shape not in SHAPES:
        raise ValueError(f"shape: expected one of {list(SHAPES)}, got {o.shape!r}")
    if o.size not in SIZES:
        raise ValueError(f"size: expected one of {list(SIZES)}, got {o.size!r}")
    if not (0 <= o.row < GRID and 0 <= o.col < GRID):
        raise ValueError(f"row/col: expected integers in [0, {GRID - 1}], got ({o.row}, {o.col})")
    if len(o.bbox) != 4 or not (o.bbox[0] < o.bbox[2] and o.bbox[1] < o.bbox[3]):
        raise ValueError(f"bbox: expected (x0, y0, x1, y1) with x0 < x1 and y0 < y1, got {o.bbox!r}")


def _check_objects(objects: Sequence[SceneObject], image_size: int | None = None) -> None:
    seen_cells: set[tuple[int, int]] = set()
    seen_pairs: set[tuple[str, str]] = set()
    for o in objects:
        _check_object(o)
        if (o.row, o.col) in seen_cells:
            raise ValueError(f"objects: two objects in grid cell ({o.row}, {o.col}); each cell holds at most one")
        if (o.colour, o.shape) in seen_pairs:
            raise ValueError(f"objects: (colour, shape) {o.colour} {o.shape} occurs twice; pairs must be distinct")
        seen_cells.add((o.row, o.col))
        seen_pairs.add((o.colour, o.shape))
        if image_size is not None:
            c = image_size // GRID
            x0, y0, x1, y1 = o.bbox
            if not (o.col * c <= x0 and x1 <= (o.col + 1) * c and o.row * c <= y0 and y1 <= (o.row + 1) * c):
                raise ValueError(f"bbox: {o.bbox} is not inside grid cell ({o.row}, {o.col}) of a "
                                 f"{image_size}x{image_size} image")


# --------------------------------------------------------------------------------------------
# layout and region ground truth
# --------------------------------------------------------------------------------------------

def _theme_pairs(rng: np.random.Generator, n: int, theme: str, strength: float) -> np.ndarray:
    """``n`` distinct (colour, shape) label indices: each from the theme's palette × shapes with
    probability ``strength`` (while unused theme pairs remain), otherwise uniform over the rest."""
    colours, shapes = THEMES[theme]
    in_theme = [label_index(c, s) for c in colours for s in shapes]
    used: list[int] = []
    for _ in range(n):
        pool = [p for p in in_theme if p not in used]
        if not (pool and rng.random() < strength):
            pool = [p for p in range(len(LABEL_NAMES)) if p not in used]
        used.append(int(pool[int(rng.integers(len(pool)))]))
    return np.asarray(used)


def sample_objects(rng: np.random.Generator, max_objects: int = 4, min_objects: int = 1,
                   image_size: int = 72, theme: str | None = None, theme_strength: float = 0.0) -> list[SceneObject]:
    """Draw ``min_objects..max_objects`` (uniform) objects in distinct cells with distinct
    (colour, shape) pairs, random size and a small jitter inside the cell. Pairs are uniform over
    the 48, or, with a ``theme`` and ``theme_strength`` > 0, drawn from the theme with that
    probability (:data:`THEMES`).

    Objects are returned in row-major cell order.
    """
    _check_rng(rng)
    _check_counts(min_objects, max_objects)
    _check_image_size(image_size)
    _check_prob("theme_strength", theme_strength)
    if theme is not None and theme not in THEMES:
        raise ValueError(f"theme: expected one of {', '.join(THEMES)}, got {theme!r}")
    cell = image_size // GRID
    n = int(rng.integers(min_objects, max_objects + 1))
    cells = np.sort(rng.choice(CELLS, size=n, replace=False))
    if theme is not None and theme_strength > 0:
        pairs = _theme_pairs(rng, n, theme, theme_strength)
    else:  # the v1 draw, kept byte-identical
        pairs = rng.choice(len(LABEL_NAMES), size=n, replace=False)
    colours = list(COLOURS)
    objects = []
    for cell_idx, pair in zip(cells, pairs):
        row, col = divmod(int(cell_idx), GRID)
        colour = colours[int(pair) // len(SHAPES)]
        shape = SHAPES[int(pair) % len(SHAPES)]
        size = SIZES[int(rng.integers(len(SIZES)))]
        lo, hi = _SIZE_FRACTION[size]
        side = max(2, min(cell, int(round(rng.uniform(lo, hi) * cell))))
        free = cell - side
        jitter = min(free // 2, max(1, cell // 12))
        off_x = free // 2 + int(rng.integers(-jitter, jitter + 1))
        off_y = free // 2 + int(rng.integers(-jitter, jitter + 1))
        x0, y0 = col * cell + off_x, row * cell + off_y
        objects.append(SceneObject(colour, shape, size, row, col, (x0, y0, x0 + side, y0 + side)))
    return objects


def objects_mask(objects: Sequence[SceneObject], image_size: int | None = None) -> np.ndarray:
    """(3, 3) int array: the index (in ``objects``) of the object in each grid cell, or -1.

    ``image_size`` is optional; when given, each object's box is also checked to lie in its cell.
    """
    if image_size is not None:
        _check_image_size(image_size)
    _check_objects(objects, image_size)
    mask = np.full((GRID, GRID), -1, dtype=np.int64)
    for i, o in enumerate(objects):
        mask[o.row, o.col] = i
    return mask


def cell_of_region(region_index: int, grid: int) -> tuple[int, int]:
    """The scene cell ``(row, col)`` holding the centre of region ``region_index`` of a
    ``grid × grid`` feature map (regions numbered row-major).

    Grid 3 is the identity; with grid 9 each scene cell covers 3×3 regions. A region centre
    never falls on a cell border (3·(2k+1) is odd, 2·grid·m is even), so the map is exact.
    """
    if isinstance(grid, bool) or not isinstance(grid, (int, np.integer)) or grid < 1:
        raise ValueError(f"grid: expected a positive integer, got {grid!r}")
    if isinstance(region_index, bool) or not isinstance(region_index, (int, np.integer)) \
            or not 0 <= region_index < grid * grid:
        raise ValueError(f"region_index: expected an integer in [0, {grid * grid - 1}], got {region_index!r}")
    r, c = divmod(int(region_index), int(grid))
    return (GRID * (2 * r + 1)) // (2 * grid), (GRID * (2 * c + 1)) // (2 * grid)


# --------------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------------

def _background(image_size: int, rng: np.random.Generator) -> Image.Image:
    """Light grey with per-pixel noise and a few faint strokes/dots, all channels ≥ BACKGROUND_MIN."""
    base = int(rng.integers(200, 231))
    tint = rng.integers(-4, 5, size=3)
    grey_noise = rng.integers(-7, 8, size=(image_size, image_size, 1))
    colour_noise = rng.integers(-3, 4, size=(image_size, image_size, 3))
    arr = np.clip(base + tint + grey_noise + colour_noise, BACKGROUND_MIN, 255).astype(np.uint8)
    img = Image.fromarray(arr)  # uint8 (H, W, 3) -> RGB
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(2, 6))):
        # low-contrast clutter: the background shifted a little towards a random hue
        shift = rng.integers(-28, 12, size=3)
        fill = tuple(int(v) for v in np.clip(base + shift, BACKGROUND_MIN, 255))
        x, y = (int(v) for v in rng.integers(0, image_size, size=2))
        if rng.random() < 0.6:
            length = int(rng.integers(image_size // 8, image_size // 3 + 1))
            angle = rng.uniform(0, np.pi)
            x2, y2 = int(round(x + length * np.cos(angle))), int(round(y + length * np.sin(angle)))
            draw.line([(x, y), (x2, y2)], fill=fill, width=1)
        else:
            r = int(rng.integers(1, 3))
            draw.ellipse([x - r, y - r, x + r, y + r], fill=fill)
    return img


def _draw_object(draw: ImageDraw.ImageDraw, o: SceneObject) -> None:
    fill = COLOURS[o.colour]
    x0, y0, x1, y1 = o.bbox
    xr, yb = x1 - 1, y1 - 1                     # PIL boxes are inclusive
    side = x1 - x0
    cx, cy = (x0 + xr) / 2.0, (y0 + yb) / 2.0
    if o.shape == "circle":
        draw.ellipse([x0, y0, xr, yb], fill=fill)
    elif o.shape == "square":
        draw.rectangle([x0, y0, xr, yb], fill=fill)
    elif o.shape == "triangle":
        draw.polygon([(x0, yb), (xr, yb), (cx, y0)], fill=fill)
    elif o.shape == "star":
        outer = (side - 1) / 2.0
        inner = 0.5 * outer
        pts = []
        for k in range(10):
            rad = outer if k % 2 == 0 else inner
            a = -np.pi / 2 + k * np.pi / 5
            pts.append((cx + rad * np.cos(a), cy + rad * np.sin(a)))
        draw.polygon(pts, fill=fill)
    elif o.shape == "cross":
        t = max(1, int(round(side / 3)))
        a = x0 + (side - t) // 2
        b = y0 + (side - t) // 2
        draw.rectangle([a, y0, a + t - 1, yb], fill=fill)
        draw.rectangle([x0, b, xr, b + t - 1], fill=fill)
    elif o.shape == "ring":
        width = max(1, int(round(side / 5)))
        draw.ellipse([x0, y0, xr, yb], outline=fill, width=width)
    else:  # pragma: no cover - guarded by _check_object
        raise ValueError(f"shape: expected one of {list(SHAPES)}, got {o.shape!r}")


def render_scene(objects: Sequence[SceneObject], image_size: int, rng: np.random.Generator) -> Image.Image:
    """Draw the objects (exact colours, no antialiasing) over a noisy, cluttered background."""
    _check_rng(rng)
    _check_image_size(image_size)
    _check_objects(objects, image_size)
    img = _background(int(image_size), rng)
    draw = ImageDraw.Draw(img)
    for o in objects:
        _draw_object(draw, o)
    return img




# --------------------------------------------------------------------------------------------
# captions
# --------------------------------------------------------------------------------------------

def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _noun(o: SceneObject, rng: np.random.Generator, with_size: bool | None = None) -> str:
    """"[size] colour shape" without article; the colour always directly precedes the shape word."""
    if with_size is None:
        with_size = bool(rng.random() < 0.5)
    shape = _pick(rng, SHAPE_SYNONYMS[o.shape])
    words = ([_pick(rng, SIZE_SYNONYMS[o.size])] if with_size else []) + [o.colour, shape]
    return " ".join(words)


def _np(o: SceneObject, rng: np.random.Generator) -> str:
    noun = _noun(o, rng)
    return f"{_article(noun)} {noun}"


def _where(o: SceneObject, rng: np.random.Generator) -> str:
    return _pick(rng, _POSITION_PHRASES[(o.row, o.col)])


def _relation(a: SceneObject, b: SceneObject, rng: np.random.Generator) -> str:
    """A preposition that is true of "a <relation> b" given their grid cells."""
    dr, dc = a.row - b.row, a.col - b.col
    vertical = "above" if dr < 0 else "below" if dr > 0 else ""
    horizontal = "left" if dc < 0 else "right" if dc > 0 else ""
    if vertical and horizontal:
        upper = "upper" if dr < 0 else "lower"
        return _pick(rng, (f"{vertical} and to the {horizontal} of", f"to the {upper} {horizontal} of"))
    if vertical:
        options = ("above", "over") if dr < 0 else ("below", "under", "beneath")
        if abs(dr) == 1:
            options = options + (("directly above",) if dr < 0 else ("directly below",))
        return _pick(rng, options)
    options = (f"to the {horizontal} of", f"{horizontal} of")
    if abs(dc) == 1:
        options = options + ("next to", "beside")
    return _pick(rng, options)


def _join(parts: Sequence[str]) -> str:
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _sentence(text: str) -> str:
    text = text.strip()
    return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")


def compose_caption(objects: Sequence[SceneObject], rng: np.random.Generator,
                    template: str | None = None) -> tuple[str, str]:
    """``(caption, template name)``; the template is drawn uniformly from :data:`TEMPLATES`
    unless ``template`` names one. Objects are mentioned in a random order."""
    _check_rng(rng)
    if not objects:
        raise ValueError("objects: expected at least one object to describe, got none")
    _check_objects(objects)
    if template is None:
        template = TEMPLATES[int(rng.integers(len(TEMPLATES)))]
    elif template not in TEMPLATES:
        raise ValueError(f"template: expected one of {list(TEMPLATES)}, got {template!r}")
    order = [objects[int(i)] for i in rng.permutation(len(objects))]
    n = len(order)

    if template == "there_is":
        text = "There is " + _join([f"{_np(o, rng)} {_where(o, rng)}" for o in order])
    elif template == "count":
        head = f"{_NUMBER_WORDS[n]} shape" + ("s" if n > 1 else "")
        text = f"{head}: " + _join([f"{_np(o, rng)} {_where(o, rng)}" for o in order])
    elif template == "picture":
        text = f"{_pick(rng, _PICTURE_PREFIXES)} " + _join([f"{_np(o, rng)} {_where(o, rng)}" for o in order])
    elif template == "position_first":
        text = "; ".join(f"{_where(o, rng)} there is {_np(o, rng)}" for o in order)
    elif template == "chain":
        if n == 1:
            text = f"A single {_noun(order[0], rng)} {_where(order[0], rng)}"
        else:
            sentences = [_sentence(f"{_np(order[0], rng)} {_relation(order[0], order[1], rng)} {_np(order[1], rng)}")]
            for prev, o in zip(order[1:], order[2:]):
                ref = _noun(prev, rng, with_size=False)
                sentences.append(_sentence(f"{_np(o, rng)} is {_relation(o, prev, rng)} the {ref}"))
            return " ".join(sentences), template
    elif template == "anchor":
        anchor = order[0]
        head = f"{_np(anchor, rng)} {_where(anchor, rng)}"
        if n == 1:
            text = f"{head}, on its own"
        else:
            text = f"{head}, with " + _join([f"{_np(o, rng)} {_relation(o, anchor, rng)} it" for o in order[1:]])
    elif template == "plain":
        text = f"{_pick(rng, ('Shapes on a grey background', 'On a grey background', 'Coloured shapes'))}: " \
               + _join([_np(o, rng) for o in order])
    else:  # pragma: no cover - guarded above
        raise AssertionError(template)
    return _sentence(text), template


def make_caption(objects: Sequence[SceneObject], rng: np.random.Generator) -> str:
    """A natural sentence binding every object's colour to its shape (see :func:`compose_caption`)."""
    return compose_caption(objects, rng)[0]


# --------------------------------------------------------------------------------------------
# tags and labels
# --------------------------------------------------------------------------------------------

def make_tags(objects: Sequence[SceneObject], rng: np.random.Generator, p_drop: float = 0.4,
              p_noise: float = 0.2, p_filler: float = 0.3) -> tuple[list[str], list[str]]:
    """``(noisy tags, true tags)``.

    * true tags: the distinct canonical colour and shape words of the objects, colours then
      shapes in :data:`COLOURS` / :data:`SHAPES` order;
    * each true tag is kept independently with probability ``1 - p_drop``;
    * wrong tags: ``k ~ Binomial(len(true_tags), p_noise)`` distinct words drawn uniformly from
      :data:`SCENE_TAG_WORDS` minus the true tags (``k`` capped at how many there are), so the
      expected number of wrong tags per true tag is ``p_noise``;
    * filler: with probability ``p_filler`` one word of :data:`FILLER_TAGS` (neither true nor noise).

    The noisy list is shuffled (tags are an unordered set) and may be empty.
    """
    _check_rng(rng)
    _check_prob("p_drop", p_drop)
    _check_prob("p_noise", p_noise)
    _check_prob("p_filler", p_filler)
    _check_objects(objects)
    colours = {o.colour for o in objects}
    shapes = {o.shape for o in objects}
    true_tags = [c for c in COLOURS if c in colours] + [s for s in SHAPES if s in shapes]
    keep = rng.random(len(true_tags)) >= p_drop
    tags = [t for t, k in zip(true_tags, keep) if k]
    candidates = [w for w in SCENE_TAG_WORDS if w not in set(true_tags)]
    n_wrong = min(int(rng.binomial(len(true_tags), p_noise)), len(candidates))
    if n_wrong:
        tags += [candidates[int(i)] for i in rng.choice(len(candidates), size=n_wrong, replace=False)]
    if rng.random() < p_filler:
        tags.append(_pick(rng, FILLER_TAGS))
    tags = [tags[int(i)] for i in rng.permutation(len(tags))]
    return tags, true_tags


def generate_scene(rng: np.random.Generator, image_size: int = 72, p_drop: float = 0.4, p_noise: float = 0.2,
                   p_filler: float = 0.3, min_objects: int = 1, max_objects: int = 4,
                   theme_strength: float = 0.0) -> tuple[Image.Image, Scene]:
    """One scene: ``(RGB image, Scene)``; deterministic in the generator's state. With
    ``theme_strength`` > 0 a theme is drawn first (uniform over :data:`THEMES`) and recorded in
    ``Scene.theme``; with 0 no theme is drawn and scenes are those of generator version 1."""
    _check_rng(rng)
    _check_image_size(image_size)
    for name, p in (("p_drop", p_drop), ("p_noise", p_noise), ("p_filler", p_filler), ("theme_strength", theme_strength)):
        _check_prob(name, p)
    _check_counts(min_objects, max_objects)
    theme = None
    if theme_strength > 0:
        theme = list(THEMES)[int(rng.integers(len(THEMES)))]
    objects = sample_objects(rng, max_objects=max_objects, min_objects=min_objects, image_size=image_size,
                             theme=theme, theme_strength=theme_strength)
    image = render_scene(objects, image_size, rng)
    caption = make_caption(objects, rng)
    tags, true_tags = make_tags(objects, rng, p_drop=p_drop, p_noise=p_noise, p_filler=p_filler)
    labels = sorted({label_index(o.colour, o.shape) for o in objects})
    shape_labels = sorted({SHAPES.index(o.shape) for o in objects})
    return image, Scene(objects=objects, caption=caption, tags=tags, true_tags=true_tags,
                        labels=labels, shape_labels=shape_labels, theme=theme)
