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


# ------------------------------------------------------------------ tokenizers
import pytest  # noqa: E402

from crossmedia.data.text import Tokenizer, coverage, coverage_warnings, detect_tokenizer  # noqa: E402
from crossmedia.errors import ConfigError  # noqa: E402


def test_chinese_tokenization():
    pytest.importorskip("jieba")
    text = "我爱吃草莓和红色的苹果"
    jb = Tokenizer.parse("jieba")(text)
    assert "草莓" in jb and "苹果" in jb and "".join(jb) == text
    grams = Tokenizer.parse("chars:2")(text)
    assert "草莓" in grams and "草" in grams and len([g for g in grams if len(g) == 1]) == len(text)
    assert Tokenizer.parse("ascii")(text) == []  # the original rule drops every Chinese character
    assert Tokenizer.parse("words")("Café déjà-vu, don't") == ["café", "déjà", "vu", "don't"]
    assert Tokenizer.parse("jieba")(["草莓", "Hot Pepper"]) == ["草莓", "hot", "pepper"]
    assert detect_tokenizer(["我爱吃草莓", "红色的苹果"]).spec == "jieba"
    assert detect_tokenizer(["いちごが好きです", "赤いりんご"]).spec == "chars:2"
    assert detect_tokenizer(["a red apple", "über café"]).spec == "words"
    v = Vocabulary.build([["草莓", "水果"], ["红色的苹果"]], tokenizer="jieba")
    assert v.index.get("草莓", 1) > 1 and v.encode("我想要草莓")[-1] == v.index["草莓"]


def test_coverage_warns_when_characters_are_dropped_or_texts_empty():
    texts = ["我爱吃草莓", "红色的苹果 10", "abc"]
    ascii_ = Tokenizer.parse("ascii")
    cov = coverage(texts, ascii_)
    assert cov["empty"] == 1 and cov["dropped_share"] > 0.5
    warnings = coverage_warnings(cov, "caption", ascii_)
    assert len(warnings) == 2 and "drops" in warnings[0] and "no token" in warnings[1]
    assert coverage_warnings(coverage(texts, Tokenizer.parse("chars:2")), "caption", Tokenizer.parse("chars:2")) == []
    with pytest.raises(ConfigError, match="tokenizer"):
        Tokenizer.parse("spaces")
    with pytest.raises(ConfigError, match="chars:N"):
        Tokenizer.parse("chars:x")
