"""Unseen words mapped onto the vocabulary through pretrained vectors (crossmedia.data.unseen)."""

import numpy as np
import pytest

from crossmedia.config import resolve_config
from crossmedia.data.loaders.textfeatures import bow_matrix
from crossmedia.data.text import Vocabulary
from crossmedia.data.unseen import UnseenWords, run_vocabulary
from crossmedia.errors import ConfigError

# 3-d vectors: "crimson" is nearest "red" then "orange"; "kitten" nearest "cat"; "sheaf"+"rice" average
VECTORS = {
    "red": [1.0, 0.0, 0.0],
    "orange": [0.8, 0.6, 0.0],
    "cat": [0.0, 0.0, 1.0],
    "dog": [0.0, 0.6, 0.8],
    "crimson": [0.96, 0.28, 0.0],
    "kitten": [0.0, 0.28, 0.96],
    "sheaf": [0.0, 1.0, 0.0],
    "rice": [0.0, 0.0, 1.0],
    "grain": [0.0, 0.6, 0.8],
}


def write_vectors(path, vectors=VECTORS):
    path.write_text("".join(f"{w} {' '.join(str(x) for x in v)}\n" for w, v in vectors.items()))
    return path


def cos(a, b):
    a, b = np.asarray(VECTORS[a]), np.asarray(b)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


@pytest.fixture
def vocab(tmp_path):
    v = Vocabulary.build([["red", "cat"], ["orange", "dog"], ["sheaf of rice", "unvectored"]])
    v.unseen = UnseenWords(v, str(write_vectors(tmp_path / "vec.txt")), top_k=2, weight=0.5)
    return v


def test_unseen_token_adds_its_nearest_vocabulary_words(vocab):
    bag = vocab.bag(["crimson"])
    assert set(bag) == {vocab.index["red"], vocab.index["orange"]}  # top_k=2 nearest by cosine
    assert bag[vocab.index["red"]] == pytest.approx(0.5 * cos("crimson", VECTORS["red"]), rel=1e-5)
    assert bag[vocab.index["orange"]] == pytest.approx(0.5 * cos("crimson", VECTORS["orange"]), rel=1e-5)


def test_known_words_keep_weight_one_and_the_largest_mapped_weight_wins(vocab):
    bag = vocab.bag(["red", "crimson", "kitten"])
    assert bag[vocab.index["red"]] == 1.0  # present: not lowered by the mapping
    # "dog" is reached from kitten only; "cat" from kitten: the larger weight
    assert bag[vocab.index["cat"]] == pytest.approx(0.5 * cos("kitten", VECTORS["cat"]), rel=1e-5)
    assert vocab.index["unvectored"] not in bag  # no vector: never a target


def test_phrases_without_a_vector_take_the_mean_of_their_words(vocab):
    # the vocabulary entry "sheaf of rice" has no vector; mean(sheaf, rice) = (0, .5, .5) ~ grain's direction
    bag = vocab.bag(["grain"])
    assert vocab.index["sheaf of rice"] in bag
    phrase = (np.asarray(VECTORS["sheaf"]) + np.asarray(VECTORS["rice"])) / 2
    assert bag[vocab.index["sheaf of rice"]] == pytest.approx(0.5 * cos("grain", phrase), rel=1e-5)


def test_tokens_without_any_vector_add_nothing(vocab):
    assert vocab.bag(["qqzz"]) == {}
    assert vocab.bag(["qqzz", "red"]) == {vocab.index["red"]: 1.0}


def test_dense_and_sparse_rows_agree(vocab):
    texts = [["crimson", "cat"], ["kitten"], [], ["grain", "qqzz"], ["red"]]
    dense = vocab.bow(texts)
    np.testing.assert_array_equal(bow_matrix(vocab, texts).toarray(), dense)
    assert dense[1, vocab.index["cat"]] > 0 and dense[2].sum() == 0
    assert dense[:, :2].sum() == 0  # <pad>, <unk> stay empty


def test_without_the_setting_unseen_words_are_dropped():
    v = Vocabulary.build([["red", "cat"]])
    assert v.bag(["crimson"]) == {}
    row = v.bow([["crimson", "red"]])[0]
    assert row.sum() == 1 and row[v.index["red"]] == 1


@pytest.mark.parametrize("top_k, weight, needle", [(0, 0.5, "unseen_top_k"), (51, 0.5, "unseen_top_k"),
                                                   (5, 0.0, "unseen_weight"), (5, 1.5, "unseen_weight")])
def test_bad_settings_are_refused(top_k, weight, needle):
    v = Vocabulary.build([["red"]])
    with pytest.raises(ConfigError, match=needle):
        UnseenWords(v, "x.txt", top_k=top_k, weight=weight)


@pytest.mark.parametrize("sets, needle", [(["data.unseen_top_k=0"], "unseen_top_k"),
                                          (["data.unseen_top_k=51"], "unseen_top_k"),
                                          (["data.unseen_weight=2.0"], "unseen_weight"),
                                          (["data.unseen_weight=0"], "unseen_weight"),
                                          (["data.unseen_words=''"], "unseen_words")])
def test_config_bounds(sets, needle):
    with pytest.raises(ConfigError, match=needle):
        resolve_config(None, sets)


def test_run_vocabulary_restores_the_recorded_mapping(vocab):
    v = run_vocabulary(vocab.words, vocab.tokenizer.spec, vocab.unseen.spec())
    assert v.bag(["crimson", "cat"]) == vocab.bag(["crimson", "cat"])
    assert run_vocabulary(vocab.words, vocab.tokenizer.spec, None).bag(["crimson"]) == {}


def test_a_missing_vector_file_is_a_one_line_error(tmp_path):
    from crossmedia.errors import UserError

    v = Vocabulary.build([["red"]])
    v.unseen = UnseenWords(v, str(tmp_path / "nope.txt"))
    with pytest.raises(UserError, match="nope.txt"):
        v.bag(["crimson"])


def test_concurrent_mapping_gives_the_same_weights(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    vectors = {**VECTORS, **{f"w{i}": [1.0, i / 40, (i % 7) / 7] for i in range(40)}}
    path = write_vectors(tmp_path / "vec.txt", vectors)
    v = Vocabulary.build([["red", "cat"], ["orange", "dog"]])
    v.unseen = UnseenWords(v, str(path), top_k=2)
    queries = [[f"w{i}", "crimson"] for i in range(40)]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(v.bag, queries))
    fresh = Vocabulary.build([["red", "cat"], ["orange", "dog"]])
    fresh.unseen = UnseenWords(fresh, str(path), top_k=2)
    assert got == [fresh.bag(q) for q in queries]
