"""The free-text relevance rule shared by search, explain and the demo pictures."""

import numpy as np

from crossmedia.data.synth import LABEL_NAMES
from crossmedia.search.relevance import named_labels, query_phrases, relevant


def _named(q):
    return {LABEL_NAMES[j] for j in np.flatnonzero(named_labels(LABEL_NAMES, q))}


def test_colour_binds_to_the_shape_of_its_own_object():
    assert _named("a red circle and a blue square") == {"red circle", "blue square"}
    assert _named("a big red circle above a small blue square") == {"red circle", "blue square"}
    assert _named("red circle, blue square") == {"red circle", "blue square"}
    assert "blue circle" not in _named("a red circle and a blue square")
    assert _named("a circle that is red") == set()  # order matters: no binding, no judgement
    assert _named("a red disc") == set()  # synonyms are not resolved


def test_scene_of_blue_circle_and_red_triangle_is_not_relevant_to_red_circle_blue_square():
    q = named_labels(LABEL_NAMES, "a red circle and a blue square").astype(np.uint8)
    scene = np.zeros((1, len(LABEL_NAMES)), np.uint8)
    scene[0, LABEL_NAMES.index("blue circle")] = scene[0, LABEL_NAMES.index("red triangle")] = 1
    hit = np.zeros((1, len(LABEL_NAMES)), np.uint8)
    hit[0, LABEL_NAMES.index("blue square")] = 1
    assert relevant(q, scene).tolist() == [False] and relevant(q, hit).tolist() == [True]
    assert relevant(None, scene) is None and relevant(np.zeros(len(LABEL_NAMES)), scene) is None


def test_phrases():
    assert query_phrases("A red circle, and a blue square next to it") == [["a", "red", "circle"], ["a", "blue", "square"],
                                                                            ["to", "it"]]
