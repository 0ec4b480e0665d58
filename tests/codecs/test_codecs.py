"""Every codec: state round trip, the metrics scorer and every search engine rank alike, and each
codec's own convention (one bit packing, AQD = explicit reconstruction, SQD, PQ ↔ FAISS IndexPQ)."""

import numpy as np
import pytest

from crossmedia.codecs import (CompositeCodec, FloatCosineCodec, FloatIPCodec, PQCodec, SignCodec, codec_from_state,
                               list_codecs)
from crossmedia.errors import UserError
from crossmedia.metrics import pack_bits


def _x(n=400, d=16, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(8, d)).astype(np.float32)
    return (centers[rng.integers(0, 8, n)] + 0.1 * rng.normal(size=(n, d))).astype(np.float32)


@pytest.fixture(scope="module")
def fitted():
    x = _x()
    return x, {
        "sign": SignCodec(16, 16),
        "sign_projected": SignCodec(8, 16).fit(x),
        "composite": CompositeCodec(16, 16, normalize=True, n_iter=3).fit(x, seed=0),
        "pq": PQCodec(16, 16, normalize=True, kmeans_iters=5).fit(x, seed=0),
        "float_ip": FloatIPCodec(16),
        "float_cosine": FloatCosineCodec(16),
    }


def test_registry():
    assert list_codecs() == ["composite", "float_cosine", "float_ip", "pq", "sign"]
    with pytest.raises(UserError, match="unknown"):
        codec_from_state("nope", {})


@pytest.mark.parametrize("key", ["sign", "sign_projected", "composite", "pq", "float_ip", "float_cosine"])
def test_state_round_trip_scorer_and_engines_agree(key, fitted):
    x, codecs = fitted
    c = codecs[key]
    db, q = x[:300], x[300:310]
    codes = c.encode(db)
    again = codec_from_state(c.name, c.state())
    assert np.array_equal(again.encode(db), codes) and again.spec()["codec"] == c.name
    dist = np.asarray(c.scorer(q, codes).distances(0, len(q)), dtype=np.float64)
    np.testing.assert_allclose(np.asarray(again.scorer(q, codes).distances(0, len(q))), dist, rtol=1e-6, atol=1e-6)
    for name in c.engines:
        eng = c.engine(codes, name)
        assert eng.ntotal == len(db)
        np.testing.assert_allclose(eng.scores(q), -dist, rtol=1e-4, atol=1e-4, err_msg=name)
        s, rows = eng.search(q, 5)
        np.testing.assert_allclose(s, np.sort(-dist, axis=1)[:, ::-1][:, :5], rtol=1e-4, atol=1e-4)
    assert c.code_bytes == {"sign": 2, "sign_projected": 1, "composite": 2, "pq": 2, "float_ip": 64,
                            "float_cosine": 64}[key]


def test_sign_codes_are_the_one_bit_packing(fitted):
    x, codecs = fitted
    assert np.array_equal(codecs["sign"].encode(x[:5]), pack_bits(x[:5]))
    assert codecs["sign"].encode(np.zeros((1, 16), np.float32)).tolist() == [[255, 255]]  # x >= 0 -> 1
    p = codecs["sign_projected"]
    assert p.needs_fit and p.spec()["bits"] == 8 and "projection" in p.spec()
    with pytest.raises(UserError, match="fit"):
        SignCodec(8, 16).encode(x[:2])
    with pytest.raises(UserError, match="bits"):
        SignCodec(32, 16)


def test_composite_aqd_and_sqd_are_reconstruction_inner_products(fitted):
    x, codecs = fitted
    c = CompositeCodec.from_codebooks(codecs["composite"].codebooks, normalize=False)
    codes = c.encode(x[:50])
    recon = c.quantizer.decode(codes)
    q = x[300:307]
    np.testing.assert_allclose(-np.asarray(c.scorer(q, codes).distances(0, 7)), q @ recon.T, rtol=1e-5, atol=1e-5)
    qc = c.encode(q)
    np.testing.assert_allclose(-np.asarray(c.symmetric_scorer(qc, codes).distances(0, 7)),
                               c.quantizer.decode(qc) @ recon.T, rtol=1e-4, atol=1e-4)
    with pytest.raises(UserError, match="fewer than K"):
        CompositeCodec(16, 16).fit(x[:100])


def test_pq_reconstruction_and_faiss_index_pq(fitted):
    faiss = pytest.importorskip("faiss")
    x, codecs = fitted
    c = codecs["pq"]
    codes = c.encode(x[:300])
    index = c.faiss_index(codes)
    assert isinstance(index, faiss.IndexPQ) and index.ntotal == 300 and index.pq.M == 2
    recon = index.reconstruct_n(0, 300)
    xn = x[:300] / np.linalg.norm(x[:300], axis=1, keepdims=True)
    assert np.mean(np.sum((xn - recon) ** 2, 1)) < 0.5 * np.mean(np.sum(xn ** 2, 1))  # a real quantizer
    np.testing.assert_allclose(recon, c.codebooks[0][codes[:, 0]] + c.codebooks[1][codes[:, 1]], atol=1e-6)
    with pytest.raises(UserError, match="divisible"):
        PQCodec(24, 16)
