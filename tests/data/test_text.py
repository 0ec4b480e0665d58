import numpy as np

from crossmedia.data import Vocabulary, tokenize
from crossmedia.data.text import PAD, UNK


def test_tokenize():
    assert tokenize("A small Red circle, above a blue-square.") == ["a", "small", "red", "circle", "above", "a", "blue", "square"]
    assert tokenize(["Red", "circle"]) == ["red", "circle"]


def test_vocabulary_from_train_only_and_unknown_words():
    v = Vocabulary.build(["red circle", "red square", "blue"], min_count=1)
    assert v.words[:3] == [PAD, UNK, "red"]
    assert v.encode("red star") == [v.index["red"], v.index[UNK]]
    bow = v.bow(["red red star", []], binary=False)
    assert bow.shape == (2, len(v))
    assert bow[0, v.index["red"]] == 2 and bow[0, v.index[UNK]] == 0 and bow[1].sum() == 0
    assert np.array_equal(v.bow(["red red"])[0] > 0, v.bow(["red"])[0] > 0)


def test_min_count():
    v = Vocabulary.build(["a b", "a c"], min_count=2)
    assert v.words == [PAD, UNK, "a"]


def test_sequences_pad_and_cut():
    v = Vocabulary.build(["red circle", "blue"])
    ids, lengths = v.sequences(["red circle blue", "star", []], max_len=2)
    assert ids.tolist() == [[v.index["red"], v.index["circle"]], [v.index[UNK], 0], [0, 0]]
    assert lengths.tolist() == [2, 1, 0]
