"""Tests for the synthetic scene generator (crossmedia.data.synth)."""

from __future__ import annotations

import io
import re
from collections import Counter

import numpy as np
import pytest

from crossmedia.data import synth
from crossmedia.data.synth import (
    COLOURS, FILLER_TAGS, LABEL_NAMES, SCENE_TAG_WORDS, SHAPE_LABEL_NAMES, SHAPE_SYNONYMS, SHAPES,
    SIZE_SYNONYMS, TEMPLATES, Scene, SceneObject, cell_of_region, compose_caption, generate_scene,
    label_index, make_caption, make_tags, objects_mask, render_scene, sample_objects,
)


def _png(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _scene(seed: int, **kw):
    return generate_scene(np.random.default_rng(seed), **kw)


@pytest.fixture(scope="module")
def many_scenes():
    rng = np.random.default_rng(12345)
    return [generate_scene(rng) for _ in range(2000)]


# ---------------------------------------------------------------------------- constants

def test_vocabularies():
    assert len(COLOURS) == 8 and len(set(COLOURS.values())) == 8
    assert SHAPES == ("circle", "square", "triangle", "star", "cross", "ring")
    assert len(LABEL_NAMES) == 48 and len(set(LABEL_NAMES)) == 48
    assert LABEL_NAMES[:2] == ["red circle", "red square"]  # colour-major
    assert SHAPE_LABEL_NAMES == list(SHAPES)
    for c in COLOURS:
        for s in SHAPES:
            assert LABEL_NAMES[label_index(c, s)] == f"{c} {s}"
    assert set(SHAPE_SYNONYMS) == set(SHAPES) and set(SIZE_SYNONYMS) == {"small", "large"}
    for s in SHAPES:
        assert s in SHAPE_SYNONYMS[s]
    # synonyms must be unambiguous: no synonym of one shape is a synonym of another
    syns = [w for ws in SHAPE_SYNONYMS.values() for w in ws]
    assert len(syns) == len(set(syns))
    # every object colour has a channel below the background floor, so clutter can never match it
    assert all(min(rgb) < synth.BACKGROUND_MIN for rgb in COLOURS.values())


# ---------------------------------------------------------------------------- determinism

def test_same_seed_identical_bytes_and_text():
    for seed in (0, 1, 99):
        im1, s1 = _scene(seed)
        im2, s2 = _scene(seed)
        assert im1.mode == "RGB" and im1.size == (72, 72)
        assert _png(im1) == _png(im2)
        assert s1 == s2


def test_different_seed_differs():
    im1, s1 = _scene(0)
    im2, s2 = _scene(1)
    assert _png(im1) != _png(im2)
    assert (s1.caption, s1.tags) != (s2.caption, s2.tags)
    # and consecutive draws from one generator differ too
    rng = np.random.default_rng(0)
    captions = {generate_scene(rng)[1].caption for _ in range(20)}
    assert len(captions) == 20


def test_object_dict_roundtrip():
    _, scene = _scene(7, max_objects=9, min_objects=9)
    for o in scene.objects:
        d = o.to_dict()
        assert isinstance(d["bbox"], list)
        assert SceneObject.from_dict(d) == o
    with pytest.raises(ValueError, match="shape"):
        SceneObject.from_dict({**scene.objects[0].to_dict(), "shape": "hexagon"})
    with pytest.raises(ValueError, match="bbox"):
        SceneObject.from_dict({k: v for k, v in scene.objects[0].to_dict().items() if k != "bbox"})


# ---------------------------------------------------------------------------- statistics

def test_labels_counts_and_coverage(many_scenes):
    counts = Counter()
    seen = set()
    for image, scene in many_scenes:
        assert isinstance(scene, Scene)
        counts[len(scene.objects)] += 1
        pairs = {(o.colour, o.shape) for o in scene.objects}
        assert len(pairs) == len(scene.objects)  # distinct (colour, shape) per scene
        assert scene.labels == sorted(label_index(c, s) for c, s in pairs)
        assert scene.shape_labels == sorted({SHAPES.index(s) for _, s in pairs})
        cells = [(o.row, o.col) for o in scene.objects]
        assert len(set(cells)) == len(cells)
        seen.update(scene.labels)
    assert set(counts) == {1, 2, 3, 4}
    assert min(counts.values()) > 350  # roughly uniform: 500 each expected
    assert seen == set(range(48))
    sizes = Counter(o.size for _, s in many_scenes for o in s.objects)
    assert set(sizes) == {"small", "large"}


def test_tag_drop_and_noise_rates(many_scenes):
    n_true = n_dropped = n_wrong = n_filler = n_empty = 0
    for _, scene in many_scenes:
        true = scene.true_tags
        objs = scene.objects
        assert true == [c for c in COLOURS if c in {o.colour for o in objs}] + \
            [s for s in SHAPES if s in {o.shape for o in objs}]
        assert len(scene.tags) == len(set(scene.tags))
        n_true += len(true)
        n_dropped += sum(t not in scene.tags for t in true)
        n_wrong += sum(t in SCENE_TAG_WORDS and t not in true for t in scene.tags)
        n_filler += sum(t in FILLER_TAGS for t in scene.tags)
        assert all(t in SCENE_TAG_WORDS or t in FILLER_TAGS for t in scene.tags)
        n_empty += not scene.tags
    assert abs(n_dropped / n_true - 0.4) < 0.03
    assert abs(n_wrong / n_true - 0.2) < 0.03
    assert abs(n_filler / len(many_scenes) - 0.3) < 0.04
    assert n_empty > 0  # Flickr-like: some items have no tag at all


@pytest.mark.parametrize("p_drop,p_noise", [(0.0, 0.0), (1.0, 0.0), (0.1, 0.5)])
def test_tag_rates_follow_parameters(p_drop, p_noise):
    rng = np.random.default_rng(5)
    n_true = n_dropped = n_wrong = 0
    for _ in range(600):
        objs = sample_objects(rng)
        tags, true = make_tags(objs, rng, p_drop=p_drop, p_noise=p_noise, p_filler=0.0)
        n_true += len(true)
        n_dropped += sum(t not in tags for t in true)
        n_wrong += sum(t not in true for t in tags)
    assert abs(n_dropped / n_true - p_drop) < 0.03
    assert abs(n_wrong / n_true - p_noise) < 0.03


# ---------------------------------------------------------------------------- captions

_COLOUR_RE = "|".join(COLOURS)
_SIZE_RE = "|".join(w for ws in SIZE_SYNONYMS.values() for w in ws)
_SYN_TO_SHAPE = {w: s for s, ws in SHAPE_SYNONYMS.items() for w in ws}
_SHAPE_RE = "|".join(sorted(_SYN_TO_SHAPE, key=len, reverse=True))
_BOUND = re.compile(rf"\b({_COLOUR_RE})\s+(?:(?:{_SIZE_RE})\s+)?({_SHAPE_RE})\b")


def _bound_pairs(caption: str) -> set[tuple[str, str]]:
    return {(c, _SYN_TO_SHAPE[s]) for c, s in _BOUND.findall(caption.lower())}


def test_caption_binds_every_object(many_scenes):
    for _, scene in many_scenes[:800]:
        pairs = {(o.colour, o.shape) for o in scene.objects}
        # every object is mentioned with its colour bound to (a synonym of) its shape ...
        # ... and no colour is ever bound to a shape it does not have in this scene
        assert _bound_pairs(scene.caption) == pairs, scene.caption
        assert scene.caption[0].isupper() and scene.caption.endswith(".")
        assert "  " not in scene.caption


def test_binding_distinguishes_swapped_attributes():
    a = [SceneObject("red", "circle", "small", 0, 0, (2, 2, 14, 14)),
         SceneObject("blue", "square", "small", 0, 1, (26, 2, 38, 14))]
    b = [SceneObject("blue", "circle", "small", 0, 0, (2, 2, 14, 14)),
         SceneObject("red", "square", "small", 0, 1, (26, 2, 38, 14))]
    rng = np.random.default_rng(0)
    for _ in range(50):
        ca, cb = make_caption(a, rng), make_caption(b, rng)
        assert _bound_pairs(ca) == {("red", "circle"), ("blue", "square")}
        assert _bound_pairs(cb) == {("blue", "circle"), ("red", "square")}


def test_caption_templates_varied(many_scenes):
    rng = np.random.default_rng(3)
    seen = Counter()
    for _, scene in many_scenes[:500]:
        _, template = compose_caption(scene.objects, rng)
        seen[template] += 1
    assert len(seen) >= 6 and set(seen) <= set(TEMPLATES)
    # the templates really produce different sentences for the same objects
    objs = many_scenes[0][1].objects
    texts = {compose_caption(objs, np.random.default_rng(0), template=t)[0] for t in TEMPLATES}
    assert len(texts) == len(TEMPLATES)
    # synonyms are used
    words = Counter(w for _, s in many_scenes[:500] for w in re.findall(r"[a-z]+", s.caption.lower()))
    for w in ("disc", "box", "donut", "big", "little"):
        assert words[w] > 0


_RELATIONS = {
    # phrase -> predicate on (dr, dc) = (a.row - b.row, a.col - b.col) for "a <phrase> b"
    "above": lambda dr, dc: dr < 0 and dc == 0, "over": lambda dr, dc: dr < 0 and dc == 0,
    "directly above": lambda dr, dc: dr == -1 and dc == 0,
    "below": lambda dr, dc: dr > 0 and dc == 0, "under": lambda dr, dc: dr > 0 and dc == 0,
    "beneath": lambda dr, dc: dr > 0 and dc == 0, "directly below": lambda dr, dc: dr == 1 and dc == 0,
    "to the left of": lambda dr, dc: dr == 0 and dc < 0, "left of": lambda dr, dc: dr == 0 and dc < 0,
    "to the right of": lambda dr, dc: dr == 0 and dc > 0, "right of": lambda dr, dc: dr == 0 and dc > 0,
    "next to": lambda dr, dc: dr == 0 and abs(dc) == 1, "beside": lambda dr, dc: dr == 0 and abs(dc) == 1,
}
for _v, _vs in (("above", -1), ("below", 1)):
    for _h, _hs in (("left", -1), ("right", 1)):
        _pred = (lambda vs, hs: lambda dr, dc: np.sign(dr) == vs and np.sign(dc) == hs)(_vs, _hs)
        _RELATIONS[f"{_v} and to the {_h} of"] = _pred
        _RELATIONS[f"to the {'upper' if _vs < 0 else 'lower'} {_h} of"] = _pred
_REL_RE = "|".join(sorted(map(re.escape, _RELATIONS), key=len, reverse=True))
_NP = rf"(?:a|an|the) (?:(?:{_SIZE_RE}) )?({_COLOUR_RE}) ({_SHAPE_RE})"


def _check_relation(rel, a_key, b_key, objs, caption):
    a, b = objs[(a_key[0], _SYN_TO_SHAPE[a_key[1]])], objs[(b_key[0], _SYN_TO_SHAPE[b_key[1]])]
    assert _RELATIONS[rel](a.row - b.row, a.col - b.col), (rel, a, b, caption)


def test_caption_relations_are_true():
    rng = np.random.default_rng(1)
    n_checked = 0
    for _ in range(300):
        objs = sample_objects(rng, min_objects=2, max_objects=6)
        by_key = {(o.colour, o.shape): o for o in objs}
        cap, _ = compose_caption(objs, rng, template="chain")
        sentences = [x for x in cap.lower().split(".") if x.strip()]
        assert len(sentences) == len(objs) - 1, cap
        for i, sent in enumerate(sentences):
            pattern = rf"^\s*{_NP} (?:is )?({_REL_RE}) {_NP}$"
            m = re.match(pattern, sent)
            assert m, (sent, cap)
            assert ("is " in sent) == (i > 0)
            _check_relation(m.group(3), m.groups()[0:2], m.groups()[3:5], by_key, cap)
            n_checked += 1
        cap, _ = compose_caption(objs, rng, template="anchor")
        head = re.match(rf"^{_NP} ", cap.lower())
        assert head, cap
        items = re.findall(rf"{_NP} ({_REL_RE}) it\b", cap.lower())
        assert len(items) == len(objs) - 1, cap
        for c, s, rel in items:
            _check_relation(rel, (c, s), head.groups(), by_key, cap)
            n_checked += 1
    assert n_checked > 1000


def test_caption_absolute_positions():
    words = {0: ("top", "upper"), 2: ("bottom", "lower", "bottom row")}
    rng = np.random.default_rng(2)
    for row in range(3):
        for col in range(3):
            o = SceneObject("green", "star", "large", row, col, (24 * col + 2, 24 * row + 2, 24 * col + 22, 24 * row + 22))
            for _ in range(10):
                cap = compose_caption([o], rng, template="there_is")[0].lower()
                if row in words:
                    assert any(w in cap for w in words[row]), cap
                else:
                    assert not any(w in cap for w in ("top", "upper", "bottom", "lower")), cap
                if col == 0:
                    assert "left" in cap and "right" not in cap, cap
                elif col == 2:
                    assert "right" in cap and "left" not in cap, cap
                else:
                    assert "left" not in cap and "right" not in cap, cap
                if (row, col) == (1, 1):
                    assert "centre" in cap or "middle" in cap, cap


# ---------------------------------------------------------------------------- pixels / regions

def test_region_ground_truth_matches_pixels():
    rng = np.random.default_rng(2024)
    min_frac = {"circle": 0.6, "square": 0.9, "triangle": 0.35, "star": 0.2, "cross": 0.4, "ring": 0.3}
    for i in range(150):
        size = (72, 96, 24)[i % 3]
        image, scene = generate_scene(rng, image_size=size, max_objects=9 if i % 5 == 0 else 4)
        arr = np.asarray(image)
        assert arr.shape == (size, size, 3)
        cell = size // 3
        mask = objects_mask(scene.objects, size)
        for k, o in enumerate(scene.objects):
            assert mask[o.row, o.col] == k
            x0, y0, x1, y1 = o.bbox
            assert o.col * cell <= x0 < x1 <= (o.col + 1) * cell
            assert o.row * cell <= y0 < y1 <= (o.row + 1) * cell
            side = x1 - x0
            assert side == y1 - y0
            if o.size == "small":
                assert 0.4 * cell <= side <= 0.6 * cell
            else:
                assert 0.75 * cell <= side <= 0.95 * cell
            if size >= 72:
                match = np.all(arr[y0:y1, x0:x1] == COLOURS[o.colour], axis=-1)
                assert match.mean() >= min_frac[o.shape], (o, match.mean())
        assert (mask >= 0).sum() == len(scene.objects)
        # an object's exact colour never occurs outside the boxes of objects with that colour
        for colour, rgb in COLOURS.items():
            hit = np.all(arr == rgb, axis=-1)
            for o in scene.objects:
                if o.colour == colour:
                    x0, y0, x1, y1 = o.bbox
                    hit[y0:y1, x0:x1] = False
            assert not hit.any(), colour


def test_background_is_noisy_and_light():
    image, scene = _scene(11, min_objects=1, max_objects=1)
    arr = np.asarray(image).astype(int)
    free = np.ones(arr.shape[:2], bool)
    x0, y0, x1, y1 = scene.objects[0].bbox
    free[y0:y1, x0:x1] = False
    bg = arr[free]
    assert bg.min() >= synth.BACKGROUND_MIN
    assert 180 <= bg.mean() <= 240
    assert bg.std() > 2  # per-pixel noise


def test_render_is_deterministic_given_rng():
    objs = sample_objects(np.random.default_rng(4))
    a = render_scene(objs, 72, np.random.default_rng(9))
    b = render_scene(objs, 72, np.random.default_rng(9))
    c = render_scene(objs, 72, np.random.default_rng(10))
    assert _png(a) == _png(b) != _png(c)


def test_cell_of_region():
    for i in range(9):
        assert cell_of_region(i, 3) == divmod(i, 3)
    # grid 9: each scene cell covers a 3x3 block of regions
    for i in range(81):
        r, c = divmod(i, 9)
        assert cell_of_region(i, 9) == (r // 3, c // 3)
    # grid 6: 2x2 blocks
    for i in range(36):
        r, c = divmod(i, 6)
        assert cell_of_region(i, 6) == (r // 2, c // 2)
    assert cell_of_region(0, 1) == (1, 1)
    # grid 4: the region centre decides (centres at 1/8, 3/8, 5/8, 7/8 of the image)
    assert [cell_of_region(c, 4)[1] for c in range(4)] == [0, 1, 1, 2]


def test_objects_mask():
    objs = [SceneObject("red", "circle", "small", 1, 2, (54, 30, 66, 42)),
            SceneObject("blue", "ring", "large", 0, 0, (2, 2, 22, 22))]
    mask = objects_mask(objs, 72)
    expected = np.full((3, 3), -1)
    expected[1, 2], expected[0, 0] = 0, 1
    assert mask.shape == (3, 3) and (mask == expected).all()
    clash = objs + [SceneObject("green", "star", "small", 1, 2, (54, 30, 66, 42))]
    with pytest.raises(ValueError, match="cell"):
        objects_mask(clash)
    with pytest.raises(ValueError, match="bbox"):
        objects_mask([SceneObject("red", "circle", "small", 0, 0, (20, 20, 30, 30))], 72)


def test_sample_objects_ranges():
    rng = np.random.default_rng(0)
    assert len(sample_objects(rng, max_objects=9, min_objects=9)) == 9
    for _ in range(50):
        objs = sample_objects(rng, max_objects=3, min_objects=2, image_size=96)
        assert 2 <= len(objs) <= 3
        assert [o.row * 3 + o.col for o in objs] == sorted(o.row * 3 + o.col for o in objs)


# ---------------------------------------------------------------------------- validation

@pytest.mark.parametrize("kw,name", [
    ({"image_size": 70}, "image_size"),
    ({"image_size": 21}, "image_size"),
    ({"image_size": 72.0}, "image_size"),
    ({"p_drop": -0.1}, "p_drop"),
    ({"p_noise": 1.5}, "p_noise"),
    ({"p_filler": 2}, "p_filler"),
    ({"max_objects": 10}, "max_objects"),
    ({"max_objects": 0}, "max_objects"),
    ({"min_objects": 0}, "min_objects"),
    ({"min_objects": 4, "max_objects": 3}, "min_objects"),
])
def test_generate_scene_validation(kw, name):
    with pytest.raises(ValueError, match=name) as err:
        generate_scene(np.random.default_rng(0), **kw)
    assert re.search(r"\[|multiple|at most", str(err.value))  # the message states the expected range


def test_other_validation():
    rng = np.random.default_rng(0)
    objs = sample_objects(rng)
    with pytest.raises(ValueError, match="p_drop"):
        make_tags(objs, rng, p_drop=1.01)
    with pytest.raises(ValueError, match="max_objects"):
        sample_objects(rng, max_objects=12)
    with pytest.raises(ValueError, match="image_size"):
        render_scene(objs, 64, rng)
    with pytest.raises(ValueError, match="region_index"):
        cell_of_region(9, 3)
    with pytest.raises(ValueError, match="region_index"):
        cell_of_region(-1, 3)
    with pytest.raises(ValueError, match="grid"):
        cell_of_region(0, 0)
    with pytest.raises(ValueError, match="colour"):
        label_index("pink", "circle")
    with pytest.raises(ValueError, match="objects"):
        make_caption([], rng)
    with pytest.raises(ValueError, match="template"):
        compose_caption(objs, rng, template="haiku")
    with pytest.raises(TypeError, match="rng"):
        generate_scene(0)


# ---------------------------------------------------------------------------------- themes (v2)
def test_theme_strength_zero_draws_no_theme_and_keeps_version_1_scenes():
    a_img, a = generate_scene(np.random.default_rng(11))
    b_img, b = generate_scene(np.random.default_rng(11), theme_strength=0.0)
    assert a == b and a.theme is None
    assert np.array_equal(np.asarray(a_img), np.asarray(b_img))


def test_themed_scenes_draw_objects_from_their_theme():
    from crossmedia.data.synth import THEMES

    rng = np.random.default_rng(5)
    in_theme = total = 0
    themes = set()
    for _ in range(400):
        _, sc = generate_scene(rng, theme_strength=0.8)
        colours, shapes = THEMES[sc.theme]
        themes.add(sc.theme)
        for o in sc.objects:
            total += 1
            in_theme += o.colour in colours and o.shape in shapes
    assert themes == set(THEMES)
    # 0.8 from the theme + the uniform draws that land in it (6 of 48) ≈ 0.82
    assert 0.75 < in_theme / total < 0.9
    # every colour and shape word still occurs
    assert {c for t in THEMES.values() for c in t[0]} == set(COLOURS)
    assert {s for t in THEMES.values() for s in t[1]} == set(SHAPES)


def test_themes_make_tag_words_co_occur():
    """The regularity semantic expansion relies on: P(word b | word a) far above P(b) for words
    of a common theme, and ≈ P(b) without themes."""
    def lift(strength):
        rng = np.random.default_rng(1)
        scenes = [generate_scene(rng, theme_strength=strength, p_drop=0.0, p_noise=0.0)[1] for _ in range(1500)]
        has = lambda w: np.array([w in s.true_tags for s in scenes])  # noqa: E731
        a, b = has("red"), has("triangle")  # both in the "fire" theme
        return (a & b).mean() / (a.mean() * b.mean())

    assert lift(0.9) > 1.3
    assert abs(lift(0.0) - 1.0) < 0.2


def test_theme_strength_is_validated():
    with pytest.raises(ValueError, match="theme_strength"):
        generate_scene(np.random.default_rng(0), theme_strength=1.5)
    with pytest.raises(ValueError, match="theme"):
        sample_objects(np.random.default_rng(0), theme="lava", theme_strength=0.5)
